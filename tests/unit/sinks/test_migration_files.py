"""The packaged migrations: naming, order, checksums, statement splitting, portability."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sinks.clickhouse.migrate import Migration, load_migrations
from sinks.clickhouse.sql import split_statements
from sinks.exceptions import MigrationFileError


def test_split_statements_ignores_semicolons_in_strings_identifiers_and_comments() -> None:
    sql = """
    -- header; with a semicolon
    CREATE TABLE a (x String DEFAULT ';') ENGINE = MergeTree ORDER BY x; /* block; comment */
    SELECT 'it''s; fine', "odd;name", `other;name`, 'back\\'slash;' FROM a;
    ;
    -- trailing comment only
    """
    assert split_statements(sql) == [
        "CREATE TABLE a (x String DEFAULT ';') ENGINE = MergeTree ORDER BY x",
        "SELECT 'it''s; fine', \"odd;name\", `other;name`, 'back\\'slash;' FROM a",
    ]


def test_split_statements_keeps_a_last_statement_without_semicolon() -> None:
    assert split_statements("SELECT 1;\nSELECT 2 -- two\n") == ["SELECT 1", "SELECT 2"]
    assert split_statements("  \n-- nothing\n") == []


def test_packaged_migrations_are_numbered_from_one_without_gaps() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert [m.file_name for m in migrations][:6] == [
        "0001_reference_tables.sql",
        "0002_commune_reports.sql",
        "0003_province_indicator_values.sql",
        "0004_rejections.sql",
        "0005_sink_poison_messages.sql",
        "0006_bi_views.sql",
    ]
    for migration in migrations:
        assert migration.statements(), migration.file_name


def test_migrations_can_be_rerun_after_a_partial_failure() -> None:
    """ClickHouse DDL is not transactional: every CREATE must be IF NOT EXISTS."""
    for migration in load_migrations():
        for statement in migration.statements():
            if statement.upper().startswith("CREATE"):
                assert re.match(
                    r"CREATE (TABLE|VIEW|MATERIALIZED VIEW) IF NOT EXISTS ", statement
                ), f"{migration.file_name}: {statement.splitlines()[0]}"


def test_migrations_run_on_clickhouse_18_16_and_current_releases() -> None:
    """No feature newer than 18.16, and no database name: the client selects it."""
    for migration in load_migrations():
        sql = "\n".join(migration.statements())
        for newer in ("LowCardinality", "DateTime64", "ROW POLICY", "Map(", "JSON", "UUID"):
            assert newer not in sql, f"{migration.file_name} uses {newer}"
        assert "{database}" not in sql
        assert "baocao." not in sql


def test_checksum_ignores_line_endings_but_not_content() -> None:
    unix = Migration(1, "a", "CREATE TABLE IF NOT EXISTS a (x String)\n")
    windows = Migration(1, "a", "CREATE TABLE IF NOT EXISTS a (x String)\r\n")
    changed = Migration(1, "a", "CREATE TABLE IF NOT EXISTS a (y String)\n")
    assert unix.checksum == windows.checksum
    assert unix.checksum != changed.checksum
    assert len(unix.checksum) == 64


def test_badly_named_or_duplicate_migrations_are_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_first.sql").write_text("SELECT 1")
    (tmp_path / "README.md").write_text("not a migration")
    assert [m.name for m in load_migrations(tmp_path)] == ["first"]

    (tmp_path / "0001_again.sql").write_text("SELECT 2")
    with pytest.raises(MigrationFileError, match="share version 1"):
        load_migrations(tmp_path)

    (tmp_path / "0001_again.sql").unlink()
    (tmp_path / "2_Second.sql").write_text("SELECT 2")
    with pytest.raises(MigrationFileError, match=r"'2_Second\.sql' is not named"):
        load_migrations(tmp_path)
