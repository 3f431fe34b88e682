"""The worker's batch step on plain dicts: which revision counts, what is refused, what a
province adds up to, and what is published."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baocao.core.avro import codec_for
from baocao.core.catalogue import load_catalogue
from baocao.core.instants import millis
from baocao.core.models import CommuneReport
from baocao.core.reference import load_reference
from baocao.core.settings import DeadlineSettings
from baocao.core.topics import Topics
from baocao.streams.records import BatchResult, Outcome, OutputRecord, SourceRecord, Tables
from baocao.streams.step import RollupStep

REFERENCE = load_reference()
CATALOGUE = load_catalogue()
TOPICS = Topics("unit")
RULES = DeadlineSettings(lock_days=30, amendments_after_lock="reject")
PERIOD = "2025-08"
HANOI = "01"
A, B, C = REFERENCE.communes_by_province[HANOI][:3]
OTHER_PROVINCE = next(p for p in REFERENCE.provinces if p != HANOI)
D = REFERENCE.communes_by_province[OTHER_PROVINCE][0]
NOW = datetime(2025, 9, 5, 8, 30, tzinfo=UTC)
SUBMITTED = datetime(2025, 9, 2, 2, 30, tzinfo=UTC)
#: 2025-08 is due at the end of 5 September and locks at the end of 5 October (UTC+7).
DEADLINE = datetime(2025, 9, 5, 16, 59, 59, 999000, tzinfo=UTC)
LOCKS_AT = DEADLINE + timedelta(days=30)
REPORTS = codec_for("commune_report.v1")
ACCEPTED = codec_for("accepted_report.v1")
FIGURES = codec_for("province_indicator.v2")


def make_report(
    commune: str,
    revision: int = 1,
    *,
    province: str | None = None,
    period: str = PERIOD,
    report_id: str | None = None,
    submitted_at: datetime = SUBMITTED,
    **indicators: float,
) -> CommuneReport:
    return CommuneReport(
        report_id=report_id or str(uuid.uuid4()),
        commune_code=commune,
        province_code=province or REFERENCE.communes[commune].province_code,
        period=period,
        revision=revision,
        submitted_at=submitted_at,
        indicators=indicators or {"tthc_received": 1.0},
    )


class Feed:
    """Numbers events like a Kafka partition: each gets the next offset, and a timestamp."""

    def __init__(self) -> None:
        self.offset = 0

    def raw(
        self,
        value: bytes | None,
        *,
        key: bytes | None = HANOI.encode(),
        topic: str = TOPICS.commune_reports,
        at: datetime = NOW,
    ) -> SourceRecord:
        record = SourceRecord(topic, 2, self.offset, key, value, millis(at))
        self.offset += 1
        return record

    def __call__(
        self,
        report: CommuneReport,
        *,
        key: str | None = None,
        at: datetime | None = None,
        topic: str = TOPICS.commune_reports,
    ) -> SourceRecord:
        """The record of ``report`` as the broker stamps it: received ``at`` (by default
        when the commune says it submitted it)."""
        key = report.province_code if key is None else key
        at = report.submitted_at if at is None else at
        return self.raw(REPORTS.encode(report.to_avro()), key=key.encode(), at=at, topic=topic)

    def approval(
        self,
        province: str = HANOI,
        period: str = PERIOD,
        *,
        approved_at: datetime,
        report_type: str = "monthly",
        by: str = "Chủ tịch UBND tỉnh",
        action: str | None = None,
        note: str | None = None,
        commune: str | None = None,
        based_on: int | None = None,
    ) -> SourceRecord:
        """A step: an ``approval.v1`` approve, or with ``action`` an ``approval.v2`` step."""
        payload: dict[str, Any] = {
            "approval_id": str(uuid.uuid4()),
            "province_code": province,
            "report_type": report_type,
            "period": period,
            "approved_by": by,
            "approved_at": approved_at,
            "note": note,
        }
        schema = "approval.v1"
        if action is not None:
            schema = "approval.v2"
            payload.update(action=action, commune_code=commune, based_on_version=based_on)
        value = codec_for(schema).encode(payload)
        return self.raw(value, key=province.encode(), topic=TOPICS.approvals, at=approved_at)


class Worker:
    """The step and its state, as the agent keeps them between batches."""

    def __init__(self, rules: DeadlineSettings = RULES) -> None:
        self.step = RollupStep(
            topics=TOPICS,
            reference=REFERENCE,
            catalogue=CATALOGUE,
            deadlines=rules,
            clock=lambda: NOW,
        )
        self.tables = Tables(latest={}, versions={}, approvals={}, figures={})
        self.feed = Feed()

    @property
    def latest(self) -> MutableMapping[str, Any]:
        return self.tables.latest

    @property
    def versions(self) -> MutableMapping[str, Any]:
        return self.tables.versions

    def records(self, *events: CommuneReport | SourceRecord) -> list[SourceRecord]:
        return [e if isinstance(e, SourceRecord) else self.feed(e) for e in events]

    def batch(self, *events: CommuneReport | SourceRecord) -> BatchResult:
        result = self.step.run(self.records(*events), tables=self.tables)
        self.tables.store(result.writes)
        return result


def outputs(result: BatchResult, topic: str) -> list[OutputRecord]:
    return [o for o in result.outputs if o.topic == topic]


def figures(result: BatchResult, province: str = HANOI) -> dict[str, dict[str, Any]]:
    """The province's figures in a batch, by indicator, decoded from the published bytes."""
    found: dict[str, dict[str, Any]] = {}
    for output in outputs(result, TOPICS.province_indicators):
        payload = FIGURES.decode(output.value)
        if payload["province_code"] == province:
            assert output.key == f"{province}|{payload['period']}|{payload['indicator_code']}"
            found[payload["indicator_code"]] = payload
    return found


