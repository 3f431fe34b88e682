"""The worker's batch step on plain dicts: which revision counts, what is refused, what a
province adds up to, and what is published."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baocao.avro import codec_for
from baocao.catalogue import load_catalogue
from baocao.models import CommuneReport
from baocao.reference import load_reference
from baocao.topics import Topics
from streams.step import (
    BatchResult,
    Outcome,
    OutputRecord,
    RollupStep,
    SourceRecord,
)

REFERENCE = load_reference()
CATALOGUE = load_catalogue()
TOPICS = Topics("unit")
PERIOD = "2025-08"
HANOI = "01"
A, B, C = REFERENCE.communes_by_province[HANOI][:3]
OTHER_PROVINCE = next(p for p in REFERENCE.provinces if p != HANOI)
D = REFERENCE.communes_by_province[OTHER_PROVINCE][0]
NOW = datetime(2025, 9, 5, 8, 30, tzinfo=UTC)
SUBMITTED = datetime(2025, 9, 2, 2, 30, tzinfo=UTC)
REPORTS = codec_for("commune_report.v1")


def make_report(
    commune: str,
    revision: int = 1,
    *,
    province: str | None = None,
    period: str = PERIOD,
    report_id: str | None = None,
    **indicators: float,
) -> CommuneReport:
    return CommuneReport(
        report_id=report_id or str(uuid.uuid4()),
        commune_code=commune,
        province_code=province or REFERENCE.communes[commune].province_code,
        period=period,
        revision=revision,
        submitted_at=SUBMITTED,
        indicators=indicators or {"tthc_received": 1.0},
    )


class Feed:
    """Numbers events like a Kafka partition: each gets the next offset."""

    def __init__(self) -> None:
        self.offset = 0

    def raw(self, value: bytes | None, *, key: bytes | None = HANOI.encode()) -> SourceRecord:
        record = SourceRecord(TOPICS.commune_reports, 2, self.offset, key, value)
        self.offset += 1
        return record

    def __call__(self, report: CommuneReport, *, key: str | None = None) -> SourceRecord:
        key = report.province_code if key is None else key
        return self.raw(REPORTS.encode(report.to_avro()), key=key.encode())


class Worker:
    """The step and its state, as the agent keeps them between batches."""

    def __init__(self) -> None:
        self.step = RollupStep(
            topics=TOPICS, reference=REFERENCE, catalogue=CATALOGUE, clock=lambda: NOW
        )
        self.latest: dict[str, Any] = {}
        self.versions: dict[str, Any] = {}
        self.feed = Feed()

    def batch(self, *events: CommuneReport | SourceRecord) -> BatchResult:
        records = [e if isinstance(e, SourceRecord) else self.feed(e) for e in events]
        return self.step.run(records, latest=self.latest, versions=self.versions)


def outputs(result: BatchResult, topic: str) -> list[OutputRecord]:
    return [o for o in result.outputs if o.topic == topic]


def figures(result: BatchResult, province: str = HANOI) -> dict[str, dict[str, Any]]:
    """The province's figures in a batch, by indicator, decoded from the published bytes."""
    codec = codec_for("province_indicator.v1")
    found: dict[str, dict[str, Any]] = {}
    for output in outputs(result, TOPICS.province_indicators):
        payload = codec.decode(output.value)
        if payload["province_code"] == province:
            assert output.key == f"{province}|{payload['period']}|{payload['indicator_code']}"
            found[payload["indicator_code"]] = payload
    return found


def dead_letters(result: BatchResult) -> list[dict[str, Any]]:
    codec = codec_for("rejected_report.v1")
    return [codec.decode(o.value) for o in outputs(result, TOPICS.dead_letter)]


def accepted(result: BatchResult) -> list[dict[str, Any]]:
    return [REPORTS.decode(o.value) for o in outputs(result, TOPICS.accepted_reports)]


def reason_codes(letter: dict[str, Any]) -> list[str]:
    return [r["code"] for r in letter["reasons"]]


