"""Per-province databases for ClickHouse 18.16, which has neither row policies nor CREATE USER.

Rule: a province login reaches only ``baocao_pNN``, and nothing in ``baocao_pNN`` reads the
main database: its tables are copies fed with its province's rows only, its views the main
views re-pointed at them (docs/bi-access.md, path 1). :func:`plan_marts` returns only the DDL
that changes something, so running ``baocao bi apply`` again is a no-op.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from baocao.app.bi.access import AccessPlan, relation_filter
from baocao.app.bi.catalog import Relation
from baocao.app.bi.exceptions import BiApplyError
from baocao.sinks.clickhouse.replication import zookeeper_path

__all__ = [
    "PUBLIC_TABLES",
    "Mart",
    "feed_name",
    "mart_of",
    "plan_marts",
    "point_at",
    "references",
    "snapshot_select",
]

logger = logging.getLogger(__name__)

#: Tables without a province column that the province views read and that hold nothing of any
#: province: the indicator catalogue, the announced reporting periods, and the administrative
#: map's pre-2025 units, crosswalk and exemptions (public reference data). Any other table
#: without a province column (e.g. ``sink_poison_messages``, raw payloads of every province)
#: is never copied; a province view that needs one is an error of apply, not a silent leak.
PUBLIC_TABLES = frozenset(
    {
        "indicators",
        "reporting_periods",
        "legacy_communes",
        "commune_lineage",
        "reporting_exemptions",
    }
)


def feed_name(code: str, table: str) -> str:
    """The materialized view that copies province ``code``'s rows of ``table``."""
    return f"p{code}__{table}"


def references(create_query: str, database: str) -> set[str]:
    """Names of ``database``'s relations a stored CREATE query reads (itself excluded)."""
    pattern = re.compile(rf"(?<![\w`.]){re.escape(database)}\.`?(\w+)`?")
    names = pattern.findall(create_query)
    return set(names[1:]) if names else set()


def point_at(create_query: str, source: str, target: str) -> str:
    """A stored CREATE query of ``source`` with every table name moved to ``target``."""
    return re.sub(rf"(?<![\w`.]){re.escape(source)}\.", f"{target}.", create_query)


@dataclass(frozen=True, slots=True)
class Mart:
    """What every province database holds, derived from the main database's schema."""

    #: Tables the sink writes, kept current by materialized views.
    feeds: tuple[Relation, ...]
    #: Reference tables, copied (and refreshed) by apply.
    snapshots: tuple[Relation, ...]
    #: The BI views with a province column and the views they read, dependencies first.
    views: tuple[Relation, ...]

    def published(self) -> tuple[str, ...]:
        return tuple(sorted(v.name for v in self.views if v.per_province))


def mart_of(plan: AccessPlan, source: Sequence[Relation]) -> Mart:
    """Which tables and views a province database needs for the BI views of ``source``."""
    by_name = {relation.name: relation for relation in source}
    wanted = [r for r in source if r.is_view and r.per_province]
    views: dict[str, Relation] = {}
    tables: dict[str, Relation] = {}

    def visit(relation: Relation, path: tuple[str, ...]) -> None:
        if relation.name in views or relation.name in tables:
            return
        if relation.is_view:
            for name in sorted(references(relation.create_query, plan.database)):
                if name in path:
                    raise BiApplyError(f"views read each other in a cycle: {(*path, name)}")
                if name not in by_name:
                    raise BiApplyError(f"view {relation.name!r} reads {name!r}, which is missing")
                visit(by_name[name], (*path, name))
            views[relation.name] = relation
            return
        if not relation.per_province and relation.name not in PUBLIC_TABLES:
            raise BiApplyError(
                f"a province view reads {relation.name!r}, which has no province_code column"
                " and is not public reference data; a province login must not read it"
            )
        if relation.is_materialized_view:
            raise BiApplyError(f"a province view reads materialized view {relation.name!r}")
        tables[relation.name] = relation

    for relation in wanted:
        visit(relation, (relation.name,))
    ordered = sorted(tables.values(), key=lambda r: r.name)
    return Mart(
        feeds=tuple(t for t in ordered if _written_by_the_sink(t)),
        snapshots=tuple(t for t in ordered if not _written_by_the_sink(t)),
        views=tuple(views.values()),
    )


def _written_by_the_sink(table: Relation) -> bool:
    """The sink's tables are ReplacingMergeTrees (Replicated ones on replicas)."""
    return table.engine.removeprefix("Replicated").startswith("Replacing")


def snapshot_select(plan: AccessPlan, code: str, table: Relation) -> str:
    """The rows of a main table that province ``code``'s copy holds."""
    columns = ", ".join(f"`{c}`" for c in table.stored_columns)
    where = f" WHERE {relation_filter(code)}" if table.per_province else ""
    return f"SELECT {columns} FROM `{plan.database}`.`{table.name}`{where}"


