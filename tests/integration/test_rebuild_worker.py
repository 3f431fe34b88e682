"""``baocao rebuild worker`` against the real Kafka: a live worker of the test's own decides a
mixed month; the rebuild recomputes every decision from the inputs alone, into outputs of its
own, and its verdict is ``equal``; its final figures equal the independent recomputation and
the live outputs are untouched."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from support.cli import run, start
from support.recompute import expected_latest, expected_province_rows, mixed_input, simulated_month
from support.settings import environment

from baocao.app.rebuild.decisions import read_decisions
from baocao.app.rebuild.replay import end_offsets
from baocao.core.settings import Settings
from baocao.core.topics import Topics

TODAY = datetime.now(timezone(timedelta(hours=7))).date()
SECOND_PERIOD = f"{TODAY:%Y-%m}"
PERIOD = f"{TODAY.replace(day=1) - timedelta(days=1):%Y-%m}"


def test_a_rebuilt_worker_decides_as_the_live_one(test_settings: Settings, tmp_path: Path) -> None:
    env = environment(test_settings, BAOCAO_LOG_LEVEL="INFO")
    live = start("worker", env=env, log_path=tmp_path / "worker.log")
    try:
        lines = simulated_month(env, tmp_path / "month.jsonl", communes=150, seed=5, period=PERIOD)
        published, refused = mixed_input(lines, second_period=SECOND_PERIOD)
        source = tmp_path / "reports.jsonl"
        source.write_text("".join(json.dumps(line) + "\n" for line in published))
        run("publish", "--file", str(source), "--skip-validation", env=env, check=True)
        topics = Topics(test_settings.kafka.topic_prefix)

        app_id = f"{test_settings.worker.app_id}-rebuild"
        done = run(
            "rebuild",
            "worker",
            "--app-id",
            app_id,
            "--data-dir",
            str(tmp_path / "rebuild"),
            "--verbose",
            env=env,
            timeout=600,
        )
        print(done.stdout, done.stderr[-3000:])
        live.assert_running()
    finally:
        live.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    verdict = done.stdout.strip().splitlines()[-1]
    assert verdict.startswith(f"equal: the rebuild {app_id} decided as the live worker")
    assert f"its outputs: {topics.prefix}.{app_id}.*" in done.stdout

    rebuilt = topics.rebuilt_by(app_id)
    decisions = read_decisions(test_settings.kafka, rebuilt)
    # The final figures equal the independent recomputation.
    refused_ids = {line["report_id"] for line in refused}
    latest = expected_latest([ln for ln in published if ln["report_id"] not in refused_ids])
    expected = expected_province_rows(latest)
    figures = decisions["figures"]
    assert set(figures) == set(expected)
    for key, (value, reported) in expected.items():
        got, got_reported = figures[key]
        assert got_reported == reported, key
        assert (got is None) == (value is None), key
        assert value is None or math.isclose(got, value, rel_tol=1e-9), key
    # Accepted: one latest revision per commune and period, at least; refused with reasons.
    assert {str(r) for r, _ in decisions["accepted"]} >= {
        line["report_id"] for line in latest.values()
    }
    refused_reports = {str(report_id) for report_id, _reasons in decisions["refused"].values()}
    assert refused_ids <= refused_reports
    # The rebuild wrote its own topics only: had it written the live ones, they would hold
    # every acceptance twice.
    live_accepted = sum(end_offsets(test_settings, [topics.accepted_reports]).values())
    rebuilt_accepted = sum(end_offsets(test_settings, [rebuilt.accepted_reports]).values())
    assert live_accepted == rebuilt_accepted >= len(decisions["accepted"]) > 0


@pytest.fixture(autouse=True)
def _drop_topics(test_settings: Settings) -> object:
    from support.gateway import drop_topics

    yield
    drop_topics(test_settings, also=(f"{test_settings.worker.app_id}-",))


def test_a_listed_rebuild_runs_as_the_worker_principal_on_the_grants_of_stack_up(
    test_settings: Settings, tmp_path: Path
) -> None:
    """No Kafka principal in the environment, as on the local stack: the command reads as
    the stack's admin, its child worker runs as ``worker`` on the grants ``stack up`` gives a
    rebuild app id listed in BAOCAO_WORKER_REBUILD_APP_IDS (literal per output topic)."""
    from baocao.app.stack.kafka_access import (
        PipelineNames,
        apply_kafka_access,
        remove_kafka_access,
    )

    app_id = f"{test_settings.worker.app_id}-r"
    settings = test_settings.model_copy(
        update={"worker": test_settings.worker.model_copy(update={"rebuild_app_ids": app_id})}
    )
    from baocao.core.principals import Principal, load_credential

    # The child resolves its principal from the stack home: the worker's credential is there.
    assert load_credential(settings.stack, Principal.WORKER) is not None
    names = PipelineNames.of(settings)
    apply_kafka_access(settings.kafka, names)
    try:
        env = environment(settings, BAOCAO_LOG_LEVEL="INFO")
        live = start("worker", env=env, log_path=tmp_path / "worker.log")
        try:
            lines = simulated_month(env, tmp_path / "m.jsonl", communes=40, seed=9, period=PERIOD)
            source = tmp_path / "reports.jsonl"
            source.write_text("".join(json.dumps(line) + "\n" for line in lines))
            run("publish", "--file", str(source), env=env, check=True)
            as_stack = {
                k: v
                for k, v in env.items()
                if not k.startswith(("BAOCAO_KAFKA_SASL_", "BAOCAO_KAFKA_SECURITY_PROTOCOL"))
            }
            folder = tmp_path / "rebuild"
            done = run(
                "rebuild", "worker", "--app-id", app_id, "--data-dir", str(folder), env=as_stack
            )
        finally:
            live.stop()
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.strip().splitlines()[-1].startswith(f"equal: the rebuild {app_id}")
        child_log = (folder / "worker.log").read_text()
        assert "Authorization" not in child_log, child_log[-3000:]
        unlisted = run(
            "rebuild",
            "worker",
            "--app-id",
            f"{app_id}x",
            env={**as_stack, "BAOCAO_WORKER_REBUILD_APP_IDS": app_id},
        )
        assert unlisted.returncode == 2
        assert "is not in BAOCAO_WORKER_REBUILD_APP_IDS" in unlisted.stderr
    finally:
        remove_kafka_access(settings.kafka, names)
