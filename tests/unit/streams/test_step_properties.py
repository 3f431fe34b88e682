"""Property: the real stream step, fed any stream in any batch split, ends where a plain
recomputation over the whole stream ends.

Hypothesis draws streams of reports from a few communes of three provinces over three
periods of two report types (``2025-07`` and ``2025-08`` monthly, the first being the
second's previous period, and ``2025-W33`` weekly): random revisions, exact resends,
out-of-order revisions, conflicting reports under one revision, invalid events (unknown
commune, commune of another province, negative value, indicator outside the report type,
wrong Kafka key, undecodable bytes), Kafka timestamps (the broker's receive time) and
submission times right around deadlines and locks, reports of the historic loader (judged on
their own submission time), and approvals. The stream goes through :class:`RollupStep` in random
consecutive batches, some of them "crashing" after their outputs (run, thrown away, run
again: the replay must emit the very same records).

The expected end state is computed here from the whole stream, one event at a time, with
plain Python written from the rules (not from the step's code): the latest revision per
commune and period, the final figures (the record with the highest version per key), the
completeness counts, the warnings raised, and the set of rejected (event, reason) pairs.
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from baocao.core.avro import codec_for
from baocao.core.catalogue import load_catalogue
from baocao.core.models import LOCAL_TIMEZONE, CommuneReport
from baocao.core.reference import load_reference
from baocao.core.settings import DeadlineSettings
from baocao.core.topics import Topics
from baocao.streams.records import SourceRecord, Tables
from baocao.streams.step import RollupStep

REFERENCE = load_reference()
CATALOGUE = load_catalogue()
TOPICS = Topics("prop")
RULES = DeadlineSettings()  # monthly: 5 days, weekly: 2 days, lock: 30 days, reject
NOW = datetime(2025, 12, 1, tzinfo=UTC)
PROVINCES = ("01", "79", "48")
COMMUNES = {p: REFERENCE.communes_by_province[p][:3] for p in PROVINCES}
ALL_COMMUNES = [c for p in PROVINCES for c in COMMUNES[p]]
PROVINCE_OF = {c: p for p in PROVINCES for c in COMMUNES[p]}
MS = timedelta(milliseconds=1)


def _local_end_of_day(year: int, month: int, day: int) -> datetime:
    """The last millisecond of a local day: deadlines and locks are written so."""
    return datetime(year, month, day, tzinfo=LOCAL_TIMEZONE) + timedelta(days=1) - MS


@dataclass(frozen=True)
class PeriodFacts:
    """What the test knows of each period, from the calendar (not from baocao.core.periods)."""

    report_type: str
    deadline: datetime
    locks_at: datetime
    previous: str | None  # the previous period of the same type, if in the test
    indicators: tuple[str, ...]


MONTHLY = (
    "tthc_received",
    "tthc_resolved_on_time",
    "tthc_resolved_late",
    "tthc_resolved",
    "internet_coverage_pct_max",
    "party_congress_earliest_day",
    "fires",
)
PERIODS = {
    # due by the end of the 5th of the next month, locked 30 days later
    "2025-07": PeriodFacts(
        "monthly", _local_end_of_day(2025, 8, 5), _local_end_of_day(2025, 9, 4), None, MONTHLY
    ),
    "2025-08": PeriodFacts(
        "monthly",
        _local_end_of_day(2025, 9, 5),
        _local_end_of_day(2025, 10, 5),
        "2025-07",
        MONTHLY,
    ),
    # ISO week 33 of 2025: Monday 11 to Sunday 17 August; due by the end of the 19th
    "2025-W33": PeriodFacts(
        "weekly",
        _local_end_of_day(2025, 8, 19),
        _local_end_of_day(2025, 9, 18),
        None,
        ("tthc_received", "tthc_resolved_on_time", "tthc_resolved_late", "tthc_resolved"),
    ),
}
#: Moments that matter: just before, at and just after each deadline and lock.
INSTANTS = sorted(
    {
        moment + shift
        for facts in PERIODS.values()
        for moment in (facts.deadline, facts.locks_at)
        for shift in (-timedelta(days=2), -MS, timedelta(0), MS)
    }
)
REPORTS = codec_for("commune_report.v1")
#: How far a claimed ``submitted_at`` may be from the receive time without a warning.
TOLERANCE = timedelta(minutes=10)
APPROVALS = codec_for("approval.v1")


# ------------------------------------------------------------------ the stream


@dataclass
class Event:
    """One input record and what the test knows about it."""

    topic: str
    key: bytes
    value: bytes
    #: The record's timestamp: the broker's append time, when the broker received it.
    timestamp: datetime
    report: CommuneReport | None = None
    #: For an invalid event: the one reason code it must be refused with.
    invalid: str | None = None
    #: For an approval: province, period, approved_at.
    approval: tuple[str, str, datetime] | None = None


values = st.one_of(
    st.integers(min_value=0, max_value=300).map(float),
    st.sampled_from([0.5, 1e-3, 123456.25]),
)


@st.composite
def reports(draw: st.DrawFn) -> CommuneReport:
    commune = draw(st.sampled_from(ALL_COMMUNES))
    period = draw(st.sampled_from(sorted(PERIODS)))
    codes = draw(
        st.lists(st.sampled_from(PERIODS[period].indicators), min_size=1, max_size=5, unique=True)
    )
    return CommuneReport(
        report_id=str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)), version=4)),
        commune_code=commune,
        province_code=PROVINCE_OF[commune],
        period=period,
        revision=draw(st.integers(min_value=1, max_value=4)),
        submitted_at=draw(st.sampled_from(INSTANTS)),
        indicators={code: draw(values) for code in codes},
    )


def _report_event(
    report: CommuneReport, at: datetime, *, topic: str = TOPICS.commune_reports, **extra: Any
) -> Event:
    return Event(
        topic,
        report.province_code.encode(),
        REPORTS.encode(report.to_avro()),
        at,
        report=report,
        **extra,
    )


def _invalid(draw: st.DrawFn, base: CommuneReport, at: datetime) -> Event:
    new_id = str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)), version=4))
    kind = draw(
        st.sampled_from(
            [
                "unknown_commune",
                "commune_not_in_province",
                "value_out_of_range",
                "indicator_not_in_report_type",
                "wrong_key",
                "undecodable",
            ]
        )
    )
    if kind == "undecodable":
        garbage = draw(st.binary(max_size=30))
        return Event(TOPICS.commune_reports, b"01", garbage, at, invalid="malformed_event")
    if kind == "wrong_key":
        other = next(p for p in PROVINCES if p != base.province_code)
        event = _report_event(base, at, invalid="malformed_event")
        event.key = other.encode()
        return event
    if kind == "unknown_commune":
        bad = _replace(base, new_id, commune_code="99999")
    elif kind == "commune_not_in_province":
        other = next(p for p in PROVINCES if p != base.province_code)
        bad = _replace(base, new_id, province_code=other)
    elif kind == "value_out_of_range":
        bad = _replace(base, new_id, indicators={**base.indicators, "tthc_received": -1.0})
    elif PERIODS[base.period].report_type == "weekly":  # population: monthly and yearly only
        bad = _replace(base, new_id, indicators={**base.indicators, "population": 1.0})
    else:  # a daily period: dossier counts are weekly and monthly only
        bad = _replace(base, new_id, period="2025-08-15", indicators={"tthc_received": 1.0})
    return _report_event(bad, at, invalid=kind)


def _replace(report: CommuneReport, report_id: str, **changes: Any) -> CommuneReport:
    fields = {
        "report_id": report_id,
        "commune_code": report.commune_code,
        "province_code": report.province_code,
        "period": report.period,
        "revision": report.revision,
        "submitted_at": report.submitted_at,
        "indicators": dict(report.indicators),
    }
    return CommuneReport(**{**fields, **changes})


@st.composite
def streams(draw: st.DrawFn) -> list[Event]:
    events: list[Event] = []
    for _ in range(draw(st.integers(min_value=1, max_value=40))):
        at = draw(st.sampled_from(INSTANTS))
        earlier = [e for e in events if e.report is not None and e.invalid is None]
        move = draw(
            st.sampled_from(
                [
                    "report",
                    "report",
                    "report",
                    "historic",
                    "resend",
                    "conflict",
                    "invalid",
                    "approval",
                ]
            )
        )
        if move == "resend" and earlier:
            original = draw(st.sampled_from(earlier))
            assert original.report is not None
            events.append(_report_event(original.report, at))
        elif move == "conflict" and earlier:
            original = draw(st.sampled_from(earlier))
            assert original.report is not None
            changed = {k: v + 1 for k, v in original.report.indicators.items()}
            new_id = str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)), version=4))
            events.append(_report_event(_replace(original.report, new_id, indicators=changed), at))
        elif move == "invalid":
            events.append(_invalid(draw, draw(reports()), at))
        elif move == "historic":  # loaded later, by the historic loader
            events.append(_report_event(draw(reports()), at, topic=TOPICS.historic_reports))
        elif move == "approval":
            province = draw(st.sampled_from(PROVINCES))
            period = draw(st.sampled_from(sorted(PERIODS)))
            payload = {
                "approval_id": str(uuid.UUID(int=len(events), version=4)),
                "province_code": province,
                "report_type": PERIODS[period].report_type,
                "period": period,
                "approved_by": "tester",
                "approved_at": at,
                "note": None,
            }
            events.append(
                Event(
                    TOPICS.approvals,
                    province.encode(),
                    APPROVALS.encode(payload),
                    at,
                    approval=(province, period, at),
                )
            )
        else:
            events.append(_report_event(draw(reports()), at))
    return _approvals_before_later_reports(events)


def decided_at(event: Event) -> datetime:
    """The time a report is judged on: when the broker received it, or for a historic load
    the ``submitted_at`` it carries."""
    if event.topic == TOPICS.historic_reports and event.report is not None:
        return event.report.submitted_at
    return event.timestamp


def _approvals_before_later_reports(events: list[Event]) -> list[Event]:
    """An approval goes before every report whose Kafka timestamp is at or after it.

    The worker applies a batch's approvals before its reports; the two topics are not
    ordered against each other, so only this order makes "an approval locks what was
    submitted from its time on" independent of the batch split (see baocao.streams.agent)."""
    ordered = [e for e in events if e.approval is None]
    for approval in (e for e in events if e.approval is not None):
        position = next(
            (
                i
                for i, e in enumerate(ordered)
                if e.approval is None and decided_at(e) >= approval.timestamp
            ),
            len(ordered),
        )
        ordered.insert(position, approval)
    return ordered


