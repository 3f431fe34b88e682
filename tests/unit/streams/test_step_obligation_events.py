"""Obligation events in the worker: an ended or exempt unit leaves the expected set of the
periods already counted, a default exemption can be lifted, a bad event is dead-lettered with
its reasons and changes nothing, and the latest event by ``recorded_at`` wins."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from baocao.core.avro import codec_for
from baocao.core.catalogue import load_catalogue
from baocao.core.instants import millis
from baocao.core.models import CommuneReport
from baocao.core.obligations import apply_event
from baocao.core.reference import load_reference
from baocao.core.settings import DeadlineSettings
from baocao.core.topics import COMMUNE_REPORTS, REPORTING_OBLIGATIONS, Topics
from baocao.streams.records import BatchResult, SourceRecord, Tables
from baocao.streams.schedule import Schedule
from baocao.streams.step import RollupStep

REFERENCE = load_reference()
TOPICS = Topics("unit")
PERIOD = "2025-08"
DA_NANG = "48"
UNITS = REFERENCE.communes_by_province[DA_NANG]
(HOANG_SA,) = (c for c in UNITS if REFERENCE.communes[c].name == "Đặc khu Hoàng Sa")
OTHERS = [c for c in UNITS if c != HOANG_SA]
SUBMITTED = datetime(2025, 9, 2, 2, 30, tzinfo=UTC)
RECORDED = datetime(2025, 9, 3, 1, 0, tzinfo=UTC)
COMPLETENESS = codec_for("province_completeness.v1")
REJECTED = codec_for("rejected_report.v2")
OBLIGATIONS = codec_for(REPORTING_OBLIGATIONS.writes)
REPORTS = codec_for("commune_report.v1")


def report(commune: str) -> CommuneReport:
    return CommuneReport(
        report_id=str(uuid.uuid4()),
        commune_code=commune,
        province_code=DA_NANG,
        period=PERIOD,
        revision=1,
        submitted_at=SUBMITTED,
        indicators={"tthc_received": 1.0},
    )


def event(commune: str, action: str, **fields: Any) -> dict[str, Any]:
    return {
        "obligation_id": str(uuid.uuid4()),
        "commune_code": commune,
        "province_code": DA_NANG,
        "report_type": "monthly",
        "action": action,
        "starts_on": None,
        "ends_on": None,
        "reason": "test",
        "recorded_by": "o48-1",
        "recorded_at": RECORDED,
        **fields,
    }


def source(topic: str, offset: int, key: bytes, value: bytes, at: datetime) -> SourceRecord:
    return SourceRecord(topic, 0, offset, key, value, millis(at))


def run(
    step: RollupStep,
    tables: Tables,
    reports: list[CommuneReport] = (),  # type: ignore[assignment]
    events: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> BatchResult:
    records = [
        source(
            TOPICS.reporting_obligations,
            i,
            REPORTING_OBLIGATIONS.key_bytes_of(e),
            OBLIGATIONS.encode(e),
            e["recorded_at"],
        )
        for i, e in enumerate(events)
    ] + [
        source(
            TOPICS.commune_reports,
            i,
            COMMUNE_REPORTS.key_bytes_of(r),
            REPORTS.encode(r.to_avro()),
            r.submitted_at,
        )
        for i, r in enumerate(reports)
    ]
    result = step.run(records, tables=tables)
    tables.store(result.writes)
    return result


def completeness(result: BatchResult) -> tuple[int, int]:
    (record,) = [
        COMPLETENESS.decode(o.value)
        for o in result.outputs
        if o.topic == TOPICS.province_completeness
    ]
    return record["communes_expected"], record["communes_reported"]


def worker() -> tuple[RollupStep, Tables]:
    step = RollupStep(
        topics=TOPICS,
        reference=REFERENCE,
        catalogue=load_catalogue(),
        deadlines=DeadlineSettings(),
        clock=lambda: RECORDED,
    )
    return step, Tables(latest={}, versions={}, approvals={}, figures={})


def test_an_ended_obligation_recomputes_the_periods_already_counted() -> None:
    step, tables = worker()
    assert completeness(run(step, tables, [report(c) for c in OTHERS[:-1]])) == (
        len(OTHERS),
        len(OTHERS) - 1,
    )
    # The last unit's duty ended in July: August no longer expects it, Đà Nẵng is complete.
    result = run(step, tables, events=[event(OTHERS[-1], "end", ends_on=date(2025, 7, 31))])
    assert result.obligations["applied"] == 1
    assert completeness(result) == (len(OTHERS) - 1, len(OTHERS) - 1)
    assert tables.obligations[f"{DA_NANG}|monthly"][OTHERS[-1]]["windows"] == [[None, "2025-07-31"]]
    # Its report still arrives: kept and counted in the figures, not in completeness.
    late = run(step, tables, [report(OTHERS[-1])])
    assert late.accepted == 1 and late.warnings["reported_while_not_due"] == 1
    assert completeness(late) == (len(OTHERS) - 1, len(OTHERS) - 1)


def test_a_default_exemption_is_lifted_by_an_event_and_the_latest_event_wins() -> None:
    step, tables = worker()
    run(step, tables, [report(c) for c in OTHERS])
    lifted = run(step, tables, events=[event(HOANG_SA, "set", starts_on=date(2025, 1, 1))])
    assert completeness(lifted) == (len(UNITS), len(OTHERS))
    # An older exemption arriving later changes nothing: the later "set" decided the unit.
    older = event(HOANG_SA, "exempt", recorded_at=datetime(2025, 9, 1, tzinfo=UTC))
    result = run(step, tables, events=[older])
    assert result.obligations["superseded"] == 1 and not result.outputs
    later = datetime(2025, 9, 4, tzinfo=UTC)
    again = run(step, tables, events=[event(HOANG_SA, "exempt", recorded_at=later)])
    assert completeness(again) == (len(OTHERS), len(OTHERS))


def test_a_bad_obligation_event_is_dead_lettered_with_its_reasons_and_changes_nothing() -> None:
    step, tables = worker()
    run(step, tables, [report(c) for c in OTHERS])
    before = {name: dict(tables.named(name)) for name in ("obligations", "versions")}
    bad = [
        event(OTHERS[0], "set", starts_on=date(2025, 9, 1), ends_on=date(2025, 8, 31)),
        event("99999", "exempt"),
        event(OTHERS[0], "exempt", report_type="fortnightly"),
    ]
    result = run(step, tables, events=bad)
    assert result.obligations["refused"] == 3
    letters = [REJECTED.decode(o.value) for o in result.outputs if o.topic == TOPICS.dead_letter]
    assert [[r["code"] for r in letter["reasons"]] for letter in letters] == [
        ["obligation_ends_before_start"],
        ["unknown_commune"],
        ["unknown_report_type"],
    ]
    assert [letter["report_id"] for letter in letters] == [e["obligation_id"] for e in bad]
    assert letters[0]["reasons"][0]["message_en"] == (
        "The obligation's end date 2025-08-31 is before its start 2025-09-01"
    )
    assert len(result.outputs) == 3  # nothing recomputed
    assert {name: dict(tables.named(name)) for name in ("obligations", "versions")} == before


def test_alerts_follow_the_obligations_table() -> None:
    deadlines = DeadlineSettings()
    schedule = Schedule(
        topics=TOPICS,
        reference=REFERENCE,
        deadlines=deadlines,
        clock=lambda: datetime(2025, 9, 10, tzinfo=UTC),
    )
    step, tables = worker()
    run(step, tables, events=[event(OTHERS[0], "exempt"), event(HOANG_SA, "set")])
    tick = schedule.plan([DA_NANG], latest={}, obligations=tables.obligations)
    (august,) = [
        o.payload
        for o in tick.outputs
        if o.topic == TOPICS.missing_report_alerts and o.payload["period"] == PERIOD
    ]
    assert HOANG_SA in august["commune_codes"] and OTHERS[0] not in august["commune_codes"]
    assert august["communes_expected"] == len(UNITS) - 1


def test_events_of_the_same_second_are_ordered_by_id_whatever_their_arrival() -> None:
    moment = datetime(2025, 9, 3, 1, 0, 0, 900_000, tzinfo=UTC)
    first = event(OTHERS[0], "exempt", obligation_id="a" * 8, recorded_at=moment)
    # Recorded 0.8 s earlier, the same second in ClickHouse's DateTime: the id decides.
    second = event(
        OTHERS[0], "set", obligation_id="b" * 8, recorded_at=moment.replace(microsecond=100_000)
    )
    for arrival in ([first, second], [second, first]):
        state = None
        for item in arrival:
            state = apply_event(state, item) or state
        assert state is not None
        assert state[OTHERS[0]]["windows"] == [[None, None]], arrival
