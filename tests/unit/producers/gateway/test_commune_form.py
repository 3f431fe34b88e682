"""The commune app's form logic against a fixed clock, the gateway's real SQLite log and a
stand-in for ClickHouse's views: which periods are offered, their status, and what the gate
refuses before publishing."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path

import pytest

from baocao.core.catalogue import load_catalogue
from baocao.core.models import LOCAL_TIMEZONE, CommuneReport
from baocao.core.periods import parse_period
from baocao.core.reference import load_reference
from baocao.core.settings import Settings
from baocao.producers.gateway.exceptions import ReportRejectedError, ServiceUnavailableError
from baocao.producers.gateway.form import FormService, period_labels
from baocao.producers.gateway.status import StreamRejection
from baocao.producers.gateway.store import GatewayStore
from baocao.producers.gateway.submissions import Submission, SubmissionLog

#: 06:00 on 5 December 2026 in Hà Nội: October's revisions lock at the end of this day.
NOW = datetime(2026, 12, 5, 6, 0, tzinfo=LOCAL_TIMEZONE)


class Views:
    """ClickHouse's views as the form reads them; ``down`` makes every read fail."""

    def __init__(self) -> None:
        self.accepted: dict[str, CommuneReport] = {}
        self.approved: dict[str, str] = {}
        self.refused: set[str] = set()
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise ServiceUnavailableError("ClickHouse is down")

    def latest_figures(self, commune: str, periods: Collection[str]) -> dict[str, CommuneReport]:
        self._check()
        return {p: r for p, r in self.accepted.items() if p in periods}

    def approvals(self, province: str, periods: Collection[str]) -> dict[str, str]:
        self._check()
        return {p: a for p, a in self.approved.items() if p in periods}

    def rejections(self, commune: str, ids: Collection[str]) -> dict[str, StreamRejection]:
        self._check()
        return {i: StreamRejection(i, NOW, ()) for i in ids if i in self.refused}


def report(period: str, revision: int = 1, **indicators: float) -> CommuneReport:
    return CommuneReport(
        report_id=f"r-{period}-{revision}-{sum(indicators.values())}",
        commune_code="00070",
        province_code="01",
        period=period,
        revision=revision,
        submitted_at=NOW.astimezone(UTC),
        indicators=indicators or {"tthc_received": 10.0},
    )


@pytest.fixture
def views() -> Views:
    return Views()


@pytest.fixture
def log(tmp_path: Path) -> SubmissionLog:
    return SubmissionLog(GatewayStore(tmp_path / "gateway.db").open())


@pytest.fixture
def form(log: SubmissionLog, views: Views) -> FormService:
    return FormService(
        settings=Settings(),
        log=log,
        reader=views,  # type: ignore[arg-type]
        reference=load_reference(),
        catalogue=load_catalogue(),
        clock=lambda: NOW.astimezone(UTC),
    )


def sent(log: SubmissionLog, r: CommuneReport, received: datetime) -> None:
    submission = Submission.received(r, token_id="login:c", received_at=received)
    log.claim(submission)
    log.mark_published(
        r.commune_code, r.report_id, partition=0, offset=0, published_at=received, response={}
    )


def monthly(answer: dict[str, object]) -> dict[str, dict[str, object]]:
    types = answer["report_types"]
    assert isinstance(types, list)
    found = next(t for t in types if t["report_type"] == "monthly")
    return {p["period"]: p for p in found["periods"]}


def test_open_periods_with_their_status_and_the_newest_locked_one(
    form: FormService, log: SubmissionLog, views: Views
) -> None:
    sent(log, report("2026-11"), datetime(2026, 12, 5, 16, 59, 59, tzinfo=UTC))  # 23:59:59 local
    sent(log, report("2026-10"), datetime(2026, 11, 5, 17, 0, 0, tzinfo=UTC))  # 00:00 on the 6th
    views.approved["2026-12"] = "2026-12-05T01:00:00+00:00"
    periods = monthly(form.form("00070"))
    assert list(periods) == ["2026-12", "2026-11", "2026-10", "2026-09"]
    assert {p: v["state"] for p, v in periods.items()} == {
        "2026-12": "locked",  # approved by the province
        "2026-11": "on_time",  # received in the last second before the deadline
        "2026-10": "late",
        "2026-09": "locked",  # past its lock: shown, so the clerk sees why
    }
    assert periods["2026-11"]["deadline"] == "2026-12-05T23:59:59+07:00"
    assert periods["2026-10"]["locks_at"] == "2026-12-05T23:59:59+07:00"
    assert periods["2026-12"]["ended"] is False and periods["2026-11"]["ended"] is True