# --- acceptance and figures -------------------------------------------------------------


def test_first_report_is_accepted_published_and_rolled_up() -> None:
    worker = Worker()
    report = make_report(A, tthc_received=12, tthc_resolved=10, tthc_resolved_on_time=9)

    result = worker.batch(report)

    assert result.outcomes == {Outcome.ACCEPTED: 1}
    [record] = outputs(result, TOPICS.accepted_reports)
    assert record.key == f"{A}|{PERIOD}"
    decoded = REPORTS.decode(record.value)
    assert decoded["report_id"] == uuid.UUID(report.report_id)
    assert decoded["revision"] == 1
    assert decoded["indicators"] == {
        "tthc_received": 12.0,
        "tthc_resolved": 10.0,
        "tthc_resolved_on_time": 9.0,
    }
    got = figures(result)
    assert set(got) == {
        "tthc_received",
        "tthc_resolved",
        "tthc_resolved_on_time",
        "tthc_on_time_rate",
    }
    assert got["tthc_received"]["value"] == 12.0
    assert got["tthc_received"]["communes_reported"] == 1
    assert got["tthc_received"]["version"] == 1
    assert got["tthc_received"]["updated_at"] == NOW
    assert got["tthc_on_time_rate"]["value"] == pytest.approx(0.9)
    assert worker.versions == {f"{HANOI}|{PERIOD}": 1}
    assert worker.latest[f"{A}|{PERIOD}"]["revision"] == 1


def test_a_revision_replaces_the_earlier_one_and_is_counted_once() -> None:
    worker = Worker()
    worker.batch(make_report(A, 1, tthc_received=10), make_report(B, 1, tthc_received=5))

    result = worker.batch(make_report(A, 2, tthc_received=7))

    assert result.outcomes == {Outcome.ACCEPTED: 1}
    got = figures(result)["tthc_received"]
    assert got["value"] == 12.0  # 7 (revision 2 of A) + 5 (B); revision 1 of A is gone
    assert got["communes_reported"] == 2
    assert got["version"] == 2
    assert [r["revision"] for r in accepted(result)] == [2]


def test_revisions_in_one_batch_recompute_the_province_once() -> None:
    worker = Worker()

    result = worker.batch(
        make_report(A, 1, tthc_received=10),
        make_report(A, 2, tthc_received=3),
        make_report(B, 1, tthc_received=5),
    )

    assert result.accepted == 3
    assert result.recomputed == 1
    assert figures(result)["tthc_received"]["value"] == 8.0
    assert figures(result)["tthc_received"]["version"] == 1
    assert [(r["commune_code"], r["revision"]) for r in accepted(result)] == [
        (A, 1),
        (A, 2),
        (B, 1),
    ]


def test_a_duplicate_changes_nothing_but_re_emits_its_report_and_figures() -> None:
    worker = Worker()
    original = make_report(A, 1, tthc_received=10)
    worker.batch(original)
    state_before = dict(worker.latest)

    result = worker.batch(original)

    assert result.outcomes == {Outcome.DUPLICATE: 1}
    assert dead_letters(result) == []
    assert worker.latest == state_before
    # Re-emitted: a crash between the state write and the delivery of the first outputs is
    # repaired by the replay, which sees its own event as a duplicate.
    assert [r["report_id"] for r in accepted(result)] == [uuid.UUID(original.report_id)]
    got = figures(result)["tthc_received"]
    assert (got["value"], got["version"]) == (10.0, 2)


def test_a_resend_with_a_new_id_but_the_same_figures_is_a_duplicate_of_the_held_one() -> None:
    worker = Worker()
    original = make_report(A, 1, tthc_received=10)
    worker.batch(original)

    result = worker.batch(make_report(A, 1, tthc_received=10))

    assert result.outcomes == {Outcome.DUPLICATE: 1}
    [again] = accepted(result)
    assert again["report_id"] == uuid.UUID(original.report_id)
    assert again["submitted_at"] == SUBMITTED
    assert worker.latest[f"{A}|{PERIOD}"]["report_id"] == original.report_id