# ------------------------------------------------------------------ the plain recomputation


@dataclass
class Held:
    report: CommuneReport
    first_submitted_at: datetime
    amended: bool
    warned: frozenset[str]


@dataclass
class Expected:
    latest: dict[tuple[str, str], Held] = field(default_factory=dict)
    rejected: set[tuple[int, str]] = field(default_factory=set)
    warnings: set[str] = field(default_factory=set)


def _warnings(report: CommuneReport, before: CommuneReport | None) -> dict[str, set[str]]:
    """warning id -> indicators it flags, from the rules as written in the issue."""
    found: dict[str, set[str]] = {}
    got = report.indicators
    received = got.get("tthc_received")
    parts = [got[c] for c in ("tthc_resolved_on_time", "tthc_resolved_late") if c in got]
    if received is not None and parts and sum(parts) > received + 1e-9:
        flagged = {"tthc_received", "tthc_resolved_on_time", "tthc_resolved_late"} & set(got)
        found[f"{report.report_id}:resolved_exceeds_received:tthc_received"] = flagged
    if {"tthc_resolved", "tthc_resolved_on_time", "tthc_resolved_late"} <= set(got):
        both = got["tthc_resolved_on_time"] + got["tthc_resolved_late"]
        if abs(got["tthc_resolved"] - both) > 1e-9 * max(1.0, abs(both)):
            flagged = {"tthc_resolved", "tthc_resolved_on_time", "tthc_resolved_late"}
            found[f"{report.report_id}:resolved_parts_mismatch:tthc_resolved"] = flagged
    if before is not None:
        for code, value in got.items():
            old = before.indicators.get(code)
            if old is None or value < 10 or old < 10:
                continue
            if value > 10 * old or value < old / 10:
                found[f"{report.report_id}:far_from_history:{code}"] = {code}
    return found


