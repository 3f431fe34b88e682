"""``baocao bi apply``: make the configured ClickHouse serve the BI users, by its own mechanism.

* ClickHouse 18.16 (and any release before SQL access management, < 20.4): the users come
  from the configuration ``baocao stack up`` wrote; this builds the province databases, with
  their own copies of their province's rows (:mod:`baocao.app.bi.legacy`).
* A current ClickHouse (21 and later): runs :func:`baocao.app.bi.modern.grant_statements`.

Run it after ``baocao migrate`` (a new view reaches the province users only then).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from clickhouse_driver import Client

from baocao.app.bi.access import AccessPlan
from baocao.app.bi.catalog import Relation, describe_database, server_version
from baocao.app.bi.credentials import Credentials
from baocao.app.bi.exceptions import BiApplyError, UnsupportedServerError
from baocao.app.bi.legacy import mart_of, plan_marts, snapshot_select
from baocao.app.bi.modern import grant_statements
from baocao.core.clickhouse import TRANSIENT_ERRORS, connect, describe_error, replicas
from baocao.core.settings import ClickHouseSettings

__all__ = ["ApplyResult", "ServerKind", "apply_access", "detect_kind", "kind_of_version"]

logger = logging.getLogger(__name__)


class ServerKind(enum.Enum):
    """Which privilege mechanism a server has."""

    #: users.xml + allow_databases: province databases over a relay (ClickHouse < 20.4).
    LEGACY = "legacy"
    #: CREATE USER / ROW POLICY / GRANT (ClickHouse 21 and later).
    MODERN = "modern"


@dataclass(frozen=True, slots=True)
class ApplyResult:
    kind: ServerKind
    version: tuple[int, int]
    #: The statements that were run (none when everything was already in place on 18.16).
    statements: tuple[str, ...]
    #: The BI views with a province column, published to every province user.
    province_views: tuple[str, ...]


def kind_of_version(version: tuple[int, int]) -> ServerKind:
    if version < (20, 4):
        return ServerKind.LEGACY
    if version >= (21, 0):
        return ServerKind.MODERN
    raise UnsupportedServerError(
        f"ClickHouse {version[0]}.{version[1]} has an early form of SQL access management that"
        " baocao does not target; use 18.16 (the local stack) or 21 and later"
    )


def detect_kind(settings: ClickHouseSettings) -> tuple[ServerKind, tuple[int, int]]:
    """Ask the server its version."""
    client = connect(settings, use_database=False)
    try:
        version = server_version(client)
    except TRANSIENT_ERRORS as exc:
        raise BiApplyError(
            f"cannot reach ClickHouse at {settings.host}:{settings.port}: {describe_error(exc)}"
        ) from exc
    finally:
        client.disconnect()
    return kind_of_version(version), version


def apply_access(
    settings: ClickHouseSettings, plan: AccessPlan, credentials: Credentials
) -> ApplyResult:
    """Create or update every access object for ``plan`` on the server of ``settings``, and
    on each of its replicas (``alt_hosts``): users, databases and views are each server's
    own. The result is the first server's, with the statements run on all of them."""
    results = [_apply_on(server, plan, credentials) for server in replicas(settings)]
    statements = tuple(statement for result in results for statement in result.statements)
    first = results[0]
    return ApplyResult(first.kind, first.version, statements, first.province_views)


def _apply_on(
    settings: ClickHouseSettings, plan: AccessPlan, credentials: Credentials
) -> ApplyResult:
    client = connect(settings, use_database=False)
    try:
        try:
            version = server_version(client)
            kind = kind_of_version(version)
            source = describe_database(client, plan.database)
            if not source:
                raise BiApplyError(
                    f"database {plan.database!r} has no tables: run `baocao migrate` first"
                )
            if kind is ServerKind.LEGACY:
                statements = _legacy_statements(client, plan, source)
            else:
                statements = grant_statements(plan, source, credentials)
        except TRANSIENT_ERRORS as exc:
            raise BiApplyError(
                f"cannot read the schema of {plan.database!r}: {describe_error(exc)}"
            ) from exc
        _run(client, statements)
        if kind is ServerKind.LEGACY:
            statements = [*statements, *_refresh_snapshots(client, plan, source)]
    finally:
        client.disconnect()
    views = tuple(sorted(r.name for r in source if r.is_view and r.per_province))
    logger.info("BI access on %s (%s): %d statements", plan.database, kind.value, len(statements))
    return ApplyResult(kind, version, tuple(statements), views)


def _run(client: Client, statements: Sequence[str]) -> None:
    for statement in statements:
        try:
            client.execute(statement)
        except TRANSIENT_ERRORS as exc:
            raise BiApplyError(
                f"ClickHouse refused `{_redacted(statement)}`: {describe_error(exc)}"
            ) from exc


def _refresh_snapshots(client: Client, plan: AccessPlan, source: Sequence[Relation]) -> list[str]:
    """Reload a province's copy of a reference table whose rows differ from the main table's
    (``baocao migrate`` truncates and reloads those; a materialized view would not follow)."""
    statements: list[str] = []
    for table in mart_of(plan, source).snapshots:
        order = ", ".join(f"`{c}`" for c in table.stored_columns)
        for code in plan.provinces:
            database = plan.province_database(code)
            columns = ", ".join(f"`{c}`" for c in table.stored_columns)
            wanted = client.execute(f"{snapshot_select(plan, code, table)} ORDER BY {order}")
            held = client.execute(
                f"SELECT {columns} FROM `{database}`.`{table.name}` ORDER BY {order}"
            )
            if wanted == held:
                continue
            reload = [
                f"TRUNCATE TABLE `{database}`.`{table.name}`",
                f"INSERT INTO `{database}`.`{table.name}` ({columns})"
                f" {snapshot_select(plan, code, table)}",
            ]
            _run(client, reload)
            statements += reload
    return statements


def _legacy_statements(client: Client, plan: AccessPlan, source: Sequence[Relation]) -> list[str]:
    databases = [
        plan.feed_database,
        plan.retired_relay_database,
        *(plan.province_database(c) for c in plan.provinces),
    ]
    present = {
        name
        for (name,) in client.execute(
            "SELECT name FROM system.databases WHERE name IN %(names)s", {"names": tuple(databases)}
        )
    }
    existing = {name: describe_database(client, name) for name in databases if name in present}
    return plan_marts(plan, source, existing)


def _redacted(statement: str) -> str:
    """A statement for an error message, without the password digest."""
    head, separator, _ = statement.partition(" BY '")
    return head + (" BY '…'" if separator else "")