def test_a_lower_revision_after_a_higher_one_is_refused_as_stale() -> None:
    worker = Worker()
    worker.batch(make_report(A, 3, tthc_received=30))
    stale = worker.feed(make_report(A, 2, tthc_received=20))

    result = worker.batch(stale)

    assert result.outcomes == {Outcome.REJECTED: 1}
    assert result.recomputed == 0
    [letter] = dead_letters(result)
    assert reason_codes(letter) == ["stale_revision"]
    assert letter["reasons"][0]["field"] == "revision"
    assert letter["reasons"][0]["message_en"] == (
        "Revision 2 is older than revision 3 already accepted"
    )
    assert "3" in letter["reasons"][0]["message_vi"]
    assert letter["rejection_id"] == f"{TOPICS.commune_reports}:2:{stale.offset}"
    assert (letter["commune_code"], letter["province_code"], letter["revision"]) == (A, HANOI, 2)
    assert letter["raw_payload"] == stale.value
    assert worker.latest[f"{A}|{PERIOD}"]["revision"] == 3


def test_out_of_order_revisions_in_one_batch_keep_the_highest() -> None:
    worker = Worker()

    result = worker.batch(make_report(A, 2, tthc_received=20), make_report(A, 1, tthc_received=1))

    assert result.outcomes == {Outcome.ACCEPTED: 1, Outcome.REJECTED: 1}
    assert figures(result)["tthc_received"]["value"] == 20.0
    assert reason_codes(dead_letters(result)[0]) == ["stale_revision"]


def test_the_same_revision_with_other_figures_is_a_conflict() -> None:
    worker = Worker()
    worker.batch(make_report(A, 1, tthc_received=10))

    result = worker.batch(make_report(A, 1, tthc_received=11))

    assert result.outcomes == {Outcome.REJECTED: 1}
    [letter] = dead_letters(result)
    assert reason_codes(letter) == ["conflicting_revision"]
    assert letter["reasons"][0]["message_en"].startswith(
        "Revision 1 was already received with different figures"
    )
    assert worker.latest[f"{A}|{PERIOD}"]["indicators"] == {"tthc_received": 10.0}
    assert figures(result) == {}


def test_a_ratio_is_the_summed_numerator_over_the_summed_denominator() -> None:
    worker = Worker()

    result = worker.batch(
        make_report(A, tthc_resolved=10, tthc_resolved_on_time=9),  # 90 %
        make_report(B, tthc_resolved=100, tthc_resolved_on_time=1),  # 1 %
    )

    rate = figures(result)["tthc_on_time_rate"]
    assert rate["value"] == pytest.approx(10 / 110)  # not the mean of the rates (45.5 %)
    assert (rate["numerator"], rate["denominator"]) == (10.0, 110.0)
    assert rate["communes_reported"] == 2


def test_a_ratio_over_a_zero_denominator_is_null() -> None:
    result = Worker().batch(make_report(A, tthc_resolved=0, tthc_resolved_on_time=0))

    rate = figures(result)["tthc_on_time_rate"]
    assert rate["value"] is None
    assert (rate["numerator"], rate["denominator"]) == (0.0, 0.0)


def test_max_and_min_follow_a_correction_that_removes_the_extreme() -> None:
    worker = Worker()
    first = worker.batch(
        make_report(A, 1, internet_coverage_pct_max=99, party_congress_earliest_day=3),
        make_report(B, 1, internet_coverage_pct_max=95, party_congress_earliest_day=10),
        make_report(C, 1, internet_coverage_pct_max=60, party_congress_earliest_day=12),
    )
    assert figures(first)["internet_coverage_pct_max"]["value"] == 99.0
    assert figures(first)["party_congress_earliest_day"]["value"] == 3.0

    corrected = worker.batch(
        make_report(A, 2, internet_coverage_pct_max=80, party_congress_earliest_day=14)
    )

    assert figures(corrected)["internet_coverage_pct_max"]["value"] == 95.0
    assert figures(corrected)["party_congress_earliest_day"]["value"] == 10.0