def changes(result: BatchResult) -> dict[str, dict[str, Any]]:
    codec = codec_for("province_indicator_change.v1")
    found = {}
    for output in outputs(result, TOPICS.province_indicator_changes):
        payload = codec.decode(output.value)
        assert output.key == (
            f"{payload['province_code']}|{payload['period']}|{payload['indicator_code']}"
        )
        found[payload["indicator_code"]] = payload
    return found


def completeness(result: BatchResult) -> list[dict[str, Any]]:
    codec = codec_for("province_completeness.v1")
    return [codec.decode(o.value) for o in outputs(result, TOPICS.province_completeness)]


def warnings(result: BatchResult) -> list[dict[str, Any]]:
    codec = codec_for("report_warning.v1")
    return [codec.decode(o.value) for o in outputs(result, TOPICS.report_warnings)]


def dead_letters(result: BatchResult) -> list[dict[str, Any]]:
    codec = codec_for("rejected_report.v1")
    return [codec.decode(o.value) for o in outputs(result, TOPICS.dead_letter)]


def accepted(result: BatchResult) -> list[dict[str, Any]]:
    return [ACCEPTED.decode(o.value) for o in outputs(result, TOPICS.accepted_reports)]


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
    decoded = ACCEPTED.decode(record.value)
    assert decoded == {
        "report_id": uuid.UUID(report.report_id),
        "commune_code": A,
        "province_code": HANOI,
        "report_type": "monthly",
        "period": PERIOD,
        "revision": 1,
        "submitted_at": SUBMITTED,
        "first_submitted_at": SUBMITTED,
        "accepted_at": SUBMITTED,
        "deadline": DEADLINE,
        "on_time": True,
        "amended": False,
        "indicators": {
            "tthc_received": 12.0,
            "tthc_resolved": 10.0,
            "tthc_resolved_on_time": 9.0,
        },
    }
    got = figures(result)
    assert set(got) == {
        "tthc_received",
        "tthc_resolved",
        "tthc_resolved_on_time",
        "tthc_on_time_rate",
    }
    received = got["tthc_received"]
    assert (received["value"], received["communes_reported"], received["version"]) == (12, 1, 1)
    assert (received["report_type"], received["deadline"]) == ("monthly", DEADLINE)
    assert (received["communes_with_warnings"], received["communes_amended"]) == (0, 0)
    assert received["updated_at"] == NOW
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
    # One table write per key, whatever the number of revisions.
    assert sorted((w.table, w.key) for w in result.writes) == [
        ("aggregates", f"{HANOI}|{PERIOD}"),
        ("figures", f"{HANOI}|{PERIOD}"),
        ("latest", f"{A}|{PERIOD}"),
        ("latest", f"{B}|{PERIOD}"),
        ("versions", f"{HANOI}|{PERIOD}"),
    ]


def test_a_duplicate_changes_nothing_but_re_emits_its_report_and_figures() -> None:
    worker = Worker()
    original = make_report(A, 1, tthc_received=10)
    first = worker.batch(original)
    state_before = dict(worker.latest)

    result = worker.batch(worker.feed(original, at=NOW + timedelta(days=1)))

    assert result.outcomes == {Outcome.DUPLICATE: 1}
    assert dead_letters(result) == []
    assert worker.latest == state_before
    # The very record accepted first, accepted_at included.
    assert accepted(result) == accepted(first)
    got = figures(result)["tthc_received"]
    assert (got["value"], got["version"]) == (10.0, 2)
    assert changes(result) == {}


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
        o.key: FIGURES.decode(o.value)["value"] for o in outputs(result, TOPICS.province_indicators)
    }
    assert by_key == {
        f"{HANOI}|2025-08|tthc_received": 9.0,
        f"{HANOI}|2025-09|tthc_received": 2.0,
        f"{OTHER_PROVINCE}|2025-08|tthc_received": 4.0,
    }


