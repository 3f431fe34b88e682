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
(:func:`exchange_statements`); ``RENAME DATABASE`` would move the views' targets with it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from clickhouse_driver import Client

from baocao.app.bi.access import AccessPlan
from baocao.app.bi.apply import ServerKind, apply_access, kind_of_version
from baocao.app.bi.catalog import server_version
from baocao.app.bi.credentials import credentials_path, ensure_credentials, environment_passwords
from baocao.app.rebuild.exceptions import RebuildError
from baocao.core.clickhouse import TRANSIENT_ERRORS, connect, describe_error, quote_identifier
from baocao.core.reference import load_reference
from baocao.core.settings import Settings

__all__ = ["Swap", "backup_name", "exchange_statements", "rename_statement", "swap_databases"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Swap:
    """What a swap did."""

    live: str
    backup: str
    tables: tuple[str, ...]
    statements: tuple[str, ...]
    bi_provinces: int  # province databases made again (0: no BI access on this database)


def backup_name(live: str, now: datetime) -> str:
    return f"{live}_before_{now:%Y%m%d%H%M%S}"


def rename_statement(live: str, rebuilt: str, backup: str, tables: Sequence[str]) -> str:
    """ClickHouse 18.16: one ``RENAME TABLE`` that moves each live table to ``backup`` and
    the rebuilt one into its place."""
    q = quote_identifier
    moves = [
        move
        for table in tables
        for move in (
            f"{q(live)}.{q(table)} TO {q(backup)}.{q(table)}",
            f"{q(rebuilt)}.{q(table)} TO {q(live)}.{q(table)}",
        )
    ]
    return "RENAME TABLE " + ", ".join(moves)


def exchange_statements(live: str, rebuilt: str, tables: Sequence[str]) -> list[str]:
    """A current ClickHouse (Atomic databases, 20.1+): each pair swapped atomically; the
    rebuilt database then holds the old tables, as the backup."""
    q = quote_identifier
    return [f"EXCHANGE TABLES {q(live)}.{q(t)} AND {q(rebuilt)}.{q(t)}" for t in tables]


def _tables(client: Client, database: str) -> dict[str, str]:
    rows = client.execute(
        "SELECT name, engine FROM system.tables WHERE database = %(db)s", {"db": database}
    )
    return {name: engine for name, engine in rows}


def _databases(client: Client) -> set[str]:
    return {name for (name,) in client.execute("SELECT name FROM system.databases")}


def swap_databases(settings: Settings, *, rebuilt: str, backup: str | None = None) -> Swap:
    """Swap ``rebuilt`` into the place of ``settings.clickhouse.database`` (see the module
    docstring); the live tables are kept in ``backup``. Raises :class:`RebuildError`."""
    live = settings.clickhouse.database
    if rebuilt == live:
        raise RebuildError(f"the rebuilt database cannot be the live one ({live})")
    client = connect(settings.clickhouse, use_database=False)
    try:
        try:
            return _swap(client, settings, live, rebuilt, backup)
        except TRANSIENT_ERRORS as exc:
            raise RebuildError(f"swap of {rebuilt} into {live}: {describe_error(exc)}") from exc
    finally:
        client.disconnect()


def _swap(client: Client, settings: Settings, live: str, rebuilt: str, backup: str | None) -> Swap:
    backup = backup or backup_name(live, datetime.now(UTC))
    databases = _databases(client)
    for name, wanted in ((live, True), (rebuilt, True), (backup, False)):
        if (name in databases) != wanted:
            raise RebuildError(f"database {name} {'is missing' if wanted else 'exists already'}")
    kind = kind_of_version(server_version(client))
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
    else:
        statements += exchange_statements(live, rebuilt, tables)
        statements.append(f"RENAME DATABASE {q(rebuilt)} TO {q(backup)}")
    plan = AccessPlan.for_reference(live, load_reference())
    has_bi = plan.feed_database in databases
    if has_bi and kind is ServerKind.LEGACY:
        # Made again below from the rebuilt rows; a feed left behind would copy into a
        # province table that no longer exists, and fail the sink's inserts.
        statements.append(f"DROP DATABASE IF EXISTS {q(plan.feed_database)}")
        statements += [
            f"DROP DATABASE IF EXISTS {q(plan.province_database(code))}" for code in plan.provinces
        ]
    for statement in statements:
        logger.info("swap: %s", statement)
        client.execute(statement)
    provinces = 0
    if has_bi:
        credentials = ensure_credentials(
            credentials_path(settings.stack),
            plan.all_users(),
            overrides=environment_passwords(settings.bi),
        )
        apply_access(settings.clickhouse, plan, credentials)
        provinces = len(plan.provinces)
    return Swap(live, backup, tables, tuple(statements), provinces)