def test_sums_are_exact_whatever_the_order() -> None:
    values = [0.1, 1e12, 0.2, -0.0, 0.3, 1e-3]
    forward, backward = Worker(), Worker()
    communes = REFERENCE.communes_by_province[HANOI][: len(values)]
    reports = [make_report(c, tthc_received=v) for c, v in zip(communes, values, strict=True)]

    one = forward.batch(*reports)
    two = backward.batch(*reversed(reports))

    assert figures(one)["tthc_received"]["value"] == math.fsum(values)
    assert figures(one)["tthc_received"]["value"] == figures(two)["tthc_received"]["value"]


def test_each_province_and_period_has_its_own_figures_and_versions() -> None:
    worker = Worker()

    result = worker.batch(
        make_report(A, tthc_received=1),
        make_report(A, period="2025-09", tthc_received=2),
        make_report(D, tthc_received=4),
        make_report(B, tthc_received=8),
    )

    assert result.recomputed == 3
    assert worker.versions == {
        f"{HANOI}|2025-08": 1,
        f"{HANOI}|2025-09": 1,
        f"{OTHER_PROVINCE}|2025-08": 1,
    }
    by_key = {
        o.key: codec_for("province_indicator.v1").decode(o.value)["value"]
        for o in outputs(result, TOPICS.province_indicators)
    }
    assert by_key == {
        f"{HANOI}|2025-08|tthc_received": 9.0,
        f"{HANOI}|2025-09|tthc_received": 2.0,
        f"{OTHER_PROVINCE}|2025-08|tthc_received": 4.0,
    }


# --- refusals ---------------------------------------------------------------------------


def _unknown_commune() -> CommuneReport:
    return make_report("99999", province=HANOI)


def _commune_of_another_province() -> CommuneReport:
    return make_report(D, province=HANOI)


INVALID_REPORTS = {
    "unknown_commune": _unknown_commune,
    "commune_not_in_province": _commune_of_another_province,
    "unknown_indicator": lambda: make_report(A, no_such_indicator=1),
    "derived_indicator": lambda: make_report(A, tthc_on_time_rate=0.5),
    "value_not_finite": lambda: make_report(A, tthc_received=math.nan),
    "value_out_of_range": lambda: make_report(A, tthc_received=-1),
    "invalid_period": lambda: make_report(A, period="2025-13"),
    "invalid_revision": lambda: make_report(A, 0),
    "empty_report": lambda: CommuneReport(str(uuid.uuid4()), A, HANOI, PERIOD, 1, SUBMITTED, {}),
}


@pytest.mark.parametrize("code", sorted(INVALID_REPORTS))
def test_an_invalid_report_becomes_a_dead_letter_with_its_reason(code: str) -> None:
    worker = Worker()
    report = INVALID_REPORTS[code]()
    event = worker.feed(report)

    result = worker.batch(event)

    assert result.outcomes == {Outcome.REJECTED: 1}
    assert result.rejections == {code: 1}
    assert worker.latest == {} and worker.versions == {}
    [record] = outputs(result, TOPICS.dead_letter)
    assert record.key == report.commune_code
    letter = codec_for("rejected_report.v1").decode(record.value)
    assert reason_codes(letter) == [code]
    assert letter["report_id"] == report.report_id
    assert letter["period"] == report.period
    assert letter["raw_payload"] == event.value
    assert (letter["source_topic"], letter["source_partition"], letter["source_offset"]) == (
        TOPICS.commune_reports,
        2,
        event.offset,
    )
    assert letter["rejected_at"] == NOW
    assert all(r["message_en"] and r["message_vi"] for r in letter["reasons"])


