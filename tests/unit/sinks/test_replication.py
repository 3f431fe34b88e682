"""The one rewrite that makes a migration's MergeTree-family table replicated."""

from __future__ import annotations

import re

import pytest

from baocao.sinks.clickhouse.migrate import load_migrations
from baocao.sinks.clickhouse.replication import replicated_engine

PATH = "'/clickhouse/tables/{shard}/baocao/t'"


@pytest.mark.parametrize(
    ("engine", "expected"),
    [
        ("MergeTree", f"ReplicatedMergeTree({PATH}, '{{replica}}')"),
        ("MergeTree()", f"ReplicatedMergeTree({PATH}, '{{replica}}')"),
        ("ReplacingMergeTree", f"ReplicatedReplacingMergeTree({PATH}, '{{replica}}')"),
        (
            "ReplacingMergeTree(version)",
            f"ReplicatedReplacingMergeTree({PATH}, '{{replica}}', version)",
        ),
        (
            "ReplacingMergeTree( announced_at )",
            f"ReplicatedReplacingMergeTree({PATH}, '{{replica}}', announced_at)",
        ),
    ],
)
def test_each_engine_form_becomes_replicated_with_its_parameters_kept(
    engine: str, expected: str
) -> None:
    statement = f"CREATE TABLE IF NOT EXISTS t\n(\n    x UInt8\n)\nENGINE = {engine}\nORDER BY x"
    rewritten = replicated_engine(statement, database="baocao")
    assert rewritten == statement.replace(f"ENGINE = {engine}", f"ENGINE = {expected}")


def test_a_qualified_name_gives_its_own_database_in_the_path() -> None:
    statement = "CREATE TABLE `baocao_p79`.`feed` (x UInt8) ENGINE = MergeTree ORDER BY x"
    assert replicated_engine(statement, database="baocao") == (
        "CREATE TABLE `baocao_p79`.`feed` (x UInt8) ENGINE = ReplicatedMergeTree("
        "'/clickhouse/tables/{shard}/baocao_p79/feed', '{replica}') ORDER BY x"
    )


def test_parameters_with_parentheses_are_refused_not_guessed() -> None:
    with pytest.raises(ValueError, match="parentheses"):
        replicated_engine(
            "CREATE TABLE t (a UInt8, b UInt8) ENGINE = SummingMergeTree((a, b)) ORDER BY a",
            database="baocao",
        )


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE VIEW v AS SELECT 1",
        "ALTER TABLE commune_reports ADD COLUMN x UInt8",
        "CREATE TABLE t (x UInt8) ENGINE = ReplicatedMergeTree('/p', '{replica}') ORDER BY x",
        "CREATE TABLE t (x UInt8) ENGINE = Memory",
    ],
)
def test_other_statements_are_left_as_written(statement: str) -> None:
    assert replicated_engine(statement, database="baocao") == statement


def test_every_table_of_the_migrations_becomes_replicated_under_its_own_path() -> None:
    tables = 0
    for migration in load_migrations():
        for statement in migration.statements():
            rewritten = replicated_engine(statement, database="db1")
            engine = re.search(r"ENGINE\s*=\s*(\w+)", statement)
            if engine is None or not statement.upper().startswith("CREATE TABLE"):
                assert rewritten == statement
                continue
            tables += 1
            name = re.match(r"CREATE TABLE IF NOT EXISTS (\w+)", statement)
            assert name is not None, statement
            assert f"ENGINE = Replicated{engine[1]}('/clickhouse/tables/{{shard}}/db1/" in rewritten
            assert f"/db1/{name[1]}', '{{replica}}'" in rewritten
            # nothing else of the statement changes
            assert re.sub(r"Replicated|'[^']*', '\{replica\}'(, )?", "", rewritten).replace(
                "()", ""
            ) == statement.replace("()", "")
    assert tables == sum(m.sql.count("\nENGINE = ") for m in load_migrations())
    assert tables >= 17
