"""What a commune learns from ``GET /v1/reports/{id}``: reports submitted over real HTTP to
``baocao gateway``, processed by the real ``baocao worker`` and ``baocao sink``, and their
status read back from ClickHouse: pending, accepted, superseded, rejected with the stream's
reasons, and an exact resend recognised as a duplicate."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.cli import Background, run, start
from support.gateway import RunningGateway, drop_topics, report_document, running_gateway
from support.settings import environment
from support.wait import eventually

from baocao.core.models import LOCAL_TIMEZONE
from baocao.core.settings import Settings

#: The current month: a period that is open (not past its lock) whenever the test runs.
PERIOD = datetime.now(LOCAL_TIMEZONE).strftime("%Y-%m")


@pytest.fixture
def gateway(
    test_settings: Settings, tmp_path: Path, clickhouse_db: str
) -> Iterator[RunningGateway]:
    env = environment(test_settings)
    migrated = run("migrate", env=env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    with running_gateway(test_settings, tmp_path, rate_limit_per_second=0) as running:
        yield running
    drop_topics(test_settings)


@pytest.fixture
def start_pipeline(test_settings: Settings, tmp_path: Path) -> Iterator[Any]:
    """Starts the worker and the sink when called; stops them (logs printed) afterwards."""
    processes: list[Background] = []
    env = environment(test_settings, BAOCAO_LOG_LEVEL="INFO")

    def start_both() -> None:
        for name in ("worker", "sink"):
            processes.append(start(name, env=env, log_path=tmp_path / f"{name}.log"))

    yield start_both
    for process in processes:
        process.stop()


def wait_for_states(
    client: httpx.Client, expected: dict[str, str], *, timeout: float = 180.0
) -> dict[str, dict[str, Any]]:
    """Poll the status of each report until all have their expected state."""

    def answers() -> dict[str, dict[str, Any]]:
        got: dict[str, dict[str, Any]] = {}
        for report_id in expected:
            answer = client.get(f"/v1/reports/{report_id}")
            assert answer.status_code == 200, answer.text
            got[report_id] = answer.json()
        states = {report_id: a["state"] for report_id, a in got.items()}
        assert states == expected, f"states {states}, expected {expected}"
        return got

    return eventually(answers, what="the reports' states", timeout=timeout, interval=1.0)


def test_the_status_follows_the_report_through_the_pipeline(
    gateway: RunningGateway, start_pipeline: Any
) -> None:
    token = gateway.issue(commune="00070")
    first = report_document(period=PERIOD, revision=1, tthc_received=10, tthc_online=1)
    correction = report_document(period=PERIOD, revision=2, tthc_received=12, tthc_online=2)
    conflicting = report_document(period=PERIOD, revision=2, tthc_received=99, tthc_online=9)
    stale = report_document(period=PERIOD, revision=1, tthc_received=10, tthc_online=1)
    resend = {**correction, "report_id": report_document()["report_id"]}
    ids = {
        name: doc["report_id"]
        for name, doc in {
            "first": first,
            "correction": correction,
            "conflicting": conflicting,
            "stale": stale,
            "resend": resend,
        }.items()
    }
    with gateway.client(token) as client:
        assert client.post("/v1/reports", json=first).status_code == 202
        pending = client.get(f"/v1/reports/{ids['first']}").json()
        assert pending["state"] == "pending"
        assert pending["received_at"] and pending["published_at"]
        assert pending["latest_revision"] is None

        start_pipeline()
        wait_for_states(client, {ids["first"]: "accepted"})

        for document in (correction, conflicting, stale, resend):
            answer = client.post("/v1/reports", json=document)
            assert answer.status_code == 202, answer.text
        answers = wait_for_states(
            client,
            {
                ids["first"]: "superseded",
                ids["correction"]: "accepted",
                ids["conflicting"]: "rejected",
                ids["stale"]: "rejected",
                ids["resend"]: "accepted",
            },
        )
        listing = client.get("/v1/communes/00070/reports", params={"period": PERIOD}).json()

    assert answers[ids["first"]]["superseded_by"] == {
        "report_id": ids["correction"],
        "revision": 2,
    }
    assert answers[ids["correction"]]["latest_revision"] == 2
    assert answers[ids["resend"]]["duplicate_of"] == ids["correction"]
    conflict_reasons = answers[ids["conflicting"]]["reasons"]
    assert [r["code"] for r in conflict_reasons] == ["conflicting_revision"]
    assert conflict_reasons[0]["message_vi"]
    assert [r["code"] for r in answers[ids["stale"]]["reasons"]] == ["stale_revision"]
    assert {r["report_id"]: r["state"] for r in listing["reports"]} == {
        ids["first"]: "superseded",
        ids["correction"]: "accepted",
        ids["conflicting"]: "rejected",
        ids["stale"]: "rejected",
        ids["resend"]: "accepted",
    }
    assert listing["reports"][0]["report_id"] == ids["resend"]  # newest first