def test_a_report_refused_by_the_stream_does_not_count_as_submitted(
    form: FormService, log: SubmissionLog, views: Views
) -> None:
    refused = report("2026-11")
    sent(log, refused, NOW)
    views.refused.add(refused.report_id)
    assert monthly(form.form("00070"))["2026-11"]["state"] == "not_submitted"


def test_without_clickhouse_the_form_still_answers_from_the_log(
    form: FormService, log: SubmissionLog, views: Views
) -> None:
    views.down = True
    sent(log, report("2026-11"), NOW)
    answer = form.form("00070")
    assert answer["history_checked"] is False
    assert monthly(answer)["2026-11"]["state"] == "on_time"


def codes(form: FormService, r: CommuneReport) -> list[str]:
    with pytest.raises(ReportRejectedError) as refused:
        form.gate(r)
    return [str(x.code) for x in refused.value.reasons]


def test_the_gate_refuses_a_locked_period_and_stale_or_conflicting_revisions(
    form: FormService, log: SubmissionLog, views: Views
) -> None:
    assert codes(form, report("2026-09")) == ["period_locked"]
    views.approved["2026-12"] = "2026-12-05T01:00:00+00:00"
    assert codes(form, report("2026-12")) == ["period_locked"]

    second = report("2026-11", 2, tthc_received=12)
    sent(log, report("2026-11", 1), NOW)
    sent(log, second, NOW)
    assert codes(form, report("2026-11", 1, tthc_received=11)) == ["stale_revision"]
    assert codes(form, report("2026-11", 2, tthc_received=13)) == ["conflicting_revision"]
    form.gate(second)  # the same report again (a retry) is not its own rival
    form.gate(report("2026-11", 3, tthc_received=14))
    views.accepted["2026-10"] = report("2026-10", 4)  # sent another way (an import)
    assert codes(form, report("2026-10", 3)) == ["stale_revision"]


def test_the_last_accepted_revision_and_the_next_number(
    form: FormService, log: SubmissionLog, views: Views
) -> None:
    views.accepted["2026-11"] = report("2026-11", 2, tthc_received=12)
    sent(log, report("2026-11", 3, tthc_received=15), NOW)  # sent, not yet processed
    latest = form.latest("00070", "2026-11")
    assert latest["accepted"]["revision"] == 2
    assert latest["accepted"]["indicators"] == {"tthc_received": 12.0}
    assert latest["next_revision"] == 4


def test_period_labels_read_as_people_write_them() -> None:
    assert period_labels(parse_period("2026-11")) == ("Tháng 11/2026", "November 2026")
    assert period_labels(parse_period("2026-Q4")) == ("Quý 4/2026", "Q4 2026")
    assert period_labels(parse_period("2026-12-05"))[0] == "Ngày 05/12/2026"
    assert period_labels(parse_period("2026-W49"))[0] == "Tuần 49/2026 (từ 30/11)"
    assert period_labels(parse_period("2026")) == ("Năm 2026", "Year 2026")


def test_the_status_of_a_report_refused_for_its_period_has_no_deadline(
    log: SubmissionLog,
) -> None:
    """Never a 5xx: a report the stream refused for an invalid period is still answered."""
    from baocao.core.settings import DeadlineSettings
    from baocao.producers.gateway.lookup import StatusService
    from baocao.producers.gateway.status import KnownReport
    from baocao.producers.gateway.tokens import Principal, Scope

    report_id = "6f1c1f52-2f51-4d0e-9a36-7a4f0c9b1e11"
    known = KnownReport(report_id, "00070", "01", "2026-13", 1)

    class Refused:
        def find(self, _id: str, *, communes: Collection[str]) -> KnownReport:
            return known

        def latest_revisions(self, _commune: str, _periods: Collection[str]) -> dict[str, object]:
            return {}

        def rejections(self, _commune: str, ids: Collection[str]) -> dict[str, StreamRejection]:
            return {report_id: StreamRejection("t:0:1", NOW, ())}

        def returned_notes(self, _commune: str, _periods: Collection[str]) -> dict[str, object]:
            return {}

    status = StatusService(
        log=log,
        reader=Refused(),  # type: ignore[arg-type]
        reference=load_reference(),
        deadlines=DeadlineSettings(),
    )
    answer = status.report(Principal("login:c", Scope.COMMUNE, "00070"), report_id)
    assert answer["state"] == "rejected"
    assert answer["deadline"] is None and answer["on_time"] is None
