"""Put a rebuilt database in the live one's place, and keep the BI logins working.

ClickHouse 18.16 has neither ``RENAME DATABASE`` nor ``EXCHANGE TABLES``, so the swap moves
table by table, in one ``RENAME TABLE`` statement (not atomic: a query in between may find
a table missing for a moment):

1. the live database's tables go to a backup database (``<live>_before_<UTC time>``), the
   rebuilt database's tables take their names in the live one;
2. the live database's views stay where they are: 18.16 stores a view's query with
   qualified names (``baocao.commune_reports``), resolved at each query, so they now read
   the rebuilt tables; the rebuilt database's views (which name the rebuilt database) are
   dropped with it;
3. the BI province databases and their feeds (materialized views over the live tables, see
   docs/bi-access.md) are dropped and made again by ``baocao bi apply``'s code, which
   copies the rebuilt rows: the province logins read their province again, with the same
   passwords and database names.

A current ClickHouse (Atomic databases) swaps each pair atomically with ``EXCHANGE TABLES``
(:mod:`.statements`, checked in chdb by ``scripts/check_current_clickhouse.py``), drops the
rebuilt database's views and renames it, holding the old tables, to the backup name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from clickhouse_driver import Client

from baocao.app.bi.access import AccessPlan
from baocao.app.bi.apply import ServerKind, apply_access, kind_of_version
from baocao.app.bi.catalog import server_version
from baocao.app.bi.credentials import credentials_path, ensure_credentials, environment_passwords
from baocao.app.rebuild.exceptions import RebuildError
from baocao.app.rebuild.statements import (
    backup_name,
    current_swap_statements,
    exchange_statements,
    rename_statement,
)
from baocao.core.clickhouse import TRANSIENT_ERRORS, connect, describe_error, quote_identifier
from baocao.core.reference import load_reference
from baocao.core.settings import Settings

__all__ = [
    "Swap",
    "SwapPlan",
    "backup_name",
    "exchange_statements",
    "plan_swap",
    "rename_statement",
    "swap_databases",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Swap:
    """What a swap did."""

    live: str
    backup: str
    tables: tuple[str, ...]
    statements: tuple[str, ...]
    bi_provinces: int  # province databases made again (0: no BI access on this database)


def _tables(client: Client, database: str) -> dict[str, str]:
    rows = client.execute(
        "SELECT name, engine FROM system.tables WHERE database = %(db)s", {"db": database}
    )
    return {name: engine for name, engine in rows}


def _databases(client: Client) -> set[str]:
    return {name for (name,) in client.execute("SELECT name FROM system.databases")}


@dataclass(frozen=True, slots=True)
class SwapPlan:
    """The statements of a swap, read from the server before anything runs."""

    live: str
    backup: str
    kind: ServerKind
    tables: tuple[str, ...]
    statements: tuple[str, ...]
    #: The BI access to make again after the statements (None: the database has none).
    bi: AccessPlan | None


def plan_swap(
    settings: Settings,
    *,
    rebuilt: str,
    backup: str | None = None,
    kind: ServerKind | None = None,
) -> SwapPlan:
    """What :func:`swap_databases` would run on this server (``kind`` overrides the
    server's own: ``MODERN`` shows a current ClickHouse's statements). Changes nothing."""
    live = settings.clickhouse.database
    if rebuilt == live:
        raise RebuildError(f"the rebuilt database cannot be the live one ({live})")
    client = connect(settings.clickhouse, use_database=False)
    try:
        return _plan(client, live, rebuilt, backup, kind)
    except TRANSIENT_ERRORS as exc:
        raise RebuildError(f"swap of {rebuilt} into {live}: {describe_error(exc)}") from exc
    finally:
        client.disconnect()


def swap_databases(settings: Settings, *, rebuilt: str, backup: str | None = None) -> Swap:
    """Swap ``rebuilt`` into the place of ``settings.clickhouse.database`` (see the module
    docstring); the live tables are kept in ``backup``. Raises :class:`RebuildError`."""
    plan = plan_swap(settings, rebuilt=rebuilt, backup=backup)
    client = connect(settings.clickhouse, use_database=False)
    try:
        for statement in plan.statements:
            logger.info("swap: %s", statement)
            try:
                client.execute(statement)
            except TRANSIENT_ERRORS as exc:
                raise RebuildError(
                    f"swap of {rebuilt} into {plan.live} stopped at `{statement[:200]}`:"
                    f" {describe_error(exc)}"
                ) from exc
    finally:
        client.disconnect()
    provinces = 0
    if plan.bi is not None:
        credentials = ensure_credentials(
            credentials_path(settings.stack),
            plan.bi.all_users(),
            overrides=environment_passwords(settings.bi),
        )
        apply_access(settings.clickhouse, plan.bi, credentials)
        provinces = len(plan.bi.provinces)
    return Swap(plan.live, plan.backup, plan.tables, plan.statements, provinces)


def _plan(
    client: Client, live: str, rebuilt: str, backup: str | None, kind: ServerKind | None
) -> SwapPlan:
    backup = backup or backup_name(live, datetime.now(UTC))
    databases = _databases(client)
    for name, wanted in ((live, True), (rebuilt, True), (backup, False)):
        if (name in databases) != wanted:
            raise RebuildError(f"database {name} {'is missing' if wanted else 'exists already'}")
    kind = kind or kind_of_version(server_version(client))
    new_tables = {n: e for n, e in _tables(client, rebuilt).items() if e != "View"}
    live_tables = {n: e for n, e in _tables(client, live).items() if e != "View"}
    if set(new_tables) != set(live_tables):
        raise RebuildError(
            f"{rebuilt} and {live} do not hold the same tables"
            f" (only in {rebuilt}: {sorted(set(new_tables) - set(live_tables))},"
            f" only in {live}: {sorted(set(live_tables) - set(new_tables))}): migrate both"
        )
    tables = tuple(sorted(new_tables))
    q = quote_identifier
    statements: list[str] = []
    bi = AccessPlan.for_reference(live, load_reference())
    has_bi = bi.feed_database in databases
    if kind is ServerKind.LEGACY:
        statements += [
            f"CREATE DATABASE {q(backup)}",
            rename_statement(live, rebuilt, backup, tables),
        ]
        # What is left of the rebuilt database: its views, which read the rebuilt database.
        statements += [
            f"DROP TABLE IF EXISTS {q(rebuilt)}.{q(view)}"
            for view, engine in sorted(_tables(client, rebuilt).items())
            if engine == "View"
        ]
        statements.append(f"DROP DATABASE IF EXISTS {q(rebuilt)}")
        if has_bi:
            # Made again afterwards from the rebuilt rows; a feed left behind would copy into
            # a province table that no longer exists, and fail the sink's inserts.
            statements.append(f"DROP DATABASE IF EXISTS {q(bi.feed_database)}")
            statements += [
                f"DROP DATABASE IF EXISTS {q(bi.province_database(code))}" for code in bi.provinces
            ]
    else:
        views = [v for v, engine in sorted(_tables(client, rebuilt).items()) if engine == "View"]
        statements += current_swap_statements(live, rebuilt, backup, tables, views)
    return SwapPlan(
        live,
        backup,
        kind,
        tables,
        tuple(statements),
        bi if has_bi and kind is ServerKind.LEGACY else None,
    )