def plan_marts(
    plan: AccessPlan,
    source: Sequence[Relation],
    existing: Mapping[str, Sequence[Relation]],
) -> list[str]:
    """The DDL that makes the feed and province databases match the BI views of ``source``.

    ``existing`` maps a database name to its relations now (a missing key: no such database).
    """
    mart = mart_of(plan, source)
    statements: list[str] = []
    if plan.retired_relay_database in existing:
        statements.append(f"DROP DATABASE IF EXISTS `{plan.retired_relay_database}`")
    feed_db = plan.feed_database
    feeds_now = {r.name: r for r in existing.get(feed_db, ())}
    if feed_db not in existing:
        statements.append(f"CREATE DATABASE IF NOT EXISTS `{feed_db}`")
    wanted_feeds = {feed_name(code, t.name) for code in plan.provinces for t in mart.feeds}
    for name in sorted(set(feeds_now) - wanted_feeds):
        statements.append(f"DROP TABLE IF EXISTS `{feed_db}`.`{name}`")
    for code in plan.provinces:
        statements += _province(plan, code, mart, existing, feeds_now)
    return statements


def _province(
    plan: AccessPlan,
    code: str,
    mart: Mart,
    existing: Mapping[str, Sequence[Relation]],
    feeds_now: Mapping[str, Relation],
) -> list[str]:
    database = plan.province_database(code)
    statements: list[str] = []
    if database not in existing:
        statements.append(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    have = {relation.name: relation for relation in existing.get(database, ())}
    wanted = {t.name for t in (*mart.feeds, *mart.snapshots)} | {v.name for v in mart.views}
    for name in sorted(set(have) - wanted):
        statements.append(f"DROP TABLE IF EXISTS `{database}`.`{name}`")
    for table in mart.feeds:
        feed = feed_name(code, table.name)
        copy = have.get(table.name)
        current = feeds_now.get(feed)
        if (
            _same_table(copy, table, engine=_copy_engine(plan, database, table))
            and current is not None
            and current.column_names == table.stored_columns
        ):
            continue
        statements += [
            f"DROP TABLE IF EXISTS `{plan.feed_database}`.`{feed}`",
            f"DROP TABLE IF EXISTS `{database}`.`{table.name}`",
            _create_copy(plan, database, table, engine=_copy_engine(plan, database, table)),
            f"CREATE MATERIALIZED VIEW `{plan.feed_database}`.`{feed}`"
            f" TO `{database}`.`{table.name}` AS {snapshot_select(plan, code, table)}",
            _copy(plan, code, table),
        ]
    for table in mart.snapshots:
        if _same_table(have.get(table.name), table, engine=_local_engine(table)):
            continue  # its rows are compared and refreshed by apply
        statements += [
            f"DROP TABLE IF EXISTS `{database}`.`{table.name}`",
            _create_copy(plan, database, table, engine=_local_engine(table)),
            _copy(plan, code, table),
        ]
    for view in mart.views:
        create = point_at(view.create_query, plan.database, database)
        current = have.get(view.name)
        if current is not None and current.is_view and current.create_query == create:
            continue
        if current is not None:
            statements.append(f"DROP TABLE IF EXISTS `{database}`.`{view.name}`")
        statements.append(create)
    return statements


def _copy(plan: AccessPlan, code: str, table: Relation) -> str:
    columns = ", ".join(f"`{c}`" for c in table.stored_columns)
    database = plan.province_database(code)
    return (
        f"INSERT INTO `{database}`.`{table.name}` ({columns}) {snapshot_select(plan, code, table)}"
    )


#: ``ReplicatedXMergeTree('<path>', '<replica>'[, `` at the start of an ``engine_full``.
_REPLICATED = re.compile(r"^Replicated(\w+)\('[^']*', '[^']*'(?:, )?")


def _same_table(copy: Relation | None, table: Relation, *, engine: str | None = None) -> bool:
    return (
        copy is not None
        and copy.engine_full == (engine or table.engine_full)
        and copy.columns == table.columns
    )


def _copy_engine(plan: AccessPlan, database: str, table: Relation) -> str:
    """The engine of province ``database``'s copy of ``table``: the same as the table's, but a
    replicated table's copy is a replicated table of its own, under its own ZooKeeper path.

    Why replicated: a materialized view runs only on the replica that took the insert, so
    its province rows reach the other replicas through the copy's own replication."""
    return table.engine_full.replace(
        zookeeper_path(plan.database, table.name), zookeeper_path(database, table.name)
    )


def _local_engine(table: Relation) -> str:
    """The engine of a province's snapshot of ``table`` (refreshed by ``bi apply`` on each
    server from that server's rows): the table's own, without replication."""
    local = _REPLICATED.sub(r"\1(", table.engine_full, count=1)
    return local.replace("MergeTree()", "MergeTree", 1)


def _create_copy(plan: AccessPlan, database: str, table: Relation, *, engine: str) -> str:
    """``CREATE TABLE ... AS`` the main table: its columns, and its engine unless ``engine``
    differs (a single server's copies are created exactly as before replicas existed)."""
    create = f"CREATE TABLE `{database}`.`{table.name}` AS `{plan.database}`.`{table.name}`"
    return create if engine == table.engine_full else f"{create} ENGINE = {engine}"