def recompute(events: list[Event]) -> Expected:
    """The end state, one event at a time, from the rules."""
    expected = Expected()
    approved: dict[tuple[str, str], datetime] = {}
    for offset, event in enumerate(events):
        if event.approval is not None:
            province, period, at = event.approval
            # The first approval applies; a later one is refused (already approved, or
            # stale when taken before it): the state machine of issue 19.
            approved.setdefault((province, period), at)
            continue
        if event.invalid is not None:
            expected.rejected.add((offset, event.invalid))
            continue
        report = event.report
        assert report is not None
        facts = PERIODS[report.period]
        key = (report.commune_code, report.period)
        held = expected.latest.get(key)
        approval = approved.get((report.province_code, report.period))
        at = decided_at(event)
        locked = at > facts.locks_at or (approval is not None and approval <= at)
        if held is None or report.revision > held.report.revision:
            if locked:
                expected.rejected.add((offset, "period_locked"))
                continue
            before = expected.latest.get((report.commune_code, facts.previous or ""))
            raised = _warnings(report, before.report if before else None)
            expected.warnings |= set(raised)
            # The claimed submission time is kept, flagged when far from the receive time
            # (the record's timestamp, the broker's append time), and never decides.
            if abs(report.submitted_at - at) > TOLERANCE:
                expected.warnings.add(f"{report.report_id}:submitted_at_far_from_receipt:")
            expected.latest[key] = Held(
                report,
                held.first_submitted_at if held else at,
                False,
                frozenset().union(*raised.values()),
            )
            continue
        if report.revision < held.report.revision:
            expected.rejected.add((offset, "stale_revision"))
        elif report.report_id == held.report.report_id or (
            report.indicators == held.report.indicators
        ):
            continue  # a resend of what is held
        else:
            expected.rejected.add((offset, "conflicting_revision"))
        if locked:
            expected.rejected.add((offset, "period_locked"))
    return expected


