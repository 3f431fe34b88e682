"""What the commune app asks the gateway: the periods open to a commune with their status,
the indicators of a report type, and the dry run of a report (``POST /v1/reports:validate``).

Every rule here is the pipeline's own code, imported from core: the report's shape and
semantics (:func:`~baocao.producers.verdicts.judge_document`), deadlines and locks
(:mod:`baocao.core.periods` with the worker's :class:`~baocao.core.settings.DeadlineSettings`),
and the soft rules (:mod:`baocao.core.soft_rules`, the worker's warnings). What needs the
pipeline's state (the commune's history, the accepted revision, the province's approval) is
read from ClickHouse's views; when ClickHouse does not answer, the dry run says that it could
not check them (``history_checked: false``) rather than failing: the worker still will.

The page applies only the hard rules the catalogue's data implies (:meth:`FormService.indicators`
serves them as data), so no rule is written twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from baocao.core.catalogue import Catalogue, Indicator
from baocao.core.models import LOCAL_TIMEZONE, CommuneReport
from baocao.core.periods import (
    Period,
    PeriodError,
    ReportType,
    deadline,
    locks_at,
    parse_period,
    period_containing,
)
from baocao.core.reasons import Reason, ReasonCode, reason
from baocao.core.reference import ReferenceData
from baocao.core.settings import Settings
from baocao.core.soft_rules import RuleBreak, soft_rule_breaks, timing_break
from baocao.core.validation import MAX_VALUE
from baocao.producers.gateway.exceptions import (
    ForbiddenError,
    NotFoundError,
    ReportRejectedError,
    ServiceUnavailableError,
)
from baocao.producers.gateway.status import PipelineReader
from baocao.producers.gateway.submissions import Submission, SubmissionLog, SubmissionState
from baocao.producers.gateway.tokens import Principal
from baocao.producers.verdicts import decode_text, judge_document, parse_json

__all__ = ["FormService", "PeriodState"]

logger = logging.getLogger(__name__)


class PeriodState(StrEnum):
    """A period's status for one commune, as the app shows it."""

    NOT_SUBMITTED = "not_submitted"
    ON_TIME = "on_time"
    LATE = "late"
    LOCKED = "locked"
    #: Sent back by the province for a correction (the province's return comes next).
    RETURNED = "returned"


REPORT_TYPE_NAMES: dict[ReportType, tuple[str, str]] = {
    ReportType.DAILY: ("Báo cáo ngày", "Daily report"),
    ReportType.WEEKLY: ("Báo cáo tuần", "Weekly report"),
    ReportType.MONTHLY: ("Báo cáo tháng", "Monthly report"),
    ReportType.QUARTERLY: ("Báo cáo quý", "Quarterly report"),
    ReportType.YEARLY: ("Báo cáo năm", "Yearly report"),
}
#: The catalogue's units, in Vietnamese.
UNIT_NAMES_VI: dict[str, str] = {
    "case": "vụ",
    "cell": "chi bộ",
    "day": "ngày",
    "document": "văn bản",
    "dossier": "hồ sơ",
    "flag": "có/không (1 hoặc 0)",
    "household": "hộ",
    "million VND": "triệu đồng",
    "percent": "%",
    "person": "người",
    "ratio": "tỷ lệ",
    "service": "dịch vụ",
}
#: How many periods of each type the form offers (newest first), and the locked one after.
OFFERED_PERIODS: dict[ReportType, int] = {
    ReportType.DAILY: 7,
    ReportType.WEEKLY: 5,
    ReportType.MONTHLY: 4,
    ReportType.QUARTERLY: 3,
    ReportType.YEARLY: 2,
}


def period_labels(period: Period) -> tuple[str, str]:
    """How a person writes the period, in Vietnamese and English."""
    start = period.starts_at
    if period.report_type is ReportType.DAILY:
        return f"Ngày {start:%d/%m/%Y}", f"{start:%d %b %Y}"
    if period.report_type is ReportType.WEEKLY:
        year, week = period.text.split("-W")
        return f"Tuần {int(week)}/{year} (từ {start:%d/%m})", f"Week {int(week)} of {year}"
    if period.report_type is ReportType.MONTHLY:
        return f"Tháng {start.month}/{start.year}", f"{start:%B %Y}"
    if period.report_type is ReportType.QUARTERLY:
        quarter = period.text[-1]
        return f"Quý {quarter}/{start.year}", f"Q{quarter} {start.year}"
    return f"Năm {start.year}", f"Year {start.year}"


def _local(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TIMEZONE).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class _Known:
    """What the pipeline knows of one commune's periods (empty when ClickHouse is down)."""

    accepted: Mapping[str, CommuneReport]
    approvals: Mapping[str, str]
    rejected: frozenset[str]
    checked: bool


