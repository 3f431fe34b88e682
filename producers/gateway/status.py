"""What became of a report: the gateway's record of it joined with what ClickHouse holds.

The decision (:func:`decide_status`) is a pure function of three facts: the report as
submitted, the revision ClickHouse holds as latest for its commune and period (the view
``latest_commune_reports``), and the stream's rejections of it (the view ``rejected_reports``).
Both are views, a contract of the pipeline like the BI views: the gateway never reads the
sink's tables, so the sink may change how it stores reports.
In that order of precedence:

* ``accepted``: the latest revision is this report, or an exact resend of it under another
  report id (same revision and figures; the stream keeps the first and ignores the resend);
* ``rejected``: the stream refused it, with every reason (e.g. ``stale_revision``);
* ``superseded``: a higher revision of the same commune and period is the latest;
* ``pending``: published, not (yet) in ClickHouse: the worker or the sink has not got to it.

An accepted report that its province sent back for correction (the view ``returned_reports``,
issue 19) is ``returned``, with the officer's note: it still counts until the commune sends
a new revision.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from clickhouse_driver import Client

from baocao.core.clickhouse import TRANSIENT_ERRORS, connect, describe_error
from baocao.core.models import CommuneReport
from baocao.core.settings import ClickHouseSettings
from baocao.producers.gateway.exceptions import ServiceUnavailableError
from baocao.producers.gateway.submissions import Submission

__all__ = [
    "KnownReport",
    "LatestRevision",
    "PipelineReader",
    "ReportState",
    "ReportStatus",
    "ReturnedNote",
    "StreamRejection",
    "decide_status",
]

logger = logging.getLogger(__name__)


class ReportState(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    SUPERSEDED = "superseded"
    REJECTED = "rejected"
    RETURNED = "returned"


@dataclass(frozen=True, slots=True)
class ReturnedNote:
    """A province officer's send-back of the latest revision: why, who, when."""

    note: str
    returned_by: str
    returned_at: datetime


@dataclass(frozen=True, slots=True)
class KnownReport:
    """A report whose fate is asked: from the gateway's log, or found in ClickHouse."""

    report_id: str
    commune_code: str
    province_code: str
    period: str
    revision: int
    #: Digest of the figures; ``None`` when the figures are not known.
    content_digest: str | None = None
    #: The gateway's record, when the report came through the gateway.
    submission: Submission | None = None

    @classmethod
    def of(cls, submission: Submission) -> KnownReport:
        return cls(
            report_id=submission.report_id,
            commune_code=submission.commune_code,
            province_code=submission.province_code,
            period=submission.period,
            revision=submission.revision,
            content_digest=submission.content_digest,
            submission=submission,
        )


@dataclass(frozen=True, slots=True)
class LatestRevision:
    """The row of ``latest_commune_reports`` for one commune and period."""

    report_id: str
    revision: int
    submitted_at: datetime
    content_digest: str


@dataclass(frozen=True, slots=True)
class StreamRejection:
    """The stream's latest refusal of a report id, with every reason."""

    rejection_id: str
    rejected_at: datetime
    reasons: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class ReportStatus:
    report: KnownReport
    state: ReportState
    latest: LatestRevision | None = None
    rejection: StreamRejection | None = None
    #: Another report id whose identical revision the stream kept (an exact resend).
    duplicate_of: str | None = None
    #: The province's send-back of this (accepted, latest) report, when there is one.
    returned: ReturnedNote | None = None

    def as_json(self) -> dict[str, Any]:
        report, submission = self.report, self.report.submission
        answer: dict[str, Any] = {
            "report_id": report.report_id,
            "commune_code": report.commune_code,
            "province_code": report.province_code,
            "period": report.period,
            "revision": report.revision,
            "state": str(self.state),
            "received_at": None if submission is None else _iso(submission.received_at),
            "published_at": (
                None
                if submission is None or submission.published_at is None
                else _iso(submission.published_at)
            ),
            "latest_revision": None if self.latest is None else self.latest.revision,
        }
        if self.state is ReportState.SUPERSEDED and self.latest is not None:
            answer["superseded_by"] = {
                "report_id": self.latest.report_id,
                "revision": self.latest.revision,
            }
        if self.duplicate_of is not None:
            answer["duplicate_of"] = self.duplicate_of
        if self.returned is not None:
            answer["returned"] = {
                "note": self.returned.note,
                "returned_by": self.returned.returned_by,
                "returned_at": _iso(self.returned.returned_at),
            }
        if self.rejection is not None:
            answer["rejected_at"] = _iso(self.rejection.rejected_at)
            answer["reasons"] = list(self.rejection.reasons)
        return answer


