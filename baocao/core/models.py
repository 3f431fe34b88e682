"""The commune report as the pipeline passes it around, and its canonical JSON line form
(the fields of ``commune_report.v2``, ``submitted_at`` in ISO 8601 with its offset; the
JSON line format is described in the README, "The report format").

Rule: parsing never raises on bad input; it returns the reasons, so every caller (the
stream, the publisher, the HTTP gateway) can turn them into a dead letter or an answer.
Semantics (a ``report_type`` matching the period's form, known codes) are checked later by
:func:`baocao.core.validation.validate_report`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from baocao.core.avro_binary import AVRO_INT
from baocao.core.reasons import Reason, ReasonCode, reason
from baocao.core.topics import state_key

__all__ = [
    "LOCAL_TIMEZONE",
    "OPTIONAL_FIELDS",
    "CommuneReport",
    "parse_report",
]

#: Asia/Ho_Chi_Minh has had a fixed +07:00 offset since 1975.
LOCAL_TIMEZONE = timezone(timedelta(hours=7), name="Asia/Ho_Chi_Minh")

#: Revisions are Avro ``int``s.
MAX_REVISION = AVRO_INT.stop - 1

_REQUIRED_FIELDS: tuple[str, ...] = (
    "report_id",
    "commune_code",
    "province_code",
    "period",
    "revision",
    "submitted_at",
    "indicators",
)
#: Optional since ``commune_report.v2``: absent or ``null`` means not given.
OPTIONAL_FIELDS: tuple[str, ...] = ("report_type", "reporter_name", "reporter_contact", "notes")


@dataclass(frozen=True, slots=True)
class CommuneReport:
    report_id: str
    commune_code: str
    province_code: str
    period: str
    revision: int
    #: Timezone-aware instant of submission.
    submitted_at: datetime
    indicators: Mapping[str, float] = field(default_factory=dict)
    #: Optional fields of ``commune_report.v2``; ``report_type`` must match the period's form.
    report_type: str | None = None
    reporter_name: str | None = None
    reporter_contact: str | None = None
    notes: str | None = None

    @property
    def key(self) -> str:
        """One commune's report for one period: revisions of it share this key (the
        worker's ``latest`` table, and ``accepted_reports``)."""
        return state_key(self.commune_code, self.period)

    def content_digest(self) -> str:
        """Digest of the figures, to tell an exact duplicate from a conflicting resubmission."""
        canonical = json.dumps(sorted(self.indicators.items()), separators=(",", ":"))
        return hashlib.blake2b(canonical.encode(), digest_size=12).hexdigest()

    def to_avro(self) -> dict[str, Any]:
        return {
            "report_id": self.report_id,
            "commune_code": self.commune_code,
            "province_code": self.province_code,
            "period": self.period,
            "revision": self.revision,
            "submitted_at": self.submitted_at,
            "indicators": dict(self.indicators),
            "report_type": self.report_type,
            "reporter_name": self.reporter_name,
            "reporter_contact": self.reporter_contact,
            "notes": self.notes,
        }

    def to_json(self) -> dict[str, Any]:
        """The canonical JSON line form, with the submission time in Vietnam's local time."""
        record = {
            name: value
            for name, value in self.to_avro().items()
            if name not in OPTIONAL_FIELDS or value is not None
        }
        record["submitted_at"] = self.submitted_at.astimezone(LOCAL_TIMEZONE).isoformat()
        return record


def _parse_instant(value: object) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC)


def _schema_error(detail: str, field_name: str | None = None) -> Reason:
    return reason(ReasonCode.SCHEMA_ERROR, detail, field=field_name)


def parse_report(data: object) -> tuple[CommuneReport | None, list[Reason]]:
    """Check the shape and types of a report (JSON or decoded Avro); semantics come later.

    Returns the report, or ``None`` with every structural problem found.
    """
    if not isinstance(data, Mapping):
        return None, [_schema_error("a report must be a JSON object")]
    problems: list[Reason] = []
    missing = [name for name in _REQUIRED_FIELDS if name not in data]
    problems.extend(_schema_error(f"missing field {name!r}", name) for name in missing)
    unknown = sorted(set(data) - set(_REQUIRED_FIELDS) - set(OPTIONAL_FIELDS))
    problems.extend(_schema_error(f"unknown field {name!r}", name) for name in unknown)
    if missing:
        return None, problems

    report_id = data["report_id"]
    if isinstance(report_id, uuid.UUID):  # fastavro decodes the uuid logical type
        report_id = str(report_id)
    if not isinstance(report_id, str):
        problems.append(_schema_error("report_id must be a UUID string", "report_id"))
    else:
        try:
            report_id = str(uuid.UUID(report_id))
        except ValueError:
            problems.append(_schema_error(f"report_id {report_id!r} is not a UUID", "report_id"))
    for name in ("commune_code", "province_code", "period"):
        if not isinstance(data[name], str):
            problems.append(_schema_error(f"{name} must be a string", name))
    revision = data["revision"]
    if isinstance(revision, bool) or not isinstance(revision, int):
        problems.append(_schema_error("revision must be an integer", "revision"))
    elif revision > MAX_REVISION:
        problems.append(_schema_error(f"revision must be at most {MAX_REVISION}", "revision"))
    submitted_at = _parse_instant(data["submitted_at"])
    if submitted_at is None:
        problems.append(
            _schema_error(
                "submitted_at must be an ISO 8601 time with its UTC offset", "submitted_at"
            )
        )
    optional: dict[str, str | None] = {}
    for name in OPTIONAL_FIELDS:
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            problems.append(_schema_error(f"{name} must be a string or null", name))
        else:
            optional[name] = value
    indicators = data["indicators"]
    values: dict[str, float] = {}
    if not isinstance(indicators, Mapping):
        problems.append(_schema_error("indicators must be an object of numbers", "indicators"))
    else:
        for code, value in indicators.items():
            if not isinstance(code, str):
                problems.append(_schema_error("indicator codes must be strings", "indicators"))
            elif isinstance(value, bool) or not isinstance(value, int | float):
                problems.append(
                    _schema_error(f"indicator {code!r} must be a number", f"indicators.{code}")
                )
            else:
                try:
                    values[code] = float(value)
                except OverflowError:
                    problems.append(
                        _schema_error(f"indicator {code!r} is too large", f"indicators.{code}")
                    )
    if problems:
        return None, problems
    assert submitted_at is not None
    return (
        CommuneReport(
            report_id=report_id,
            commune_code=data["commune_code"],
            province_code=data["province_code"],
            period=data["period"],
            revision=revision,
            submitted_at=submitted_at,
            indicators=values,
            **optional,
        ),
        [],
    )
