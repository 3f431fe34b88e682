"""Records of the worker's output topics, as the sink and view tests build them.

Each factory returns a record ready for the topic's Avro codec (``encode`` turns it into the
Kafka message) and for the sink's row builder, with keyword overrides. Deadlines and period
bounds come from :mod:`baocao.core.periods` with the default rules, never typed by hand.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from baocao.core.avro import codec_for
from baocao.core.periods import Period, deadline, locks_at, parse_period
from baocao.core.reference import load_reference
from baocao.core.topics import Topics
from support.settings import RULES

__all__ = [
    "RULES",
    "Message",
    "accepted_report",
    "alert",
    "approval",
    "change",
    "commune_report",
    "completeness",
    "due",
    "figure",
    "message",
    "obligation",
    "reporting_period",
    "warning",
]


Message = tuple[str, bytes | None, bytes | None]  # topic, key, value


def due(period: str) -> datetime:
    """The deadline of ``period`` under :data:`RULES`, in UTC."""
    return deadline(parse_period(period), RULES).astimezone(UTC)


def message(
    topics: Topics, topic: str, key: str, record: dict[str, Any], *, schema: str | None = None
) -> Message:
    """``record`` encoded for ``topics.<topic>`` (with ``schema``, or the topic's current one)."""
    name = getattr(topics, topic)
    codec = codec_for(schema or topics.spec(name).writes)
    return name, key.encode(), codec.encode(record)


def _province_of(commune: str) -> str:
    return load_reference().communes[commune].province_code


def commune_report(commune: str, period: str, revision: int, **changes: Any) -> dict[str, Any]:
    """A ``commune_report.v1`` record (what an older worker put on the accepted topic)."""
    record: dict[str, Any] = {
        "report_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{commune}/{period}/{revision}")),
        "commune_code": commune,
        "province_code": _province_of(commune),
        "period": period,
        "revision": revision,
        "submitted_at": due(period),
        "indicators": {"tthc_received": 1.0},
    }
    record.update(changes)
    return record


def accepted_report(
    commune: str, period: str, revision: int, *, on_time: bool = True, **changes: Any
) -> dict[str, Any]:
    """An ``accepted_report.v1`` record, submitted a day before (or after) the deadline."""
    base = commune_report(commune, period, revision)
    submitted = due(period).replace(microsecond=0) + timedelta(days=-1 if on_time else 1)
    record: dict[str, Any] = {
        **base,
        "report_type": str(parse_period(period).report_type),
        "submitted_at": submitted,
        "first_submitted_at": submitted,
        "accepted_at": submitted,
        "deadline": due(period),
        "on_time": on_time,
        "amended": False,
    }
    record.update(changes)
    return record


def figure(
    province: str, period: str, indicator: str, version: int, value: float | None, **changes: Any
) -> dict[str, Any]:
    """A ``province_indicator.v2`` record."""
    record: dict[str, Any] = {
        "province_code": province,
        "period": period,
        "indicator_code": indicator,
        "value": value,
        "numerator": None,
        "denominator": None,
        "communes_reported": 1,
        "version": version,
        "updated_at": due(period),
        "report_type": str(parse_period(period).report_type),
        "deadline": due(period),
        "communes_with_warnings": 0,
        "communes_amended": 0,
    }
    record.update(changes)
    return record


def completeness(
    province: str, period: str, version: int, *, reported: int, on_time: int, **changes: Any
) -> dict[str, Any]:
    """A ``province_completeness.v1`` record: ``reported`` communes, ``on_time`` of them
    on time, the others late."""
    record: dict[str, Any] = {
        "province_code": province,
        "report_type": str(parse_period(period).report_type),
        "period": period,
        "deadline": due(period),
        "communes_expected": load_reference().communes_expected(province),
        "communes_reported": reported,
        "communes_on_time": on_time,
        "communes_late": reported - on_time,
        "version": version,
        "updated_at": due(period),
    }
    record.update(changes)
    return record