def test_other_report_types_carry_their_type_and_deadline() -> None:
    worker = Worker()

    result = worker.batch(
        make_report(A, period="2025-08-15", fires=1),
        make_report(A, period="2025-W33", tthc_received=4),
        make_report(A, period="2025-Q3", budget_revenue=100),
        make_report(A, period="2025", population=12_000),
    )

    assert result.accepted == 4
    got = {
        (p["period"], p["report_type"], p["indicator_code"]): p["deadline"]
        for p in map(FIGURES.decode, (o.value for o in outputs(result, TOPICS.province_indicators)))
    }
    local = timedelta(hours=7)
    assert got == {
        ("2025-08-15", "daily", "fires"): datetime(2025, 8, 17, tzinfo=UTC) - local - MS,
        ("2025-W33", "weekly", "tthc_received"): datetime(2025, 8, 20, tzinfo=UTC) - local - MS,
        ("2025-Q3", "quarterly", "budget_revenue"): datetime(2025, 10, 11, tzinfo=UTC) - local - MS,
        ("2025", "yearly", "population"): datetime(2026, 1, 16, tzinfo=UTC) - local - MS,
    }
    assert {c["report_type"] for c in completeness(result)} == {
        "daily",
        "weekly",
        "quarterly",
        "yearly",
    }


MS = timedelta(milliseconds=1)


# --- timeliness and completeness ---------------------------------------------------------


def test_completeness_counts_who_reported_on_time_and_late() -> None:
    worker = Worker()
    late = DEADLINE + MS

    result = worker.batch(
        make_report(A, submitted_at=DEADLINE),  # the last millisecond is still on time
        make_report(B, submitted_at=late),
        make_report(D, submitted_at=SUBMITTED),
    )

    by_province = {c["province_code"]: c for c in completeness(result)}
    assert by_province[HANOI] == {
        "province_code": HANOI,
        "report_type": "monthly",
        "period": PERIOD,
        "deadline": DEADLINE,
        "communes_expected": REFERENCE.communes_expected(HANOI),
        "communes_reported": 2,
        "communes_on_time": 1,
        "communes_late": 1,
        "version": 1,
        "updated_at": NOW,
    }
    assert (
        by_province[OTHER_PROVINCE]["communes_reported"],
        by_province[OTHER_PROVINCE]["communes_on_time"],
    ) == (1, 1)
    [out] = [o for o in outputs(result, TOPICS.province_completeness) if o.key.startswith(HANOI)]
    assert out.key == f"{HANOI}|monthly|{PERIOD}"
    assert [r["on_time"] for r in accepted(result)] == [True, False, True]


def test_timeliness_is_judged_on_the_first_accepted_revision() -> None:
    worker = Worker()
    worker.batch(make_report(A, 1, submitted_at=SUBMITTED))

    result = worker.batch(make_report(A, 2, submitted_at=DEADLINE + timedelta(days=3)))

    [record] = accepted(result)
    assert (record["first_submitted_at"], record["on_time"]) == (SUBMITTED, True)
    assert record["submitted_at"] == DEADLINE + timedelta(days=3)
    [counts] = completeness(result)
    assert (counts["communes_on_time"], counts["communes_late"], counts["version"]) == (1, 0, 2)


def test_timeliness_is_judged_on_the_receive_time_not_on_the_claimed_submitted_at() -> None:
    worker = Worker()
    received = DEADLINE + timedelta(days=15)  # arrives two weeks late, claims 2 September
    claim = make_report(A, submitted_at=SUBMITTED)

    result = worker.batch(worker.feed(claim, at=received))

    [record] = accepted(result)
    assert (record["submitted_at"], record["first_submitted_at"]) == (SUBMITTED, received)
    assert record["on_time"] is False
    [counts] = completeness(result)
    assert (counts["communes_on_time"], counts["communes_late"]) == (0, 1)
    [warning] = warnings(result)
    assert warning["warning_id"] == f"{claim.report_id}:submitted_at_far_from_receipt:"
    assert (warning["rule_code"], warning["indicator_code"]) == (
        "submitted_at_far_from_receipt",
        None,
    )
    assert warning["value"] == (SUBMITTED - received).total_seconds()
    assert warning["reference_value"] == 600.0
    assert "timeliness is judged on the receive time" in warning["message_en"]
    assert result.warnings == {"submitted_at_far_from_receipt": 1}
    # a claim about time flags no figure
    assert {f["communes_with_warnings"] for f in figures(result).values()} == {0}


