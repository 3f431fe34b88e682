"""The packaged migrations: naming, order, checksums, statement splitting, portability."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from baocao.sinks.clickhouse.migrate import Migration, load_migrations
from baocao.sinks.clickhouse.sql import ColumnAddition, added_columns, split_statements
from baocao.sinks.exceptions import MigrationFileError


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


def test_packaged_migrations_are_numbered_in_ranges_without_gaps() -> None:
    """0001.. are the pipeline's schema, without gaps; 0030..0049 are reserved for the
    legacy-units work (its branch started while others were adding 0015 and up), and 0050 and
    up for the gateway's, so work on all of them can proceed at once without two files
    sharing a number."""
    migrations = load_migrations()
    versions = [m.version for m in migrations]
    pipeline = [v for v in versions if v < 30]
    assert pipeline == list(range(1, len(pipeline) + 1))
    legacy = [v for v in versions if 30 <= v < 50]
    assert legacy == list(range(30, 30 + len(legacy)))
    assert [m.file_name for m in migrations][:12] == [
        "0001_reference_tables.sql",
        "0002_commune_reports.sql",
        "0003_province_indicator_values.sql",
        "0004_rejections.sql",
        "0005_sink_poison_messages.sql",
        "0006_bi_views.sql",
        "0007_indicators.sql",
        "0008_reporting_semantics_columns.sql",
        "0009_reporting_tables.sql",
        "0010_figure_views.sql",
        "0011_completeness_views.sql",
        "0012_history_warning_approval_views.sql",
    ]
    for migration in migrations:
        assert migration.statements(), migration.file_name


def test_migrations_can_be_rerun_after_a_partial_failure() -> None:
    """ClickHouse DDL is not transactional, so every statement must be safe to run twice:
    CREATE ... IF NOT EXISTS; DROP TABLE IF EXISTS only of a view the same migration
    creates again (never of data); ALTER only to add columns (the runner skips an ALTER whose
    columns exist, as 18.16 has no ADD COLUMN IF NOT EXISTS); never CREATE OR REPLACE."""
    for migration in load_migrations():
        statements = migration.statements()
        for index, statement in enumerate(statements):
            where = f"{migration.file_name}: {statement.splitlines()[0]}"
            keyword = statement.split(None, 1)[0].upper()
            if keyword == "CREATE":
                assert re.match(
                    r"CREATE (TABLE|VIEW|MATERIALIZED VIEW) IF NOT EXISTS ", statement
                ), where
            elif keyword == "DROP":
                match = re.fullmatch(r"DROP TABLE IF EXISTS (\w+)", statement)
                assert match is not None, where
                recreated = f"CREATE VIEW IF NOT EXISTS {match[1]} AS"
                assert any(s.startswith(recreated) for s in statements[index + 1 :]), where
            elif keyword == "ALTER":
                assert added_columns(statement) is not None, where
            else:
                raise AssertionError(f"unexpected statement in {where}")


def test_added_columns_recognises_only_pure_column_additions() -> None:
    statement = (
        "ALTER TABLE commune_reports\n"
        "    ADD COLUMN report_type String DEFAULT 'a,b',\n"
        "    ADD COLUMN IF NOT EXISTS `odd name` Array(Tuple(UInt8, String)) DEFAULT [(1, ',')],\n"
        "    ADD COLUMN on_time UInt8 DEFAULT if(1, 0, 1),\n"
        "    ADD COLUMN codes Array(String) DEFAULT ['a', 'b']"
    )
    assert added_columns(statement) == ColumnAddition(
        "commune_reports", ("report_type", "odd name", "on_time", "codes")
    )
    assert added_columns("alter table `t` add column x UInt8") == ColumnAddition("t", ("x",))
    assert added_columns("ALTER TABLE t ADD COLUMN a UInt8, MODIFY COLUMN b UInt16") is None
    assert added_columns("ALTER TABLE t DROP COLUMN a") is None
    assert added_columns("CREATE TABLE IF NOT EXISTS t (a UInt8) ENGINE = Log") is None


def test_migrations_run_on_clickhouse_18_16_and_current_releases() -> None:
    """No feature newer than 18.16, and no database name: the client selects it."""
    for migration in load_migrations():
        sql = "\n".join(migration.statements())
        for newer in (
            "LowCardinality",
            "DateTime64",
            "ROW POLICY",
            "Map(",
            "JSON",
            "UUID",
            "ADD COLUMN IF NOT EXISTS",  # 18.16 has no IF NOT EXISTS on ADD COLUMN
            "OR REPLACE",
            "ANTI JOIN",  # 18.16 has no semi or anti joins: NOT IN on a tuple instead
        ):
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
