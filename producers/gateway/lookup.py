"""``GET /v1/reports/{report_id}`` and ``GET /v1/communes/{code}/reports``: a commune (or its
province) asks what became of its reports.

Who may read what: a commune token its own commune, a province token the communes of its
province. A report the caller may not read is answered like one that does not exist (404),
so report ids of other communes cannot be probed; a commune named in the path is a plain 403.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from baocao.core.models import LOCAL_TIMEZONE
from baocao.core.periods import DeadlineRules, PeriodError, deadline, parse_period
from baocao.core.reference import ReferenceData
from baocao.producers.gateway.exceptions import ForbiddenError, NotFoundError
from baocao.producers.gateway.status import KnownReport, PipelineReader, decide_status
from baocao.producers.gateway.submissions import SubmissionLog
from baocao.producers.gateway.tokens import Principal, Scope

__all__ = ["StatusService"]

logger = logging.getLogger(__name__)


class StatusService:
    """Blocking (SQLite and ClickHouse): the routes run it in the thread pool."""

    def __init__(
        self,
        *,
        log: SubmissionLog,
        reader: PipelineReader,
        reference: ReferenceData,
        deadlines: DeadlineRules,
    ) -> None:
        self._log = log
        self._reader = reader
        self._reference = reference
        self._deadlines = deadlines

    def report(self, principal: Principal, report_id: str) -> dict[str, Any]:
        try:
            report_id = str(uuid.UUID(report_id))
        except ValueError:
            raise NotFoundError(f"{report_id!r} is not a report id") from None
        # Report ids are each commune's own: only the communes this token may read are
        # looked in, so another commune's report under the same id is neither shown nor
        # mixed in (its rejections included).
        communes = self._readable(principal)
        submission = self._log.find(report_id, communes=communes)
        if submission is not None:
            known: KnownReport | None = KnownReport.of(submission)
        else:
            known = self._reader.find(report_id, communes=communes)
        if known is None:
            raise NotFoundError(f"no report {report_id}")
        self._require_readable(principal, known.commune_code, report_id)
        latest = self._reader.latest_revisions(known.commune_code, {known.period})
        rejections = self._reader.rejections(known.commune_code, {report_id})
        returned = self._reader.returned_notes(known.commune_code, {known.period})
        status = decide_status(
            known,
            latest.get(known.period),
            rejections.get(report_id),
            returned.get(known.period),
        )
        return self._with_timeliness(status.as_json())

    def commune_reports(
        self, principal: Principal, commune_code: str, *, period: str | None, limit: int
    ) -> dict[str, Any]:
        commune = self._reference.communes.get(commune_code)
        if commune is None:
            raise NotFoundError(f"no commune {commune_code!r}")
        if not principal.may_read(commune):
            raise ForbiddenError(f"this token may not read the reports of commune {commune_code}")
        submissions = self._log.for_commune(commune_code, period=period, limit=limit)
        latest = self._reader.latest_revisions(commune_code, {s.period for s in submissions})
        rejections = self._reader.rejections(commune_code, {s.report_id for s in submissions})
        returned = self._reader.returned_notes(commune_code, {s.period for s in submissions})
        reports = [
            self._with_timeliness(
                decide_status(
                    KnownReport.of(s),
                    latest.get(s.period),
                    rejections.get(s.report_id),
                    returned.get(s.period),
                ).as_json()
            )
            for s in submissions
        ]
        return {
            "commune_code": commune.code,
            "commune_name": commune.name,
            "province_code": commune.province_code,
            "reports": reports,
        }

    def _with_timeliness(self, answer: dict[str, Any]) -> dict[str, Any]:
        """The period's deadline, and whether the gateway received the report by it (the
        receive time judges timeliness, never the time a device claims)."""
        try:
            due = deadline(parse_period(answer["period"]), self._deadlines)
        except PeriodError:  # a report the stream refused for its period: no deadline
            answer["deadline"] = answer["on_time"] = None
            return answer
        received = answer.get("received_at")
        answer["deadline"] = due.astimezone(LOCAL_TIMEZONE).isoformat(timespec="seconds")
        answer["on_time"] = None if received is None else datetime.fromisoformat(received) <= due
        return answer

    def _readable(self, principal: Principal) -> list[str]:
        if principal.scope is Scope.COMMUNE:
            return [principal.code] if principal.code in self._reference.communes else []
        return list(self._reference.communes_by_province.get(principal.code, ()))

    def _require_readable(self, principal: Principal, commune_code: str, report_id: str) -> None:
        commune = self._reference.communes.get(commune_code)
        if commune is None or not principal.may_read(commune):
            raise NotFoundError(f"no report {report_id}")