class FormService:
    """Blocking (SQLite and ClickHouse reads): the routes run it in the thread pool."""

    def __init__(
        self,
        *,
        settings: Settings,
        log: SubmissionLog,
        reader: PipelineReader,
        reference: ReferenceData,
        catalogue: Catalogue,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._deadlines = settings.deadlines
        self._tolerance = settings.worker.submitted_at_tolerance_seconds
        self._log = log
        self._reader = reader
        self.reference = reference
        self.catalogue = catalogue
        self._clock = clock

    # -- the form ------------------------------------------------------------------------

    def form_commune(self, commune_code: str) -> dict[str, Any]:
        """The commune a clerk reports for, by name."""
        commune = self.reference.communes[commune_code]
        province = self.reference.provinces[commune.province_code]
        return {
            "commune": {
                "code": commune.code,
                "name": commune.name,
                "province_code": province.code,
                "province_name": province.name,
            }
        }

    def form(self, commune_code: str) -> dict[str, Any]:
        """The commune, and for each report type the periods it may report, with status."""
        commune = self.reference.communes[commune_code]
        now = self._clock()
        offered = {t: self._offered(t, now) for t in ReportType}
        every = {p.text for periods in offered.values() for p in periods}
        known = self._known(commune_code, commune.province_code, every)
        sent = self._sent(commune_code)
        types = []
        for report_type, periods in offered.items():
            if not self.catalogue.for_report_type(report_type):
                continue
            name_vi, name_en = REPORT_TYPE_NAMES[report_type]
            types.append(
                {
                    "report_type": str(report_type),
                    "name_vi": name_vi,
                    "name_en": name_en,
                    "periods": [self._period(p, now, known, sent.get(p.text, [])) for p in periods],
                }
            )
        return {
            **self.form_commune(commune_code),
            "now": _local(now),
            "states": [str(s) for s in PeriodState],
            "history_checked": known.checked,
            "report_types": types,
        }

    def indicators(self, report_type: str) -> dict[str, Any]:
        """The indicators a report of ``report_type`` carries, and the hard rules the page may
        apply offline, as data from the catalogue (never a copy of a rule in JavaScript)."""
        try:
            kind = ReportType(report_type)
        except ValueError:
            raise NotFoundError(f"no report type {report_type!r}") from None
        carried = self.catalogue.for_report_type(kind)
        ratios = [i for i in carried if i.is_derived]
        parts_of: dict[str, list[tuple[Indicator, str]]] = {}
        for ratio in ratios:
            parts_of.setdefault(str(ratio.numerator), []).append((ratio, "numerator"))
            parts_of.setdefault(str(ratio.denominator), []).append((ratio, "denominator"))
        fields = [self._field(i, parts_of.get(i.code, [])) for i in carried if not i.is_derived]
        name_vi, name_en = REPORT_TYPE_NAMES[kind]
        return {
            "report_type": str(kind),
            "name_vi": name_vi,
            "name_en": name_en,
            "fields": fields,
            "ratios": [
                {
                    "code": r.code,
                    "name_vi": r.name_vi,
                    "name_en": r.name_en,
                    "numerator": r.numerator,
                    "denominator": r.denominator,
                }
                for r in ratios
            ],
            # The rules of baocao.core.validation that depend only on the catalogue's data.
            "rules": {"max_value": MAX_VALUE, "at_least_one_value": True},
        }

    def latest(self, commune_code: str, period_text: str) -> dict[str, Any]:
        """The last accepted revision of a period ("Sửa báo cáo" opens it) and the revision a
        correction must carry (one more than any revision sent or accepted)."""
        try:
            period = parse_period(period_text)
        except PeriodError:
            raise NotFoundError(f"{period_text!r} is not a period") from None
        commune = self.reference.communes[commune_code]
        known = self._known(commune_code, commune.province_code, {period.text}, strict=True)
        accepted = known.accepted.get(period.text)
        sent = [
            s
            for s in self._sent(commune_code).get(period.text, [])
            if s.report_id not in known.rejected
        ]
        revisions = [s.revision for s in sent] + ([accepted.revision] if accepted else [])
        return {
            "period": period.text,
            "report_type": str(period.report_type),
            "accepted": None
            if accepted is None
            else {
                "report_id": accepted.report_id,
                "revision": accepted.revision,
                "indicators": dict(accepted.indicators),
                "submitted_at": _local(accepted.submitted_at),
            },
            "next_revision": max(revisions, default=0) + 1,
        }

    # -- the dry run ---------------------------------------------------------------------

    def check(self, principal: Principal, body: bytes) -> dict[str, Any]:
        """The dry run: every reason the pipeline would refuse the report for, and every
        warning it would give, without publishing anything."""
        text, problem = decode_text(body, strip_bom=True)
        document: Any = None
        if problem is None:
            document, problem = parse_json(text)
        if problem is not None:
            return {"valid": False, "reasons": [problem.as_json()], "warnings": []}
        named = document.get("commune_code") if isinstance(document, Mapping) else None
        if isinstance(named, str) and not principal.may_submit(named):
            raise ForbiddenError(
                f"this login reports for commune {principal.code} only, not {named!r}",
                message_vi=f"Tài khoản này chỉ báo cáo cho xã {principal.code}, không phải "
                f"{named}.",
            )
        verdict = judge_document(document, reference=self.reference, catalogue=self.catalogue)
        if verdict.report is None:
            return {
                "valid": False,
                "reasons": [r.as_json() for r in verdict.reasons],
                "warnings": [],
            }
        report = verdict.report
        now = self._clock()
        reasons = list(verdict.reasons)
        warnings: list[RuleBreak] = []
        answer: dict[str, Any] = {"history_checked": False}
        if not reasons:
            period = parse_period(report.period)
            known = self._known(
                report.commune_code,
                report.province_code,
                {period.text, period.previous().text},
            )
            reasons.extend(self._refusals(report, period, now, known))
            previous = known.accepted.get(period.previous().text)
            warnings = soft_rule_breaks(
                report.indicators,
                previous=None if previous is None else dict(previous.indicators),
                previous_period=period.previous().text,
                catalogue=self.catalogue,
            )
            claim = timing_break(
                _ms(report.submitted_at), _ms(now), tolerance_seconds=self._tolerance
            )
            if claim is not None:
                warnings.append(claim)
            due = deadline(period, self._deadlines)
            answer = {
                "history_checked": known.checked,
                "deadline": _local(due),
                "on_time_if_received_now": now <= due,
            }
        return {
            "valid": not reasons,
            "report_id": report.report_id,
            "reasons": [r.as_json() for r in reasons],
            "warnings": [_warning(b) for b in warnings],
            **answer,
        }

    def gate(self, report: CommuneReport) -> None:
        """Refuse, before publishing, what the stream would refuse for sure: a locked period,
        or a revision older than (or conflicting with) one already sent. A stale tab gets this
        clear answer at once, and its report is not published to be dead-lettered."""
        period = parse_period(report.period)
        known = self._known(report.commune_code, report.province_code, {period.text})
        reasons = self._refusals(report, period, self._clock(), known)
        if reasons:
            raise ReportRejectedError(tuple(reasons), report_id=report.report_id)

    # -- the pieces ----------------------------------------------------------------------

    @staticmethod
    def _field(indicator: Indicator, parts: list[tuple[Indicator, str]]) -> dict[str, Any]:
        """One input of the form: labels, unit and help (from the catalogue's data)."""
        help_vi: list[str] = []
        help_en: list[str] = []
        for ratio, role in parts:
            help_vi.append(
                f"Dùng để tính «{ratio.name_vi}» "
                f"({'tử số' if role == 'numerator' else 'mẫu số'}; hệ thống tự tính tỷ lệ)."
            )
            help_en.append(f"Used for “{ratio.name_en}” ({role}; the system computes the ratio).")
        if indicator.unit == "flag":
            help_vi.append("Nhập 1 nếu có, 0 nếu không.")
            help_en.append("Enter 1 for yes, 0 for no.")
        if indicator.aggregation in ("max", "min"):
            word_vi = "lớn nhất" if indicator.aggregation == "max" else "nhỏ nhất"
            help_vi.append(f"Tỉnh lấy giá trị {word_vi} trong các xã.")
            help_en.append(f"The province takes the communes' {indicator.aggregation}imum.")
        return {
            "code": indicator.code,
            "name_vi": indicator.name_vi,
            "name_en": indicator.name_en,
            "unit": indicator.unit,
            "unit_vi": UNIT_NAMES_VI.get(indicator.unit, indicator.unit),
            "domain": indicator.domain,
            "non_negative": indicator.non_negative,
            "help_vi": " ".join(help_vi),
            "help_en": " ".join(help_en),
        }

    def _offered(self, report_type: ReportType, now: datetime) -> list[Period]:
        period = period_containing(report_type, now)
        offered: list[Period] = []
        while len(offered) < OFFERED_PERIODS[report_type]:
            offered.append(period)
            if locks_at(period, self._deadlines) < now:
                break  # the newest locked period is shown (as locked); older ones are not
            period = period.previous()
        return offered

    def _sent(self, commune_code: str) -> dict[str, list[Submission]]:
        by_period: dict[str, list[Submission]] = {}
        for s in self._log.for_commune(commune_code, limit=1000):
            if s.state is SubmissionState.PUBLISHED:
                by_period.setdefault(s.period, []).append(s)
        return by_period

    def _known(
        self, commune_code: str, province_code: str, periods: set[str], *, strict: bool = False
    ) -> _Known:
        try:
            accepted = self._reader.latest_figures(commune_code, periods)
            approvals = self._reader.approvals(province_code, periods)
            ids = {s.report_id for ss in self._sent(commune_code).values() for s in ss}
            rejected = frozenset(self._reader.rejections(commune_code, ids))
        except ServiceUnavailableError:
            if strict:
                raise
            logger.warning("ClickHouse did not answer: the form shows the gateway's log only")
            return _Known({}, {}, frozenset(), checked=False)
        return _Known(accepted, approvals, rejected, checked=True)

    def _period(
        self, period: Period, now: datetime, known: _Known, sent: list[Submission]
    ) -> dict[str, Any]:
        due, lock = deadline(period, self._deadlines), locks_at(period, self._deadlines)
        approved_at = known.approvals.get(period.text)
        accepted = known.accepted.get(period.text)
        kept = [s for s in sent if s.report_id not in known.rejected]
        first = min((s.received_at for s in kept), default=None)
        if now > lock or approved_at is not None:
            state = PeriodState.LOCKED
        elif first is not None:
            state = PeriodState.ON_TIME if first <= due else PeriodState.LATE
        elif accepted is not None:  # sent another way (a spreadsheet import, a token)
            state = PeriodState.ON_TIME if accepted.submitted_at <= due else PeriodState.LATE
        else:
            state = PeriodState.NOT_SUBMITTED
        label_vi, label_en = period_labels(period)
        newest = max(kept, key=lambda s: (s.revision, s.received_at), default=None)
        return {
            "period": period.text,
            "label_vi": label_vi,
            "label_en": label_en,
            "ended": period.ends_at <= now,
            "deadline": _local(due),
            "locks_at": _local(lock),
            "approved_at": approved_at,
            "state": str(state),
            "first_received_at": None if first is None else _local(first),
            "accepted": None
            if accepted is None
            else {"report_id": accepted.report_id, "revision": accepted.revision},
            "last_sent": None
            if newest is None
            else {
                "report_id": newest.report_id,
                "revision": newest.revision,
                "received_at": _local(newest.received_at),
            },
        }

    def _refusals(
        self, report: CommuneReport, period: Period, now: datetime, known: _Known
    ) -> list[Reason]:
        reasons: list[Reason] = []
        if self._deadlines.amendments_after_lock == "reject":
            lock = locks_at(period, self._deadlines)
            approved_at = known.approvals.get(period.text)
            if now > lock:
                when = _local(lock)
                reasons.append(
                    reason(
                        ReasonCode.PERIOD_LOCKED,
                        f"{period.text} locked at {when}",
                        detail_vi=f"{period.text} đã khoá lúc {when}",
                        field="period",
                    )
                )
            elif approved_at is not None:
                reasons.append(
                    reason(
                        ReasonCode.PERIOD_LOCKED,
                        f"{period.text} was approved by the province at {approved_at}",
                        detail_vi=f"{period.text} đã được tỉnh phê duyệt lúc {approved_at}",
                        field="period",
                    )
                )
        held = [
            (s.report_id, s.revision, s.content_digest)
            for s in self._sent(report.commune_code).get(period.text, [])
            if s.report_id != report.report_id and s.report_id not in known.rejected
        ]
        accepted = known.accepted.get(period.text)
        if accepted is not None and accepted.report_id != report.report_id:
            held.append((accepted.report_id, accepted.revision, accepted.content_digest()))
        newest = max((revision for _, revision, _ in held), default=0)
        if report.revision < newest:
            reasons.append(
                reason(
                    ReasonCode.STALE_REVISION,
                    f"{report.revision} is older than revision {newest} already sent; open the "
                    "report again to correct the latest revision",
                    detail_vi=f"{report.revision} cũ hơn lần điều chỉnh {newest} đã được gửi; "
                    "hãy mở lại báo cáo để sửa bản mới nhất (số liệu đang nhập vẫn được giữ)",
                    field="revision",
                )
            )
        elif any(
            r == report.revision and digest != report.content_digest() for _, r, digest in held
        ):
            reasons.append(
                reason(ReasonCode.CONFLICTING_REVISION, report.revision, field="revision")
            )
        return reasons


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _warning(rule: RuleBreak) -> dict[str, Any]:
    return {
        "code": rule.rule_code,
        "indicator": rule.indicator_code,
        "indicators": sorted(rule.involved),
        "message_en": rule.message_en,
        "message_vi": rule.message_vi,
    }