def test_every_reason_of_a_report_is_given_at_once() -> None:
    worker = Worker()
    report = make_report(A, period="08/2025", tthc_received=-5, made_up=1)

    [letter] = dead_letters(worker.batch(report))

    assert sorted(reason_codes(letter)) == [
        "invalid_period",
        "unknown_indicator",
        "value_out_of_range",
    ]


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        (b"not avro at all", "bad magic bytes"),
        (b"\xc3\x01", "too short"),
        (b"\xc3\x01" + bytes(8) + b"\x00", "unknown writer schema"),
        (None, "tombstone"),
    ],
)
def test_an_undecodable_event_is_a_malformed_dead_letter(value: bytes | None, detail: str) -> None:
    worker = Worker()

    result = worker.batch(worker.feed.raw(value))

    [record] = outputs(result, TOPICS.dead_letter)
    assert record.key == ""
    letter = codec_for("rejected_report.v1").decode(record.value)
    assert reason_codes(letter) == ["malformed_event"]
    assert detail in letter["reasons"][0]["message_en"]
    assert letter["raw_payload"] == (value or b"")
    assert letter["commune_code"] is None and letter["revision"] is None


def test_an_event_of_another_schema_is_malformed() -> None:
    worker = Worker()
    other = codec_for("province_indicator.v1").encode(
        {
            "province_code": HANOI,
            "period": PERIOD,
            "indicator_code": "tthc_received",
            "communes_reported": 1,
            "version": 1,
            "updated_at": NOW,
        }
    )

    [letter] = dead_letters(worker.batch(worker.feed.raw(other)))

    assert reason_codes(letter) == ["malformed_event"]


def test_a_report_not_keyed_by_its_province_is_refused() -> None:
    worker = Worker()
    report = make_report(A)

    result = worker.batch(worker.feed(report, key=OTHER_PROVINCE))

    [letter] = dead_letters(result)
    assert reason_codes(letter) == ["malformed_event"]
    assert "keyed by province" in letter["reasons"][0]["message_en"]
    assert worker.latest == {}


@settings(max_examples=200, deadline=None)
@given(payload=st.binary(max_size=200))
def test_no_byte_string_crashes_the_step(payload: bytes) -> None:
    worker = Worker()

    result = worker.batch(worker.feed.raw(payload))

    assert result.outcomes == {Outcome.REJECTED: 1}
    assert reason_codes(dead_letters(result)[0]) == ["malformed_event"]


# --- how the agent drives it ------------------------------------------------------------


class FocusedDict(dict[str, Any]):
    """State that refuses access outside a focus, as Faust's tables do."""

    def __init__(self, focus: list[int]) -> None:
        super().__init__()
        self.focus = focus

    def _check(self) -> None:
        assert self.focus, "state touched outside of an event's focus"

    def get(self, key: str, default: Any = None) -> Any:
        self._check()
        return super().get(key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        self._check()
        super().__setitem__(key, value)


def test_state_is_only_touched_in_the_focus_of_an_event_of_the_same_province() -> None:
    step = RollupStep(topics=TOPICS, reference=REFERENCE, catalogue=CATALOGUE)
    feed = Feed()
    records = [
        feed.raw(b"garbage"),
        feed(make_report(D, tthc_received=1)),
        feed(make_report(A, tthc_received=1)),
        feed(make_report(B, tthc_received=1)),
    ]
    active: list[int] = []
    entered: list[int] = []

    @contextmanager
    def focus(index: int) -> Iterator[None]:
        entered.append(index)
        active.append(index)
        try:
            yield
        finally:
            active.pop()

    latest: MutableMapping[str, Any] = FocusedDict(active)
    versions: MutableMapping[str, Any] = FocusedDict(active)

    step.run(records, latest=latest, versions=versions, focus=focus)

    # One focus per event, then one per province: the first event of that province.
    assert entered == [0, 1, 2, 3, 1, 2]