def test_a_submitted_at_within_the_tolerance_raises_no_warning() -> None:
    worker = Worker()
    report = make_report(A, submitted_at=DEADLINE - timedelta(minutes=9))

    result = worker.batch(worker.feed(report, at=DEADLINE + MS))

    assert warnings(result) == []
    [record] = accepted(result)
    assert (record["first_submitted_at"], record["on_time"]) == (DEADLINE + MS, False)


def test_historic_reports_are_judged_on_their_own_submitted_at() -> None:
    worker = Worker()
    loaded_today = LOCKS_AT + timedelta(days=400)  # long after the lock

    result = worker.batch(
        worker.feed(
            make_report(A, submitted_at=SUBMITTED),
            at=loaded_today,
            topic=TOPICS.historic_reports,
        )
    )

    [record] = accepted(result)
    assert (record["first_submitted_at"], record["on_time"]) == (SUBMITTED, True)
    assert record["accepted_at"] == SUBMITTED
    assert warnings(result) == []
    # the same report received live today is past the lock
    [letter] = dead_letters(
        Worker().batch(Worker().feed(make_report(A, submitted_at=SUBMITTED), at=loaded_today))
    )
    assert reason_codes(letter) == ["period_locked"]


# --- locks and approvals -----------------------------------------------------------------


def test_a_submission_after_the_lock_is_refused_with_period_locked() -> None:
    worker = Worker()
    worker.batch(make_report(A, 1, tthc_received=1))
    in_time = worker.feed(make_report(B, tthc_received=2), at=LOCKS_AT)  # the last millisecond
    too_late = worker.feed(make_report(A, 2, tthc_received=5), at=LOCKS_AT + MS)
    first_too_late = worker.feed(make_report(C, tthc_received=5), at=LOCKS_AT + MS)

    result = worker.batch(in_time, too_late, first_too_late)

    assert result.outcomes == {Outcome.ACCEPTED: 1, Outcome.REJECTED: 2}
    letters = dead_letters(result)
    assert [(x["commune_code"], reason_codes(x)) for x in letters] == [
        (A, ["period_locked"]),
        (C, ["period_locked"]),
    ]
    assert letters[0]["reasons"][0]["message_en"] == (
        "Period 2025-08 locked at 2025-10-05T23:59:59+07:00; it no longer accepts reports "
        "or revisions"
    )
    assert letters[0]["reasons"][0]["field"] == "period"
    assert figures(result)["tthc_received"]["value"] == 3.0
    assert worker.latest[f"{A}|{PERIOD}"]["revision"] == 1


def test_after_the_lock_amendments_can_be_accepted_and_flagged() -> None:
    worker = Worker(DeadlineSettings(amendments_after_lock="accept"))
    worker.batch(make_report(A, 1, tthc_received=1), make_report(B, 1, tthc_received=1))

    result = worker.batch(worker.feed(make_report(A, 2, tthc_received=5), at=LOCKS_AT + MS))

    [record] = accepted(result)
    assert (record["amended"], record["accepted_at"]) == (True, LOCKS_AT + MS)
    got = figures(result)["tthc_received"]
    assert (got["value"], got["communes_amended"], got["communes_reported"]) == (6.0, 1, 2)


def test_an_approval_locks_what_is_submitted_from_its_time_on() -> None:
    worker = Worker()
    approved_at = NOW + timedelta(hours=1)
    worker.batch(worker.feed.approval(approved_at=approved_at))

    result = worker.batch(
        worker.feed(make_report(A, tthc_received=1), at=approved_at - MS),
        worker.feed(make_report(B, tthc_received=1), at=approved_at),
        worker.feed(make_report(D, tthc_received=1), at=approved_at),  # another province
        worker.feed(make_report(C, period="2025-09", tthc_received=1), at=approved_at),
    )

    assert [(x["commune_code"], reason_codes(x)) for x in dead_letters(result)] == [
        (B, ["period_locked"])
    ]
    message = dead_letters(result)[0]["reasons"][0]
    assert message["message_en"] == (
        "Period 2025-08 was approved by Chủ tịch UBND tỉnh at 2025-09-05T16:30:00+07:00; it no "
        "longer accepts reports or revisions"
    )
    assert "phê duyệt" in message["message_vi"]
    assert worker.tables.approvals[f"{HANOI}|{PERIOD}"]["approved_at_ms"] == millis(approved_at)
    assert result.accepted == 3


def decisions(result: BatchResult) -> list[dict[str, Any]]:
    return [dict(o.payload) for o in result.outputs if o.topic == TOPICS.approval_decisions]