def expected_figures(expected: Expected) -> dict[str, tuple[float | None, int, int]]:
    """key -> (value, communes reported, communes with warnings)."""
    by_province: dict[tuple[str, str], list[Held]] = defaultdict(list)
    for (_, period), held in expected.latest.items():
        by_province[(held.report.province_code, period)].append(held)
    figures: dict[str, tuple[float | None, int, int]] = {}
    for (province, period), helds in by_province.items():
        for indicator in CATALOGUE:
            key = f"{province}|{period}|{indicator.code}"
            if indicator.aggregation == "ratio":
                n, d = indicator.numerator, indicator.denominator
                both = [h for h in helds if n in h.report.indicators and d in h.report.indicators]
                if both:
                    num = math.fsum(h.report.indicators[str(n)] for h in both)
                    den = math.fsum(h.report.indicators[str(d)] for h in both)
                    warned = sum(bool({n, d} & h.warned) for h in both)
                    figures[key] = (num / den if den else None, len(both), warned)
                continue
            having = [h for h in helds if indicator.code in h.report.indicators]
            if not having:
                continue
            numbers = [h.report.indicators[indicator.code] for h in having]
            value = {"max": max, "min": min}.get(indicator.aggregation, math.fsum)(numbers)
            warned = sum(indicator.code in h.warned for h in having)
            figures[key] = (value, len(having), warned)
    return figures


def expected_completeness(expected: Expected) -> dict[str, tuple[int, int, int, int]]:
    """key -> (expected, reported, on time, late)."""
    counts: dict[str, list[int]] = {}
    for (_, period), held in expected.latest.items():
        province = held.report.province_code
        key = f"{province}|{PERIODS[period].report_type}|{period}"
        # Đặc khu Hoàng Sa (Đà Nẵng) has no administration on site: it owes no report.
        due = [
            c
            for c in REFERENCE.communes_by_province[province]
            if REFERENCE.communes[c].name != "Đặc khu Hoàng Sa"
        ]
        row = counts.setdefault(key, [len(due), 0, 0, 0])
        row[1] += 1
        row[2 if held.first_submitted_at <= PERIODS[period].deadline else 3] += 1
    return {k: (a, b, c, d) for k, (a, b, c, d) in counts.items()}


# ------------------------------------------------------------------ the stream, for real


