"""A batch the step fails on is run again event by event: the failing event is set aside as
an ``internal_error`` dead letter, the others count exactly as in a batch without it, and a
bug that fails event after event stops the agent instead."""

from __future__ import annotations

import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

import baocao.streams.step as step_module
from baocao.core.avro import codec_for
from baocao.core.catalogue import load_catalogue
from baocao.core.instants import millis
from baocao.core.models import CommuneReport
from baocao.core.reference import load_reference
from baocao.core.settings import DeadlineSettings
from baocao.core.topics import Topics
from baocao.streams.agent import CrashPolicy, RollupAgent
from baocao.streams.exceptions import WorkerFatalError
from baocao.streams.metrics import WorkerMetrics
from baocao.streams.records import Outcome, SourceRecord, Tables
from baocao.streams.step import RollupStep

REFERENCE = load_reference()
TOPICS = Topics("unit")
HANOI = "01"
A, B, C = REFERENCE.communes_by_province[HANOI][:3]
NOW = datetime(2025, 9, 3, tzinfo=UTC)
REPORTS = codec_for("commune_report.v1")
POISON = 666.0


@dataclass
class FakeEvent:
    offset: int


class FakeStream:
    """What :func:`event_focus` touches on a Faust stream."""

    def __init__(self) -> None:
        self.current_event: Any = None

    def _set_current_event(self, event: Any) -> None:
        self.current_event = event


def record(offset: int, commune: str, received: float) -> SourceRecord:
    report = CommuneReport(
        report_id=str(uuid.uuid4()),
        commune_code=commune,
        province_code=HANOI,
        period="2025-08",
        revision=1,
        submitted_at=NOW,
        indicators={"tthc_received": received},
    )
    value = REPORTS.encode(report.to_avro())
    return SourceRecord(TOPICS.commune_reports, 0, offset, HANOI.encode(), value, millis(NOW))


def tables() -> Tables:
    return Tables(latest={}, versions={}, approvals={}, figures={})


def agent(metrics: WorkerMetrics, *, limit: int = 3) -> RollupAgent:
    step = RollupStep(
        topics=TOPICS,
        reference=REFERENCE,
        catalogue=load_catalogue(),
        deadlines=DeadlineSettings(),
        clock=lambda: NOW,
    )
    return RollupAgent(
        step=step,
        tables=tables(),
        app=None,  # type: ignore[arg-type]  # _run never touches Kafka
        metrics=metrics,
        batch_max=100,
        batch_within=0.1,
        crash=CrashPolicy(max_consecutive_internal_errors=limit, exit_watchdog=False),
    )


@pytest.fixture
def injected_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    real = step_module.validate_report

    def buggy(report: CommuneReport, *args: Any, **kwargs: Any) -> Any:
        if report.indicators.get("tthc_received") == POISON:
            raise ZeroDivisionError("injected")
        return real(report, *args, **kwargs)

    monkeypatch.setattr(step_module, "validate_report", buggy)


def run(rollup: RollupAgent, records: list[SourceRecord]) -> Any:
    events = [FakeEvent(r.offset) for r in records]
    stream = FakeStream()
    return rollup._run(stream, events, records, lambda _: nullcontext())  # type: ignore[arg-type]


@pytest.mark.usefixtures("injected_bug")
def test_the_failing_event_is_set_aside_and_the_others_count() -> None:
    metrics = WorkerMetrics(registry=CollectorRegistry())
    rollup = agent(metrics)
    records = [record(0, A, 10), record(1, B, POISON), record(2, C, 5)]

    result = run(rollup, records)

    assert result.outcomes == {Outcome.ACCEPTED: 2, Outcome.REJECTED: 1}
    dead = [o for o in result.outputs if o.topic == TOPICS.dead_letter]
    [letter] = [codec_for("rejected_report.v2").decode(o.value) for o in dead]
    assert letter["source_offset"] == 1
    assert [(r["code"], "ZeroDivisionError" in r["message_en"]) for r in letter["reasons"]] == [
        ("internal_error", True)
    ]
    figures = codec_for("province_indicator.v2")
    last = [
        figures.decode(o.value) for o in result.outputs if o.topic == TOPICS.province_indicators
    ][-1]
    assert (last["indicator_code"], last["value"], last["communes_reported"]) == (
        "tthc_received",
        15.0,
        2,
    )
    # Nothing is stored yet: the writes are staged, each with the event it belongs to.
    latest_writes = {w.key: w.anchor for w in result.writes if w.table == "latest"}
    assert latest_writes == {f"{A}|2025-08": 0, f"{C}|2025-08": 2}
    assert metrics.internal_errors.labels(exception="ZeroDivisionError")._value.get() == 1


@pytest.mark.usefixtures("injected_bug")
def test_a_batch_without_a_failing_event_is_not_rerun() -> None:
    rollup = agent(WorkerMetrics(registry=CollectorRegistry()))

    result = run(rollup, [record(0, A, 10), record(1, B, 20)])

    assert result.outcomes == {Outcome.ACCEPTED: 2}
    assert result.recomputed == 1  # one recomputation for the batch, not one per event


@pytest.mark.usefixtures("injected_bug")
def test_events_failing_one_after_another_stop_the_agent() -> None:
    rollup = agent(WorkerMetrics(registry=CollectorRegistry()), limit=3)
    records = [record(i, c, POISON) for i, c in enumerate((A, B, C))]

    with pytest.raises(WorkerFatalError, match="3 events in a row failed"):
        run(rollup, records)


@pytest.mark.usefixtures("injected_bug")
def test_a_success_in_between_resets_the_count() -> None:
    rollup = agent(WorkerMetrics(registry=CollectorRegistry()), limit=2)
    records = [record(0, A, POISON), record(1, B, 1), record(2, C, POISON)]

    result = run(rollup, records)

    assert result.outcomes == {Outcome.ACCEPTED: 1, Outcome.REJECTED: 2}


@pytest.mark.parametrize("error", [OSError("disk gone"), MemoryError()])
def test_an_environment_error_crashes_the_batch_instead_of_setting_events_aside(
    monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    def failing(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(step_module, "validate_report", failing)
    metrics = WorkerMetrics(registry=CollectorRegistry())
    rollup = agent(metrics)

    with pytest.raises(type(error)):
        run(rollup, [record(0, A, 10)])
    assert metrics.internal_errors.labels(exception=type(error).__name__)._value.get() == 0