def test_approval_steps_of_a_batch_apply_before_its_reports_and_a_stale_one_is_refused() -> None:
    """Issue 19: no longer "the earliest approval wins". A step taken before the period's
    last change (a stale page) is refused with its reason; the report is judged on the
    history at its own time."""
    worker = Worker()
    early, later = NOW, NOW + timedelta(days=1)

    result = worker.batch(
        worker.feed(make_report(A, tthc_received=1), at=early + MS),
        worker.feed.approval(approved_at=later),
        worker.feed.approval(approved_at=early),
    )

    assert result.approvals == {"applied": 1, "refused": 1}
    assert dead_letters(result) == []  # not approved at early + 1 ms
    assert worker.tables.approvals[f"{HANOI}|{PERIOD}"]["approved_at_ms"] == millis(later)
    applied, refused = decisions(result)
    assert (applied["outcome"], applied["state"], applied["version"]) == ("applied", "approved", 1)
    assert (refused["outcome"], refused["reason_code"]) == ("refused", "stale_step")
    assert "changed later" in refused["reason_en"]
    # The two decisions, then the report's own records; a step recomputes nothing itself.
    assert [o.topic for o in result.outputs[:3]] == [
        TOPICS.approval_decisions,
        TOPICS.approval_decisions,
        TOPICS.accepted_reports,
    ]
    assert result.recomputed == 1


def test_approve_unapprove_approve_accept_then_unapprove_is_refused() -> None:
    worker = Worker()
    t = [NOW + timedelta(minutes=m) for m in range(10)]
    result = worker.batch(
        worker.feed.approval(approved_at=t[0], action="approve", by="o01-1", based_on=0),
        worker.feed.approval(approved_at=t[1], action="unapprove", by="o01-1", based_on=1),
        worker.feed.approval(
            approved_at=t[2], action="unapprove", by="o01-1", note="sai số liệu", based_on=1
        ),
        worker.feed.approval(approved_at=t[3], action="approve", by="o01-2", based_on=2),
        worker.feed.approval(approved_at=t[4], action="accept", by="national-1", based_on=3),
        worker.feed.approval(
            approved_at=t[5], action="unapprove", by="o01-1", note="muộn", based_on=4
        ),
    )
    outcomes = [
        (d["action"], d["outcome"], d["reason_code"], d["state"]) for d in decisions(result)
    ]
    assert outcomes == [
        ("approve", "applied", None, "approved"),
        ("unapprove", "refused", "reason_required", "approved"),
        ("unapprove", "applied", None, "open"),
        ("approve", "applied", None, "approved"),
        ("accept", "applied", None, "accepted"),
        ("unapprove", "refused", "period_accepted", "accepted"),
    ]
    assert "tiếp nhận" in decisions(result)[-1]["reason_vi"]
    # Reports are judged on the history at their own time: open between t2 and t3.
    later = worker.batch(
        worker.feed(make_report(A, tthc_received=1), at=t[2] + MS),
        worker.feed(make_report(B, tthc_received=1), at=t[3] + MS),
        worker.feed(make_report(C, tthc_received=1), at=t[6]),
    )
    assert [(x["commune_code"], reason_codes(x)) for x in dead_letters(later)] == [
        (B, ["period_locked"]),
        (C, ["period_locked"]),
    ]
    assert "accepted nationally by national-1" in dead_letters(later)[1]["reasons"][0]["message_en"]


def test_two_officers_at_once_one_wins_the_other_gets_a_reason() -> None:
    worker = Worker()
    result = worker.batch(
        worker.feed.approval(approved_at=NOW, action="approve", by="o01-1", based_on=0),
        worker.feed.approval(
            approved_at=NOW, action="return", by="o01-2", commune=A, note="thiếu", based_on=0
        ),
    )
    first, second = decisions(result)
    assert first["outcome"] == "applied"
    assert (second["outcome"], second["reason_code"]) == ("refused", "concurrent_change")
    assert "o01-1" in second["reason_en"]


def test_a_returned_report_counts_until_its_correction_answers_it() -> None:
    worker = Worker()
    worker.batch(worker.feed(make_report(A, 1, tthc_received=4), at=NOW))
    sent_back = worker.batch(
        worker.feed.approval(
            approved_at=NOW + MS, action="return", commune=A, note="số liệu sai", based_on=0
        )
    )
    [decision] = decisions(sent_back)
    assert (decision["action"], decision["commune_code"], decision["note"]) == (
        "return",
        A,
        "số liệu sai",
    )
    key = f"{HANOI}|{PERIOD}"
    assert set(worker.tables.approvals[key]["returned"]) == {A}
    # Sending back on an approved period is refused until it is unapproved.
    approved = worker.batch(
        worker.feed.approval(approved_at=NOW + 2 * MS, action="approve", based_on=1),
        worker.feed.approval(
            approved_at=NOW + 3 * MS, action="return", commune=B, note="x", based_on=2
        ),
    )
    assert decisions(approved)[1]["reason_code"] == "period_approved"
    worker.batch(
        worker.feed.approval(approved_at=NOW + 4 * MS, action="unapprove", note="sửa", based_on=2)
    )
    corrected = worker.batch(worker.feed(make_report(A, 2, tthc_received=9), at=NOW + 5 * MS))
    assert figures(corrected)["tthc_received"]["value"] == 9.0
    [answer] = decisions(corrected)
    assert (answer["action"], answer["commune_code"]) == ("correction", A)
    assert worker.tables.approvals[key]["returned"] == {}


