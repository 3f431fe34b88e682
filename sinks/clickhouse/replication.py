"""One rewrite turns a migration's table into a replicated one, so every migration file (and
the BI databases' tables) stays one text for a single server and for replicas.

With several replicas, ``ENGINE = ReplacingMergeTree(version)`` becomes
``ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/<db>/<table>',
'{replica}', version)``: the same table on every replica, coordinated by ZooKeeper under a
path unique to the database and table, each replica named by its own ``{replica}`` macro
(written by ``baocao stack up``, docs/clickhouse.md "Replicas"). A single server keeps the
engine as written.
"""

from __future__ import annotations

import re

__all__ = ["created_table", "replicated_engine", "zookeeper_path"]

#: ``CREATE TABLE [IF NOT EXISTS] [db.]name`` (names back-quoted or bare).
_CREATE_TABLE = re.compile(
    r"^\s*CREATE\s+(?:MATERIALIZED\s+VIEW|TABLE)\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"(?:(?P<db>`[^`]+`|\w+)\.)?(?P<table>`[^`]+`|\w+)",
    re.IGNORECASE,
)
#: A MergeTree-family engine of ClickHouse's (engine names are case-sensitive), with or
#: without its parameter list; never one that is Replicated already.
_ENGINE = re.compile(
    r"\bENGINE\s*=\s*"
    r"(?P<engine>(?:Replacing|Summing|Aggregating|Collapsing|VersionedCollapsing|Graphite)?"
    r"MergeTree)\b(?:\s*\((?P<args>[^()]*)\)|(?P<nested>\s*\())?",
    re.IGNORECASE,
)


def zookeeper_path(database: str, table: str) -> str:
    """Where the replicas of ``database.table`` meet in ZooKeeper (``{shard}`` is a macro)."""
    return f"/clickhouse/tables/{{shard}}/{database}/{table}"


def created_table(statement: str, *, database: str) -> tuple[str, str] | None:
    """(database, table) that ``statement`` creates, or None for any other statement."""
    create = _CREATE_TABLE.match(statement)
    if create is None:
        return None
    return (_unquote(create["db"]) if create["db"] else database, _unquote(create["table"]))


def replicated_engine(statement: str, *, database: str) -> str:
    """``statement`` with its MergeTree-family engine made Replicated; any other statement
    (a view, an ALTER, an engine that is not MergeTree's) unchanged.

    ``database`` is the one a table without ``db.`` in its name is created in. Raises
    ValueError for an engine whose parameters hold parentheses (none of ours do).
    """
    created = created_table(statement, database=database)
    if created is None:
        return statement
    owner, table = created

    def replace(engine: re.Match[str]) -> str:
        if engine["nested"]:
            raise ValueError(
                f"cannot make {table}'s engine replicated: its parameters hold parentheses;"
                " write its Replicated engine in the migration"
            )
        args = (engine["args"] or "").strip()
        path = zookeeper_path(owner, table).replace("'", "\\'")
        parameters = ", ".join(part for part in (f"'{path}'", "'{replica}'", args) if part)
        return f"ENGINE = Replicated{engine['engine']}({parameters})"

    return _ENGINE.sub(replace, statement, count=1)


def _unquote(name: str) -> str:
    return name[1:-1] if name.startswith("`") else name
