"""Per-province databases for ClickHouse 18.16, which has neither row policies nor CREATE USER.

What 18.16 offers is database-level access (``allow_databases``) and the rule that a view is
read with the *querying* user's rights (a view cannot lend access to the tables it reads). So a
province user gets a database of its own, ``baocao_p01``, that holds nothing but its rows:

``baocao_bi_relay.p01__<view>``
    ``SELECT * FROM baocao.<view> WHERE province_code = '01'``, one per BI view with a
    ``province_code`` column. Readable only by the internal relay user.
``baocao_p01.<view>``
    a ``Distributed`` table over the relay cluster (one shard: this server, logging in as
    ``baocao_bi_relay``) reading ``baocao_bi_relay.p01__<view>``. Same name and columns as the
    BI view, so a dashboard written for ``baocao`` runs unchanged on ``baocao_p01``.

The province user may read only ``baocao_p01``: ``baocao`` (the raw tables and the other
provinces' rows) and the relay database answer "Access denied". Its queries, whatever their
``WHERE``, reach only the filtered views, because the filter sits on the far side of the relay.
Nothing is copied: every query reads the live views.

:func:`plan_marts` compares the wanted objects with what exists and returns only the DDL that
changes something, so running ``baocao bi apply`` again is a no-op and a BI user is not cut
off while nothing changed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from baocao.app.bi.access import RELAY_CLUSTER, AccessPlan, relation_filter
from baocao.app.bi.catalog import Relation

__all__ = ["distributed_engine", "plan_marts", "relay_view_name"]

logger = logging.getLogger(__name__)


def relay_view_name(code: str, view: str) -> str:
    """The filtered view of province ``code`` for BI view ``view`` in the relay database."""
    return f"p{code}__{view}"


def distributed_engine(plan: AccessPlan, code: str, view: str) -> str:
    """``engine_full`` of a province table, as 18.16 prints it in system.tables."""
    return f"Distributed({RELAY_CLUSTER}, {plan.relay_database}, {relay_view_name(code, view)})"


def plan_marts(
    plan: AccessPlan,
    source: Sequence[Relation],
    existing: Mapping[str, Sequence[Relation]],
) -> list[str]:
    """The DDL that makes the relay and province databases match the BI views of ``source``.

    ``existing`` maps a database name to its relations now (a missing key: no such database).
    Only views with a ``province_code`` column are published; tables never are.
    """
    views = [relation for relation in source if relation.is_view and relation.per_province]
    statements: list[str] = []
    relay = plan.relay_database
    statements += _sync_database(
        relay,
        existing.get(relay),
        wanted={
            name: (view.columns, "View", _relay_view_sql(plan, name, view, code))
            for code in plan.provinces
            for view in views
            for name in [relay_view_name(code, view.name)]
        },
    )
    for code in plan.provinces:
        database = plan.province_database(code)
        statements += _sync_database(
            database,
            existing.get(database),
            wanted={
                view.name: (
                    view.columns,
                    distributed_engine(plan, code, view.name),
                    _distributed_sql(database, view, distributed_engine(plan, code, view.name)),
                )
                for view in views
            },
        )
    return statements


def _sync_database(
    database: str,
    current: Sequence[Relation] | None,
    *,
    wanted: Mapping[str, tuple[tuple[tuple[str, str], ...], str, str]],
) -> list[str]:
    """DDL for one database: wanted maps a name to (columns, engine_full or "View", CREATE)."""
    statements = [] if current is not None else [f"CREATE DATABASE IF NOT EXISTS `{database}`"]
    have = {relation.name: relation for relation in current or ()}
    for name in sorted(set(have) - set(wanted)):
        statements.append(f"DROP TABLE IF EXISTS `{database}`.`{name}`")
    for name, (columns, engine, create) in wanted.items():
        relation = have.get(name)
        if relation is not None:
            same_engine = (
                relation.engine == "View" if engine == "View" else relation.engine_full == engine
            )
            if same_engine and relation.columns == columns:
                continue
            statements.append(f"DROP TABLE IF EXISTS `{database}`.`{name}`")
        statements.append(create)
    return statements


def _relay_view_sql(plan: AccessPlan, name: str, view: Relation, code: str) -> str:
    columns = ", ".join(f"`{column}`" for column in view.column_names)
    return (
        f"CREATE VIEW `{plan.relay_database}`.`{name}` AS SELECT {columns}"
        f" FROM `{plan.database}`.`{view.name}` WHERE {relation_filter(code)}"
    )


def _distributed_sql(database: str, view: Relation, engine: str) -> str:
    columns = ", ".join(f"`{name}` {type_}" for name, type_ in view.columns)
    return f"CREATE TABLE `{database}`.`{view.name}` ({columns}) ENGINE = {engine}"