def test_an_invalid_approval_is_counted_dead_lettered_and_not_stored() -> None:
    worker = Worker()

    result = worker.batch(
        worker.feed.raw(b"not avro", topic=TOPICS.approvals),
        worker.feed.approval(approved_at=NOW, report_type="weekly"),  # period is monthly
        worker.feed.approval("99", approved_at=NOW),
        worker.feed.approval(period="2025-13", approved_at=NOW),
    )

    assert result.approvals == {"invalid": 4}
    assert worker.tables.approvals == {}
    letters = dead_letters(result)
    assert [reason_codes(x) for x in letters] == [["malformed_event"]] * 4
    assert all("not a valid approval" in x["reasons"][0]["message_en"] for x in letters)
    assert {x["source_topic"] for x in letters} == {TOPICS.approvals}
    assert len(result.outputs) == 4


def test_a_stale_revision_of_a_locked_period_gets_both_reasons() -> None:
    worker = Worker()
    worker.batch(make_report(A, 2, tthc_received=1))

    result = worker.batch(worker.feed(make_report(A, 1, tthc_received=1), at=LOCKS_AT + MS))

    assert [reason_codes(x) for x in dead_letters(result)] == [["stale_revision", "period_locked"]]


def test_a_resend_of_the_held_revision_after_the_lock_is_still_a_duplicate() -> None:
    worker = Worker()
    original = make_report(A, 1, tthc_received=1)
    worker.batch(original)

    result = worker.batch(worker.feed(original, at=LOCKS_AT + timedelta(days=1)))

    assert result.outcomes == {Outcome.DUPLICATE: 1}


# --- warnings ----------------------------------------------------------------------------


def test_resolved_parts_exceeding_received_warn_but_count() -> None:
    worker = Worker()
    report = make_report(
        A, tthc_received=10, tthc_resolved_on_time=8, tthc_resolved_late=4, tthc_resolved=12
    )

    result = worker.batch(report, make_report(B, tthc_received=5, tthc_resolved=1))

    assert result.accepted == 2 and result.warnings == {"resolved_exceeds_received": 1}
    [warning] = warnings(result)
    assert [o.key for o in outputs(result, TOPICS.report_warnings)] == [A]
    assert warning == {
        "warning_id": f"{report.report_id}:resolved_exceeds_received:tthc_received",
        "report_id": report.report_id,
        "commune_code": A,
        "province_code": HANOI,
        "report_type": "monthly",
        "period": PERIOD,
        "revision": 1,
        "rule_code": "resolved_exceeds_received",
        "indicator_code": "tthc_received",
        "value": 12.0,
        "reference_value": 10.0,
        "message_en": "Dossiers resolved on time and late (12) exceed the dossiers received (10)",
        "message_vi": "Số hồ sơ giải quyết đúng hạn và quá hạn (12) lớn hơn số hồ sơ tiếp nhận "
        "(10)",
        "raised_at": SUBMITTED,
    }
    got = figures(result)
    assert got["tthc_received"]["value"] == 15.0  # the warned report counts
    assert got["tthc_received"]["communes_with_warnings"] == 1
    assert got["tthc_resolved_on_time"]["communes_with_warnings"] == 1
    assert got["tthc_resolved"]["communes_with_warnings"] == 0
    # a ratio is flagged through its parts: on time (flagged) over resolved
    assert got["tthc_on_time_rate"]["communes_with_warnings"] == 1
    assert worker.latest[f"{A}|{PERIOD}"]["warned"] == [
        "tthc_received",
        "tthc_resolved_late",
        "tthc_resolved_on_time",
    ]


def test_resolved_differing_from_its_parts_warns() -> None:
    result = Worker().batch(
        make_report(A, tthc_resolved_on_time=3, tthc_resolved_late=4, tthc_resolved=9)
    )

    [warning] = warnings(result)
    assert (warning["rule_code"], warning["indicator_code"]) == (
        "resolved_parts_mismatch",
        "tthc_resolved",
    )
    assert (warning["value"], warning["reference_value"]) == (9.0, 7.0)