def _latest_by_key(records: list[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for key, value in records:
        if key not in latest or value["version"] >= latest[key]["version"]:
            latest[key] = value
    return latest


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    events=streams(),
    cuts=st.lists(st.integers(min_value=1, max_value=40), max_size=8),
    crashes=st.lists(st.booleans(), max_size=9),
)
def test_any_batch_split_ends_where_a_plain_recomputation_ends(
    events: list[Event], cuts: list[int], crashes: list[bool]
) -> None:
    step = RollupStep(
        topics=TOPICS, reference=REFERENCE, catalogue=CATALOGUE, deadlines=RULES, clock=lambda: NOW
    )
    tables = Tables(latest={}, versions={}, approvals={}, figures={})
    records = [
        SourceRecord(
            e.topic,
            0,
            offset,
            e.key,
            e.value,
            (e.timestamp - datetime(1970, 1, 1, tzinfo=UTC)) // MS,
        )
        for offset, e in enumerate(events)
    ]
    bounds = sorted({0, len(records), *(c for c in cuts if c < len(records))})
    published: list[Any] = []
    for number, (start, end) in enumerate(itertools.pairwise(bounds)):
        batch = records[start:end]
        result = step.run(batch, tables=tables)
        if number < len(crashes) and crashes[number]:
            # crashed after delivering its outputs, before storing its state: replayed
            replay = step.run(batch, tables=tables)
            assert replay.outputs == result.outputs and replay.writes == result.writes
            result = replay
        tables.store(result.writes)
        published.extend(result.outputs)

    expected = recompute(events)

    # the latest revision per commune and period, and what was decided about it
    assert {
        tuple(key.split("|")): (
            state["report_id"],
            state["revision"],
            state["indicators"],
            state["first_submitted_at_ms"],
            state["amended"],
            set(state["warned"]),
        )
        for key, state in tables.latest.items()
    } == {
        key: (
            h.report.report_id,
            h.report.revision,
            dict(h.report.indicators),
            (h.first_submitted_at - datetime(1970, 1, 1, tzinfo=UTC)) // MS,
            h.amended,
            set(h.warned),
        )
        for key, h in expected.latest.items()
    }

    def decoded(topic: str, schema: str) -> list[tuple[str, dict[str, Any]]]:
        codec = codec_for(schema)
        return [(o.key, codec.decode(o.value)) for o in published if o.topic == topic]

    # final figures: the highest version per key; withdrawn figures carry no value
    figures = _latest_by_key(decoded(TOPICS.province_indicators, "province_indicator.v2"))
    wanted = expected_figures(expected)
    got = {
        key: (f["value"], f["communes_reported"], f["communes_with_warnings"])
        for key, f in figures.items()
        if f["communes_reported"]
    }
    assert got.keys() == wanted.keys()
    for key, (value, count, warned) in wanted.items():
        assert got[key][1:] == (count, warned), key
        assert (got[key][0] is None) == (value is None), key
        if value is not None:
            assert got[key][0] == value or math.isclose(got[key][0], value, rel_tol=1e-12), key
    withdrawn = [f for f in figures.values() if not f["communes_reported"]]
    assert all(f["value"] is None for f in withdrawn)

    # the history of every figure is a chain from nothing to its final value
    history: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for key, change in decoded(TOPICS.province_indicator_changes, "province_indicator_change.v1"):
        history[key].append(change)
    assert history.keys() == figures.keys()
    for key, chain in history.items():
        assert chain[0]["previous_value"] is None, key
        for before, after in itertools.pairwise(chain):
            assert after["previous_value"] == before["value"], key
            assert after["version"] > before["version"], key
        assert chain[-1]["value"] == figures[key]["value"], key

    # completeness, from the last record of each province, type and period
    completeness = _latest_by_key(decoded(TOPICS.province_completeness, "province_completeness.v1"))
    assert {
        key: (
            c["communes_expected"],
            c["communes_reported"],
            c["communes_on_time"],
            c["communes_late"],
        )
        for key, c in completeness.items()
    } == expected_completeness(expected)

    # warnings raised, and every refusal with each of its reasons
    assert {w["warning_id"] for _, w in decoded(TOPICS.report_warnings, "report_warning.v1")} == (
        expected.warnings
    )
    assert {
        (letter["source_offset"], reason["code"])
        for _, letter in decoded(TOPICS.dead_letter, "rejected_report.v1")
        for reason in letter["reasons"]
    } == expected.rejected