def change(
    province: str,
    period: str,
    indicator: str,
    version: int,
    value: float | None,
    previous: float | None,
    known_at: datetime,
    causes: list[dict[str, Any]],
) -> dict[str, Any]:
    """A ``province_indicator_change.v1`` record."""
    return {
        "province_code": province,
        "report_type": str(parse_period(period).report_type),
        "period": period,
        "indicator_code": indicator,
        "version": version,
        "value": value,
        "previous_value": previous,
        "known_at": known_at,
        "causes": causes,
    }


def warning(report: dict[str, Any], rule: str, indicator: str | None, **changes: Any) -> dict:
    """A ``report_warning.v1`` record about the accepted ``report``."""
    record: dict[str, Any] = {
        "warning_id": f"{report['report_id']}|{rule}|{indicator or ''}",
        "report_id": report["report_id"],
        "commune_code": report["commune_code"],
        "province_code": report["province_code"],
        "report_type": str(parse_period(report["period"]).report_type),
        "period": report["period"],
        "revision": report["revision"],
        "rule_code": rule,
        "indicator_code": indicator,
        "value": None if indicator is None else report["indicators"].get(indicator),
        "reference_value": 1.0,
        "message_en": f"{rule} on {indicator}",
        "message_vi": f"cảnh báo {rule}",
        "raised_at": report["submitted_at"],
    }
    record.update(changes)
    return record


def reporting_period(period: str, announced_at: datetime) -> dict[str, Any]:
    """A ``reporting_period.v1`` record announcing ``period``."""
    parsed: Period = parse_period(period)
    return {
        "report_type": str(parsed.report_type),
        "period": period,
        "starts_at": parsed.starts_at,
        "ends_at": parsed.ends_at,
        "deadline": due(period),
        "locks_at": locks_at(parsed, RULES),
        "announced_at": announced_at,
    }


def obligation(
    commune: str, action: str, at: datetime, report_type: str = "monthly", **dates: date
) -> dict[str, Any]:
    """A ``reporting_obligation.v1`` event of ``commune`` (``starts_on``/``ends_on`` in
    ``dates``), recorded at ``at`` by its province's first officer."""
    province = load_reference().communes[commune].province_code
    return {
        "obligation_id": f"{commune}-{report_type}-{action}-{at.timestamp()}",
        "commune_code": commune,
        "province_code": province,
        "report_type": report_type,
        "action": action,
        "starts_on": dates.get("starts_on"),
        "ends_on": dates.get("ends_on"),
        "reason": "test",
        "recorded_by": f"o{province}-1",
        "recorded_at": at,
    }


def alert(province: str, period: str, phase: str, communes: list[str], generated_at: datetime):
    """A ``missing_reports_alert.v1`` record."""
    return {
        "alert_id": f"{province}|{parse_period(period).report_type}|{period}|{phase}",
        "province_code": province,
        "report_type": str(parse_period(period).report_type),
        "period": period,
        "deadline": due(period),
        "phase": phase,
        "commune_codes": communes,
        "communes_expected": load_reference().communes_expected(province),
        "generated_at": generated_at,
    }


def decision(
    province: str,
    period: str,
    acted_at: datetime,
    *,
    action: str = "approve",
    state: str = "approved",
    version: int = 1,
    outcome: str = "applied",
    **changes: Any,
) -> dict:
    """An ``approval_decision.v1`` record: by default the worker applying an approval."""
    record: dict[str, Any] = {
        "approval_id": str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"{province}/{period}/{acted_at}/{action}/{version}")
        ),
        "province_code": province,
        "report_type": str(parse_period(period).report_type),
        "period": period,
        "action": action,
        "commune_code": None,
        "actor": f"so-noi-vu-{province}",
        "acted_at": acted_at,
        "note": None,
        "outcome": outcome,
        "reason_code": None,
        "reason_en": None,
        "reason_vi": None,
        "state": state,
        "version": version,
        "decided_at": acted_at,
    }
    record.update(changes)
    return record


def approval(province: str, period: str, approved_at: datetime, **changes: Any) -> dict:
    """An ``approval.v1`` record."""
    record: dict[str, Any] = {
        "approval_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{province}/{period}/{approved_at}")),
        "province_code": province,
        "report_type": str(parse_period(period).report_type),
        "period": period,
        "approved_by": f"so-noi-vu-{province}",
        "approved_at": approved_at,
        "note": None,
    }
    record.update(changes)
    return record