def test_a_value_far_from_the_commune_s_previous_period_warns() -> None:
    worker = Worker()
    july = make_report(A, period="2025-07", tthc_received=20, tthc_online=10, fires=50)
    worker.batch(worker.feed(july, at=NOW - timedelta(days=30)))

    result = worker.batch(make_report(A, tthc_received=201, tthc_online=2, fires=6))

    [warning] = warnings(result)
    assert (warning["rule_code"], warning["indicator_code"]) == (
        "far_from_history",
        "tthc_received",
    )
    assert (warning["value"], warning["reference_value"]) == (201.0, 20.0)
    assert "2025-07" in warning["message_en"]
    # tthc_online 10 -> 2 and fires 50 -> 6: one side below 10, too small to judge
    assert figures(result)["tthc_received"]["communes_with_warnings"] == 1
    assert figures(result)["tthc_online_rate"]["communes_with_warnings"] == 1


def test_a_revision_without_the_break_clears_the_flag() -> None:
    worker = Worker()
    worker.batch(make_report(A, 1, tthc_received=1, tthc_resolved_on_time=5))

    result = worker.batch(make_report(A, 2, tthc_received=6, tthc_resolved_on_time=5))

    assert warnings(result) == []
    assert figures(result)["tthc_received"]["communes_with_warnings"] == 0


# --- history -----------------------------------------------------------------------------


def test_changed_figures_are_recorded_with_the_revisions_that_caused_them() -> None:
    worker = Worker()
    a1 = make_report(A, 1, tthc_received=10, tthc_online=5)
    b1 = make_report(B, 1, tthc_received=20, tthc_online=5)
    first = worker.batch(a1, b1)

    assert {code: (c["previous_value"], c["value"]) for code, c in changes(first).items()} == {
        "tthc_received": (None, 30.0),
        "tthc_online": (None, 10.0),
        "tthc_online_rate": (None, 10 / 30),
    }
    a2 = make_report(A, 2, tthc_received=15, tthc_online=5)

    second = worker.batch(a2)

    got = changes(second)
    assert set(got) == {"tthc_received", "tthc_online_rate"}  # tthc_online stays 10
    assert got["tthc_received"] == {
        "province_code": HANOI,
        "report_type": "monthly",
        "period": PERIOD,
        "indicator_code": "tthc_received",
        "version": 2,
        "value": 35.0,
        "previous_value": 30.0,
        "known_at": NOW,
        "causes": [
            {
                "commune_code": A,
                "report_id": a2.report_id,
                "revision": 2,
                "previous_value": 10.0,
                "value": 15.0,
            }
        ],
    }
    rate = got["tthc_online_rate"]
    assert (rate["previous_value"], rate["value"]) == (10 / 30, 10 / 35)
    assert rate["causes"][0]["previous_value"] == 0.5
    assert rate["causes"][0]["value"] == 5 / 15
    assert worker.tables.figures[f"{HANOI}|{PERIOD}"] == {
        "tthc_received": 35.0,
        "tthc_online": 10.0,
        "tthc_online_rate": 10 / 35,
    }


def test_a_figure_no_commune_reports_any_more_is_withdrawn_once() -> None:
    worker = Worker()
    worker.batch(make_report(A, 1, tthc_received=10, fires=2))

    dropped = worker.batch(make_report(A, 2, tthc_received=10))

    fires = figures(dropped)["fires"]
    assert (fires["value"], fires["communes_reported"], fires["version"]) == (None, 0, 2)
    assert changes(dropped)["fires"]["previous_value"] == 2.0
    assert changes(dropped)["fires"]["value"] is None
    assert changes(dropped)["fires"]["causes"][0]["value"] is None
    assert worker.tables.figures[f"{HANOI}|{PERIOD}"] == {"tthc_received": 10.0}

    again = worker.batch(make_report(A, 3, tthc_received=11))

    assert "fires" not in figures(again) and set(changes(again)) == {"tthc_received"}


# --- exactly once in effect --------------------------------------------------------------


def test_run_stores_nothing_until_store_is_called() -> None:
    worker = Worker()
    approval = worker.feed.approval(approved_at=NOW + timedelta(days=1))
    records = worker.records(make_report(A, tthc_received=1), approval)

    result = worker.step.run(records, tables=worker.tables)

    assert worker.tables == Tables(latest={}, versions={}, approvals={}, figures={})
    assert {w.table for w in result.writes} == {
        "latest",
        "versions",
        "figures",
        "approvals",
        "aggregates",
    }


def test_a_replay_after_a_crash_before_the_state_was_stored_re_emits_the_same_records() -> None:
    worker = Worker()
    worker.batch(make_report(A, 1, tthc_received=10, tthc_resolved_on_time=20))
    records = worker.records(
        make_report(A, 2, tthc_received=7, tthc_resolved_on_time=20),
        make_report(B, 1, tthc_received=3),
        make_report(B, 1, tthc_received=4),  # conflicting
    )

    before_crash = worker.step.run(records, tables=worker.tables)
    replay = worker.step.run(records, tables=worker.tables)

    assert replay.outputs == before_crash.outputs  # same ids, versions and changes
    assert replay.writes == before_crash.writes


