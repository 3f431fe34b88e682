"""What a report's status is, from the gateway's record and ClickHouse's facts."""

from __future__ import annotations

from datetime import UTC, datetime

from baocao.producers.gateway.status import (
    KnownReport,
    LatestRevision,
    ReportState,
    ReturnedNote,
    StreamRejection,
    decide_status,
)

MINE = "11111111-1111-4111-8111-111111111111"
OTHER = "22222222-2222-4222-8222-222222222222"
WHEN = datetime(2025, 9, 3, tzinfo=UTC)


def known(revision: int = 2, digest: str | None = "figures") -> KnownReport:
    return KnownReport(
        report_id=MINE,
        commune_code="00070",
        province_code="01",
        period="2025-08",
        revision=revision,
        content_digest=digest,
    )


def latest(report_id: str, revision: int, digest: str = "figures") -> LatestRevision:
    return LatestRevision(
        report_id=report_id, revision=revision, submitted_at=WHEN, content_digest=digest
    )


REJECTION = StreamRejection(
    rejection_id="t.commune-reports:0:7",
    rejected_at=WHEN,
    reasons=(
        {
            "code": "stale_revision",
            "field": "revision",
            "message_en": "Revision 2 ...",
            "message_vi": "Lần điều chỉnh 2 ...",
        },
    ),
)


def test_nothing_known_yet_is_pending() -> None:
    status = decide_status(known(), None, None)
    assert status.state is ReportState.PENDING
    assert status.as_json()["latest_revision"] is None


def test_the_latest_row_being_this_report_is_accepted() -> None:
    status = decide_status(known(), latest(MINE, 2), None)
    assert status.state is ReportState.ACCEPTED
    assert status.as_json()["latest_revision"] == 2


def test_accepted_wins_over_a_rejected_resend_of_the_same_id() -> None:
    assert decide_status(known(), latest(MINE, 2), REJECTION).state is ReportState.ACCEPTED


def test_a_rejection_is_reported_with_its_reasons() -> None:
    status = decide_status(known(), latest(OTHER, 3), REJECTION)
    assert status.state is ReportState.REJECTED
    answer = status.as_json()
    assert [r["code"] for r in answer["reasons"]] == ["stale_revision"]
    assert answer["rejected_at"] == "2025-09-03T00:00:00+00:00"


def test_a_higher_revision_supersedes() -> None:
    status = decide_status(known(revision=1), latest(OTHER, 2), None)
    assert status.state is ReportState.SUPERSEDED
    assert status.as_json()["superseded_by"] == {"report_id": OTHER, "revision": 2}


def test_an_exact_resend_under_another_id_is_accepted_as_a_duplicate() -> None:
    status = decide_status(known(), latest(OTHER, 2), None)
    assert status.state is ReportState.ACCEPTED
    assert status.as_json()["duplicate_of"] == OTHER


def test_same_revision_other_figures_without_rejection_yet_is_pending() -> None:
    assert decide_status(known(), latest(OTHER, 2, "else"), None).state is ReportState.PENDING
    assert decide_status(known(digest=None), latest(OTHER, 2), None).state is ReportState.PENDING


def test_a_lower_latest_revision_means_not_processed_yet() -> None:
    assert decide_status(known(revision=3), latest(OTHER, 2), None).state is ReportState.PENDING


def test_a_report_its_province_sent_back_is_returned_with_the_note() -> None:
    """Issue 19: the commune sees "returned" and the officer's note; it still counts."""
    note = ReturnedNote("Số hồ sơ tiếp nhận chưa khớp", "o01-1", WHEN)
    status = decide_status(known(), latest(MINE, 2), None, note)
    assert status.state is ReportState.RETURNED
    answer = status.as_json()
    assert answer["state"] == "returned" and answer["latest_revision"] == 2
    assert answer["returned"] == {
        "note": "Số hồ sơ tiếp nhận chưa khớp",
        "returned_by": "o01-1",
        "returned_at": WHEN.isoformat(),
    }
    # A send-back concerns the latest revision only: an older one stays superseded.
    assert decide_status(known(1), latest(OTHER, 2), None, note).state is ReportState.SUPERSEDED