def _iso(moment: datetime) -> str:
    return _aware(moment).isoformat()


def _aware(moment: datetime) -> datetime:
    """clickhouse-driver returns ``DateTime('UTC')`` values naive (in UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def decide_status(
    report: KnownReport,
    latest: LatestRevision | None,
    rejection: StreamRejection | None,
    returned: ReturnedNote | None = None,
) -> ReportStatus:
    """The state of ``report`` given ClickHouse's latest revision of its commune and period,
    the stream's rejection of it, and an open send-back of its period's report (see the
    module's docstring for the precedence)."""
    if latest is not None and latest.report_id == report.report_id:
        if returned is not None:
            return ReportStatus(report, ReportState.RETURNED, latest=latest, returned=returned)
        return ReportStatus(report, ReportState.ACCEPTED, latest=latest)
    if rejection is not None:
        return ReportStatus(report, ReportState.REJECTED, latest=latest, rejection=rejection)
    if latest is not None and latest.revision > report.revision:
        return ReportStatus(report, ReportState.SUPERSEDED, latest=latest)
    if (
        latest is not None
        and latest.revision == report.revision
        and report.content_digest is not None
        and latest.content_digest == report.content_digest
    ):
        return ReportStatus(
            report, ReportState.ACCEPTED, latest=latest, duplicate_of=latest.report_id
        )
    return ReportStatus(report, ReportState.PENDING, latest=latest)


class PipelineReader:
    """Reads the two ClickHouse views the status needs; a connection per call (status
    requests are rare next to submissions, and a client is not thread-safe)."""

    def __init__(self, settings: ClickHouseSettings) -> None:
        self._settings = settings

    def latest_revisions(
        self, commune_code: str, periods: Collection[str]
    ) -> dict[str, LatestRevision]:
        """Latest revision per period of one commune."""
        if not periods:
            return {}
        rows = self._query(
            "SELECT report_id, commune_code, province_code, period, revision, submitted_at,"
            " indicator_codes, indicator_values FROM latest_commune_reports"
            " WHERE commune_code = %(commune)s AND period IN %(periods)s",
            {"commune": commune_code, "periods": tuple(sorted(periods))},
        )
        return {row[3]: _latest(row) for row in rows}

    def latest_figures(
        self, commune_code: str, periods: Collection[str]
    ) -> dict[str, CommuneReport]:
        """The latest accepted revision per period of one commune, with its figures (what
        "Sửa báo cáo" opens, and the history the soft rules compare with)."""
        if not periods:
            return {}
        rows = self._query(
            "SELECT report_id, commune_code, province_code, period, revision, submitted_at,"
            " indicator_codes, indicator_values FROM latest_commune_reports"
            " WHERE commune_code = %(commune)s AND period IN %(periods)s",
            {"commune": commune_code, "periods": tuple(sorted(periods))},
        )
        return {row[3]: _report(row) for row in rows}

    def approvals(self, province_code: str, periods: Collection[str]) -> dict[str, str]:
        """When the province approved (and so locked) each of ``periods``, as ISO text."""
        if not periods:
            return {}
        rows = self._query(
            "SELECT period, approved_at FROM period_approvals"
            " WHERE province_code = %(province)s AND period IN %(periods)s",
            {"province": province_code, "periods": tuple(sorted(periods))},
        )
        return {period: _iso(approved_at) for period, approved_at in rows}

    def rejections(
        self, commune_code: str, report_ids: Collection[str]
    ) -> dict[str, StreamRejection]:
        """The latest rejection of each report id of ``commune_code`` that the stream
        refused (report ids are each commune's own: another's rejection is not this one's)."""
        if not report_ids:
            return {}
        rows = self._query(
            "SELECT report_id, rejection_id, rejected_at, reason_code, reason_field,"
            " message_en, message_vi FROM rejected_reports"
            " WHERE commune_code = %(commune)s AND report_id IN %(ids)s"
            " ORDER BY rejected_at, rejection_id",
            {"commune": commune_code, "ids": tuple(sorted(report_ids))},
        )
        return _group_rejections(rows)

    def returned_notes(
        self, commune_code: str, periods: Collection[str]
    ) -> dict[str, ReturnedNote]:
        """Per period, the open send-back of the commune's report (``returned_reports``)."""
        if not periods:
            return {}
        rows = self._query(
            "SELECT period, note, returned_by, returned_at FROM returned_reports"
            " WHERE commune_code = %(commune)s AND period IN %(periods)s",
            {"commune": commune_code, "periods": tuple(sorted(periods))},
        )
        return {row[0]: ReturnedNote(row[1] or "", row[2], _aware(row[3])) for row in rows}

    def find(self, report_id: str, *, communes: Collection[str]) -> KnownReport | None:
        """A report of one of ``communes`` the gateway did not publish, if ClickHouse knows
        it."""
        if not communes:
            return None
        scope = {"id": report_id, "communes": tuple(sorted(communes))}
        rows = self._query(
            "SELECT report_id, commune_code, province_code, period, revision, submitted_at,"
            " indicator_codes, indicator_values FROM latest_commune_reports"
            " WHERE report_id = %(id)s AND commune_code IN %(communes)s LIMIT 1",
            scope,
        )
        if rows:
            row = rows[0]
            latest = _latest(row)
            return KnownReport(
                report_id=report_id,
                commune_code=row[1],
                province_code=row[2],
                period=row[3],
                revision=int(row[4]),
                content_digest=latest.content_digest,
            )
        rows = self._query(
            "SELECT commune_code, province_code, period, revision FROM rejected_reports"
            " WHERE report_id = %(id)s AND commune_code IN %(communes)s LIMIT 1",
            scope,
        )
        if not rows or rows[0][2] is None or rows[0][3] is None:
            return None
        commune, province, period, revision = rows[0]
        return KnownReport(
            report_id=report_id,
            commune_code=commune,
            province_code=province or "",
            period=period,
            revision=int(revision),
        )

    def _query(self, sql: str, params: dict[str, Any]) -> list[Any]:
        client: Client = connect(self._settings)
        try:
            return list(client.execute(sql, params))
        except TRANSIENT_ERRORS as exc:
            logger.warning("status query failed: %s", describe_error(exc))
            raise ServiceUnavailableError(
                f"report status needs ClickHouse, which did not answer ({describe_error(exc)})"
            ) from exc
        finally:
            client.disconnect()


def _report(row: Any) -> CommuneReport:
    report_id, commune, province, period, revision, submitted_at, codes, values = row
    return CommuneReport(
        report_id=report_id,
        commune_code=commune,
        province_code=province,
        period=period,
        revision=int(revision),
        submitted_at=_aware(submitted_at),
        indicators=dict(zip(codes, values, strict=True)),
    )


def _latest(row: Any) -> LatestRevision:
    figures = _report(row)
    report_id = figures.report_id
    return LatestRevision(
        report_id=report_id,
        revision=figures.revision,
        submitted_at=figures.submitted_at,
        content_digest=figures.content_digest(),
    )


def _group_rejections(rows: Iterable[Any]) -> dict[str, StreamRejection]:
    """Rows are one per reason, ordered by rejection time: keep the latest rejection."""
    reasons: dict[tuple[str, str], list[dict[str, Any]]] = {}
    latest: dict[str, tuple[str, datetime]] = {}
    for report_id, rejection_id, rejected_at, code, field_name, message_en, message_vi in rows:
        latest[report_id] = (rejection_id, rejected_at)
        if code is not None:
            reasons.setdefault((report_id, rejection_id), []).append(
                {
                    "code": code,
                    "field": field_name,
                    "message_en": message_en,
                    "message_vi": message_vi,
                }
            )
    return {
        report_id: StreamRejection(
            rejection_id=rejection_id,
            rejected_at=rejected_at,
            reasons=tuple(reasons.get((report_id, rejection_id), ())),
        )
        for report_id, (rejection_id, rejected_at) in latest.items()
    }