def test_a_replay_after_the_state_was_stored_re_emits_figures_without_changes() -> None:
    worker = Worker()
    records = worker.records(make_report(A, tthc_received=10), make_report(B, tthc_received=3))
    first = worker.step.run(records, tables=worker.tables)
    worker.tables.store(first.writes)

    replay = worker.step.run(records, tables=worker.tables)

    assert replay.outcomes == {Outcome.DUPLICATE: 2}
    assert changes(replay) == {}
    assert figures(replay)["tthc_received"]["version"] == 2
    assert figures(replay)["tthc_received"]["value"] == 13.0
    assert accepted(replay) == accepted(first)


@pytest.mark.parametrize("lost", ["aggregates", "latest"])
def test_a_crash_that_stored_part_of_a_batch_s_state_is_repaired_by_the_replay(lost: str) -> None:
    """The tables are written one after the other: a crash between two leaves ``latest`` and
    the province's running sums out of step. The replay must notice and rebuild the sums from
    the communes' latest revisions instead of retracting the wrong values."""
    worker = Worker()
    worker.batch(make_report(A, 1, tthc_received=10), make_report(B, 1, tthc_received=3))
    records = worker.records(
        make_report(A, 2, tthc_received=7), make_report(C, 1, tthc_received=100)
    )
    crashed = worker.step.run(records, tables=worker.tables)
    worker.tables.store([w for w in crashed.writes if w.table != lost])

    replay = worker.step.run(records, tables=worker.tables)
    worker.tables.store(replay.writes)
    after = worker.batch(make_report(B, 2, tthc_received=1))

    assert figures(replay)["tthc_received"]["value"] == 110.0
    assert figures(after)["tthc_received"]["value"] == 108.0
    assert figures(after)["tthc_received"]["communes_reported"] == 3


def test_state_of_a_worker_without_running_sums_is_rebuilt_once_then_kept() -> None:
    """A worker upgraded onto the state of the release before (no ``aggregates`` table)
    rebuilds a province's sums from ``latest`` the first time it touches it."""
    worker = Worker()
    worker.batch(make_report(A, 1, tthc_received=10), make_report(B, 1, tthc_received=3))
    worker.tables.aggregates.clear()

    upgraded = worker.batch(make_report(A, 2, tthc_received=7))
    later = worker.batch(make_report(C, 1, tthc_received=1))

    assert figures(upgraded)["tthc_received"]["value"] == 10.0
    assert figures(later)["tthc_received"]["value"] == 11.0
    assert set(worker.tables.aggregates) == {f"{HANOI}|{PERIOD}"}


def test_state_written_by_the_previous_worker_still_reads() -> None:
    worker = Worker()
    old = {  # what the issue-2 worker stored
        "report_id": str(uuid.uuid4()),
        "revision": 1,
        "submitted_at_ms": millis(SUBMITTED),
        "digest": "x",
        "indicators": {"tthc_received": 4.0},
    }
    worker.latest[f"{A}|{PERIOD}"] = old

    result = worker.batch(make_report(A, 2, tthc_received=5))

    [record] = accepted(result)
    assert (record["first_submitted_at"], record["on_time"]) == (SUBMITTED, True)
    # No figures were recorded as published yet: every figure is a change from nothing.
    assert changes(result)["tthc_received"]["previous_value"] is None


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
    "indicator_not_in_report_type": lambda: make_report(A, period="2025-08-15", population=1),
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
    step = RollupStep(topics=TOPICS, reference=REFERENCE, catalogue=CATALOGUE, deadlines=RULES)
    feed = Feed()
    records = [
        feed.raw(b"garbage"),
        feed(make_report(D, tthc_received=1)),
        feed(make_report(A, tthc_received=1)),
        feed(make_report(B, tthc_received=1)),
        feed.approval(approved_at=NOW + timedelta(days=1)),
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

    tables = Tables(
        latest=FocusedDict(active),
        versions=FocusedDict(active),
        approvals=FocusedDict(active),
        figures=FocusedDict(active),
    )

    result = step.run(records, tables=tables, focus=focus)

    # The approval first, one focus per report, one per province (the first event of that
    # province), and nothing else.
    assert entered == [4, 0, 1, 2, 3, 1, 2]
    # Each write is anchored to an event of its key's partition: delivery.store_writes stores it in
    # that event's partition.
    province_of = {1: OTHER_PROVINCE, 2: HANOI, 3: HANOI, 4: HANOI}
    for write in result.writes:
        assert write.key.split("|")[0] in {province_of[write.anchor], D, A, B}
        if write.table != "latest":
            assert write.key.startswith(province_of[write.anchor])
