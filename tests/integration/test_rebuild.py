"""``baocao rebuild clickhouse`` / ``compare`` / ``swap`` against the real servers.

A pipeline of the module's own (worker and sink as subprocesses, topics under its own
prefix on the shared Kafka, a ClickHouse 18.16 of its own with the stack's logins and the BI
province logins) lands a mixed month; the rebuild replays the topics into a new database
while that pipeline keeps running, and the commands are run as an operator runs them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from support.bi import DATABASE, BiServer
from support.cli import run, start
from support.rebuild import private_clickhouse
from support.recompute import (
    expected_latest,
    expected_province_rows,
    mixed_input,
    simulated_month,
)
from support.settings import environment, isolated
from support.wait import eventually

from baocao.core.settings import Settings

TODAY = datetime.now(timezone(timedelta(hours=7))).date()
SECOND_PERIOD = f"{TODAY:%Y-%m}"
PERIOD = f"{TODAY.replace(day=1) - timedelta(days=1):%Y-%m}"
REBUILT = "bitest_rebuilt"


class Pipeline:
    def __init__(self, server: BiServer, settings: Settings, env: dict[str, str]) -> None:
        self.server = server
        self.settings = settings
        self.env = env
        self.published: list[dict[str, Any]] = []
        self.tmp = Path()
        self.expected: dict[tuple[str, str, str], tuple[float | None, int]] = {}

    def query(self, sql: str, *, database: str = DATABASE) -> list[tuple[Any, ...]]:
        return self.server.query("baocao_admin", sql, database=database)

    def province_rows(self, database: str) -> dict[tuple[str, str, str], tuple[Any, int]]:
        rows = self.query(
            "SELECT province_code, period, indicator_code, value, communes_reported"
            f" FROM `{database}`.province_indicators"
        )
        return {(p, per, c): (v, n) for p, per, c, v, n in rows}

    def matches_recomputation(self, database: str) -> bool:
        actual = self.province_rows(database)
        assert set(actual) == set(self.expected), f"{len(actual)} rows, want {len(self.expected)}"
        for key, (value, reported) in self.expected.items():
            got_value, got_reported = actual[key]
            assert got_reported == reported, key
            assert (value is None) == (got_value is None), key
            if value is not None:
                assert got_value == pytest.approx(value, rel=1e-9), key
        return True


@pytest.fixture(scope="module")
def pipeline(servers: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    tmp = tmp_path_factory.mktemp("rebuild")
    name = f"t{int(time.time() * 1000) % 10**10}"
    with private_clickhouse(tmp / "home", isolated(servers, name, tmp)) as (server, settings):
        env = environment(settings, BAOCAO_LOG_LEVEL="INFO")
        run("migrate", env=env, check=True)
        run("bi", "apply", env=env, check=True)
        processes = [start(p, env=env, log_path=tmp / f"{p}.log") for p in ("worker", "sink")]
        try:
            pipeline = Pipeline(server, settings, env)
            lines = simulated_month(env, tmp / "month.jsonl", communes=150, seed=3, period=PERIOD)
            published, refused = mixed_input(lines, second_period=SECOND_PERIOD)
            source = tmp / "reports.jsonl"
            source.write_text("".join(json.dumps(line) + "\n" for line in published))
            run("publish", "--file", str(source), "--skip-validation", env=env, check=True)
            pipeline.published, pipeline.tmp = published, tmp
            refused_ids = {line["report_id"] for line in refused}
            pipeline.expected = expected_province_rows(
                expected_latest([ln for ln in published if ln["report_id"] not in refused_ids])
            )
            eventually(
                lambda: pipeline.matches_recomputation(DATABASE),
                what="the live views to match the recomputation",
                timeout=180,
                interval=1.0,
            )
            yield pipeline
        finally:
            for process in processes:
                process.stop()


def test_rebuild_equals_the_live_database(pipeline: Pipeline) -> None:
    time.sleep(1.1)  # the rebuilt rows' ingested_at is later than every live row's
    started = datetime.now(UTC).replace(microsecond=0)
    done = run("rebuild", "clickhouse", "--database", REBUILT, "--verbose", env=pipeline.env)
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    verdict = done.stdout.strip().splitlines()[-1]
    assert verdict.startswith("equal: ") and "of bitest and bitest_rebuilt" in verdict
    assert "province_indicators" in done.stdout and "DIFFERENT" not in done.stdout
    assert pipeline.matches_recomputation(REBUILT)
    (oldest,) = pipeline.query(f"SELECT min(ingested_at) FROM {REBUILT}.commune_reports")[0]
    assert oldest >= started, "the rebuilt rows were written by the rebuild"


def test_a_corrupted_row_makes_the_verdict_different(pipeline: Pipeline) -> None:
    corrupt = "bitest_corrupt"
    assert run("rebuild", "clickhouse", "--database", corrupt, env=pipeline.env).returncode == 0
    try:
        # One figure changed: a row with a higher version wins FINAL and the views.
        client = pipeline.server.client(database=corrupt)
        try:
            rows, types = client.execute(
                "SELECT * FROM province_indicator_values FINAL WHERE value IS NOT NULL"
                " ORDER BY province_code, period, indicator_code LIMIT 1",
                with_column_types=True,
            )
            row = dict(zip([name for name, _ in types], rows[0], strict=True))
            row.update(value=row["value"] + 1, version=row["version"] + 1)
            del row["ingested_at"]
            client.execute(
                f"INSERT INTO province_indicator_values ({', '.join(row)}) VALUES", [row]
            )
        finally:
            client.disconnect()
        done = run("rebuild", "compare", "--database", corrupt, env=pipeline.env)
        print(done.stdout)
        assert done.returncode == 1, done.stdout + done.stderr
        verdict = done.stdout.strip().splitlines()[-1]
        assert verdict.startswith("different: ")
        assert "province_indicator_values (2 rows differ)" in verdict
        assert "province_indicators (2 rows differ)" in verdict
    finally:
        pipeline.query(f"DROP DATABASE IF EXISTS {corrupt}")


def test_swap_serves_the_rebuilt_rows_and_keeps_the_province_logins(pipeline: Pipeline) -> None:
    (rebuilt_at,) = pipeline.query(f"SELECT min(ingested_at) FROM {REBUILT}.commune_reports")[0]
    # What it will run, and what a current ClickHouse would: printed, nothing run.
    legacy = run("rebuild", "swap", "--database", REBUILT, "--print-sql", env=pipeline.env)
    assert legacy.returncode == 0, legacy.stdout + legacy.stderr
    # One RENAME TABLE moves every table (in name order) out and the rebuilt ones in.
    assert legacy.stdout.count("RENAME TABLE ") == 1
    assert "`bitest`.`approvals` TO `bitest_before_" in legacy.stdout
    assert "`bitest`.`commune_reports` TO `bitest_before_" in legacy.stdout
    assert f"`{REBUILT}`.`commune_reports` TO `bitest`.`commune_reports`" in legacy.stdout
    assert "DROP DATABASE IF EXISTS `bitest_p01`;" in legacy.stdout
    assert "-- then `baocao bi apply` for bitest (34 provinces)" in legacy.stdout
    current = run(
        "rebuild",
        "swap",
        "--database",
        REBUILT,
        "--print-sql",
        "--current-clickhouse",
        env=pipeline.env,
    )
    assert current.returncode == 0, current.stdout + current.stderr
    assert f"EXCHANGE TABLES `bitest`.`commune_reports` AND `{REBUILT}`.`commune_reports`;" in (
        current.stdout
    )
    assert f"RENAME DATABASE `{REBUILT}` TO `bitest_before_" in current.stdout
    assert REBUILT in {n for (n,) in pipeline.query("SELECT name FROM system.databases")}

    done = run("rebuild", "swap", "--database", REBUILT, env=pipeline.env)
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "swapped: bitest now holds the rebuilt" in done.stdout
    (backup,) = [
        name
        for (name,) in pipeline.query("SELECT name FROM system.databases")
        if name.startswith("bitest_before_")
    ]
    assert REBUILT not in {n for (n,) in pipeline.query("SELECT name FROM system.databases")}
    # The live name serves the rebuilt rows; the old ones are kept in the backup.
    (live_oldest,) = pipeline.query("SELECT min(ingested_at) FROM bitest.commune_reports")[0]
    (old_oldest,) = pipeline.query(f"SELECT min(ingested_at) FROM {backup}.commune_reports")[0]
    assert live_oldest == rebuilt_at > old_oldest
    assert pipeline.matches_recomputation(DATABASE)
    # A province login reads its province, from the rebuilt rows.
    mine = pipeline.server.query(
        "baocao_p01", "SELECT province_code, period, indicator_code, value FROM province_indicators"
    )
    want = {k: v for k, (v, _) in pipeline.expected.items() if k[0] == "01"}
    assert want, "the month must have figures of province 01"
    assert {(p, per, c): v for p, per, c, v in mine} == pytest.approx(want)
    (copied_at,) = pipeline.server.query(
        "baocao_p01", "SELECT min(ingested_at) FROM commune_reports"
    )[0]
    assert copied_at >= rebuilt_at
    # And the live pipeline writes on into the swapped tables.
    late = next(
        dict(line, report_id=str(uuid.uuid4()), period=SECOND_PERIOD)
        for line in pipeline.published[15:]  # simulated, valid, not in the second period yet
        if line["revision"] == 1
    )
    late_file = pipeline.tmp / "late.jsonl"
    late_file.write_text(json.dumps(late) + "\n")
    run("publish", "--file", str(late_file), env=pipeline.env, check=True)
    landed = f"SELECT count() FROM commune_reports WHERE report_id = '{late['report_id']}'"
    eventually(
        lambda: pipeline.query(landed) == [(1,)],
        what="the live sink to write a new report into the swapped table",
        timeout=60,
    )
