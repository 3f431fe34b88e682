"""``baocao compact`` on the real ClickHouse: a closed year of a fact table, and of a province's
BI database, ends in one part holding what ``FINAL`` showed; the current year is left alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from clickhouse_driver import Client
from support import records
from support.dashboard import insert, migrated
from typer.testing import CliRunner

from baocao.app.cli import app
from baocao.app.compact import compact_databases
from baocao.core.settings import Settings
from baocao.sinks.clickhouse.rows.tables import PROVINCE_INDICATOR_VALUES

THIS_YEAR = datetime.now(UTC).year
CLOSED = f"{THIS_YEAR - 2}-03"
OPEN = f"{THIS_YEAR}-01"
FIGURES = "SELECT period, indicator_code, value FROM province_indicator_values"


def _parts(client: Client, database: str, table: str, year: int) -> int:
    [(parts,)] = client.execute(
        "SELECT count() FROM system.parts WHERE active AND database = %(d)s"
        " AND table = %(t)s AND partition = %(p)s",
        {"d": database, "t": table, "p": str(year)},
    )
    return int(parts)


@pytest.fixture
def versions(test_settings: Settings, clickhouse_db: str) -> Iterator[Client]:
    """Three versions of a figure in a closed year and in the current one, each in its own
    part, and a province database whose copy holds two parts of the closed year."""
    province_db = f"{clickhouse_db}_p01"
    with migrated(test_settings) as client:
        # No background merge may do compaction's work first (started again in the test).
        client.execute(f"SYSTEM STOP MERGES `{clickhouse_db}`.province_indicator_values")
        for period in (CLOSED, OPEN):
            for version in (1, 2, 3):
                insert(
                    client,
                    PROVINCE_INDICATOR_VALUES,
                    records.figure("01", period, "tthc_received", version, 10.0 * version),
                )
        client.execute(f"CREATE DATABASE IF NOT EXISTS `{province_db}`")
        client.execute(
            f"CREATE TABLE `{province_db}`.province_indicator_values"
            f" AS `{clickhouse_db}`.province_indicator_values"
        )
        client.execute(f"SYSTEM STOP MERGES `{province_db}`.province_indicator_values")
        for _ in range(2):
            client.execute(
                f"INSERT INTO `{province_db}`.province_indicator_values"
                f" SELECT * FROM `{clickhouse_db}`.province_indicator_values"
                " WHERE period = %(p)s",
                {"p": CLOSED},
            )
        for database in (clickhouse_db, province_db):
            client.execute(f"SYSTEM START MERGES `{database}`.province_indicator_values")
        try:
            yield client
        finally:
            client.execute(f"DROP DATABASE IF EXISTS `{province_db}`")


def test_a_closed_year_ends_in_one_part_with_what_final_showed(
    test_settings: Settings, clickhouse_db: str, versions: Client
) -> None:
    before = sorted(versions.execute(f"{FIGURES} FINAL"))
    assert before == [(CLOSED, "tthc_received", 30.0), (OPEN, "tthc_received", 30.0)]

    result = compact_databases(test_settings.clickhouse, before_year=THIS_YEAR)

    assert result.databases == [clickhouse_db, f"{clickhouse_db}_p01"]
    merged = {(p.database, p.table, p.year) for p in result.partitions}
    closed_year = str(THIS_YEAR - 2)
    assert {
        (clickhouse_db, "province_indicator_values", closed_year),
        (f"{clickhouse_db}_p01", "province_indicator_values", closed_year),
    } <= merged
    assert all(int(partition.year) < THIS_YEAR for partition in result.partitions)
    for database in result.databases:
        assert _parts(versions, database, "province_indicator_values", THIS_YEAR - 2) == 1
    # One row per figure is left in the closed year: the newest, without FINAL.
    assert versions.execute(f"{FIGURES} WHERE period = %(p)s", {"p": CLOSED}) == [
        (CLOSED, "tthc_received", 30.0)
    ]
    assert sorted(versions.execute(f"{FIGURES} FINAL")) == before


def test_the_command_lists_and_merges_and_a_second_run_finds_nothing(
    test_settings: Settings, clickhouse_db: str, versions: Client
) -> None:
    environment = {"BAOCAO_CLICKHOUSE_DATABASE": clickhouse_db}
    runner = CliRunner()
    first = runner.invoke(app, ["compact"], env=environment)
    assert first.exit_code == 0, first.output
    assert "in 2 databases" in first.output.splitlines()[-1]
    second = runner.invoke(app, ["compact", "--dry-run"], env=environment)
    assert second.exit_code == 0, second.output
    assert second.output.splitlines()[-1] == (
        f"0 partitions before {THIS_YEAR} to merge, in 2 databases"
    )
