"""One record of every schema the sink reads, as its writer writes it, keyed by schema name
(``accepted_report.v1``): what the sink's unit tests decode and turn into rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from baocao.sinks.clickhouse.rows.columns import Table

__all__ = [
    "AUGUST_DEADLINE",
    "KAFKA_MS",
    "KAFKA_TIME",
    "RECEIVED",
    "RECORDS",
    "REPORT_ID",
    "SUBMITTED",
    "record",
    "row_of",
]

SUBMITTED = datetime(2025, 9, 2, 2, 30, tzinfo=UTC)
RECEIVED = datetime(2025, 9, 2, 3, 0, tzinfo=UTC)
KAFKA_TIME = datetime(2025, 9, 2, 2, 45, 1, 250000, tzinfo=UTC)
KAFKA_MS = 1756781101250
REPORT_ID = "6f1c1e9e-8a5b-4c55-9d6a-2f0a4c7b1e01"
#: Monthly reports on August 2025 are due by the end of 5 September, local time (UTC+7).
AUGUST_DEADLINE = datetime(2025, 9, 5, 16, 59, 59, 999000, tzinfo=UTC)

_REPORT = {
    "report_id": REPORT_ID,
    "commune_code": "00070",
    "province_code": "01",
    "period": "2025-08",
    "revision": 2,
    "submitted_at": SUBMITTED,
    "indicators": {"tthc_received": 12.0, "births": 3.0, "deaths": 1},
}
_FIGURE_V1 = {
    "province_code": "01",
    "period": "2025-08",
    "indicator_code": "tthc_ontime_rate",
    "value": 0.75,
    "numerator": 30.0,
    "denominator": 40.0,
    "communes_reported": 12,
    "version": 7,
    "updated_at": SUBMITTED,
}
_REJECTED_V1 = {
    "rejection_id": "baocao.commune-reports:3:41",
    "report_id": None,
    "commune_code": None,
    "province_code": "01",
    "period": "2025-13",
    "revision": -1,
    "reasons": [
        {"code": "invalid_period", "field": "period", "message_en": "bad", "message_vi": "sai"},
        {"code": "invalid_revision", "field": None, "message_en": "r", "message_vi": "r"},
    ],
    "raw_payload": b"\xc3\x01raw",
    "source_topic": "baocao.commune-reports",
    "source_partition": 3,
    "source_offset": 41,
    "rejected_at": SUBMITTED,
}
#: One record of every schema the sink reads, as its writer writes it.
RECORDS: dict[str, dict[str, Any]] = {
    "commune_report.v1": _REPORT,
    "accepted_report.v1": {
        **_REPORT,
        "report_type": "monthly",
        "first_submitted_at": SUBMITTED - timedelta(days=1),
        "accepted_at": KAFKA_TIME,
        "deadline": AUGUST_DEADLINE,
        "on_time": True,
        "amended": False,
    },
    "province_indicator.v1": _FIGURE_V1,
    "province_indicator.v2": {
        **_FIGURE_V1,
        "report_type": "monthly",
        "deadline": AUGUST_DEADLINE,
        "communes_with_warnings": 2,
        "communes_amended": 1,
    },
    "province_completeness.v1": {
        "province_code": "01",
        "report_type": "monthly",
        "period": "2025-08",
        "deadline": AUGUST_DEADLINE,
        "communes_expected": 126,
        "communes_reported": 100,
        "communes_on_time": 90,
        "communes_late": 10,
        "version": 4,
        "updated_at": SUBMITTED,
    },
    "province_indicator_change.v1": {
        "province_code": "01",
        "report_type": "monthly",
        "period": "2025-08",
        "indicator_code": "births",
        "version": 9,
        "value": 15.0,
        "previous_value": 12.0,
        "known_at": SUBMITTED,
        "causes": [
            {
                "commune_code": "00070",
                "report_id": REPORT_ID,
                "revision": 2,
                "previous_value": 3.0,
                "value": 5.0,
            },
            {
                "commune_code": "00073",
                "report_id": "r-73",
                "revision": 1,
                "previous_value": None,
                "value": 1.0,
            },
        ],
    },
    "report_warning.v1": {
        "warning_id": f"{REPORT_ID}|resolved_exceeds_received|tthc_received",
        "report_id": REPORT_ID,
        "commune_code": "00070",
        "province_code": "01",
        "report_type": "monthly",
        "period": "2025-08",
        "revision": 2,
        "rule_code": "resolved_exceeds_received",
        "indicator_code": "tthc_received",
        "value": 14.0,
        "reference_value": 12.0,
        "message_en": "resolved exceed received",
        "message_vi": "số đã giải quyết vượt số tiếp nhận",
        "raised_at": SUBMITTED,
    },
    "reporting_period.v1": {
        "report_type": "monthly",
        "period": "2025-08",
        "starts_at": datetime(2025, 7, 31, 17, tzinfo=UTC),
        "ends_at": datetime(2025, 8, 31, 17, tzinfo=UTC),
        "deadline": AUGUST_DEADLINE,
        "locks_at": AUGUST_DEADLINE + timedelta(days=30),
        "announced_at": SUBMITTED,
    },
    "missing_reports_alert.v1": {
        "alert_id": "01|monthly|2025-08|overdue",
        "province_code": "01",
        "report_type": "monthly",
        "period": "2025-08",
        "deadline": AUGUST_DEADLINE,
        "phase": "overdue",
        "commune_codes": ["00073", "00076"],
        "communes_expected": 126,
        "generated_at": SUBMITTED,
    },
    "approval.v1": {
        "approval_id": "0b4f6a52-1f43-4c3e-9d0e-8b1b2f7d5a10",
        "province_code": "01",
        "report_type": "monthly",
        "period": "2025-08",
        "approved_by": "so-noi-vu",
        "approved_at": SUBMITTED,
        "note": None,
    },
    "approval.v2": {
        "approval_id": "0b4f6a52-1f43-4c3e-9d0e-8b1b2f7d5a11",
        "province_code": "01",
        "report_type": "monthly",
        "period": "2025-08",
        "approved_by": "o01-1",
        "approved_at": SUBMITTED,
        "note": "số liệu xã 00004 sai",
        "action": "return",
        "commune_code": "00004",
        "based_on_version": 0,
    },
    "approval_decision.v1": {
        "approval_id": "0b4f6a52-1f43-4c3e-9d0e-8b1b2f7d5a11",
        "province_code": "01",
        "report_type": "monthly",
        "period": "2025-08",
        "action": "return",
        "commune_code": "00004",
        "actor": "o01-1",
        "acted_at": SUBMITTED,
        "note": "số liệu xã 00004 sai",
        "outcome": "applied",
        "reason_code": None,
        "reason_en": None,
        "reason_vi": None,
        "state": "open",
        "version": 1,
        "decided_at": SUBMITTED,
    },
    "reporting_obligation.v1": {
        "obligation_id": "0b4f6a52-1f43-4c3e-9d0e-8b1b2f7d5a12",
        "commune_code": "00004",
        "province_code": "01",
        "report_type": "monthly",
        "action": "end",
        "starts_on": None,
        "ends_on": date(2025, 8, 31),
        "reason": "sáp nhập",
        "recorded_by": "o01-1",
        "recorded_at": SUBMITTED,
    },
    "rejected_report.v1": _REJECTED_V1,
    "rejected_report.v2": {
        **_REJECTED_V1,
        "raw_size": 1_000_010,
        "raw_sha256": "ab" * 32,
        "raw_truncated": True,
    },
}


def record(schema: str, **changes: Any) -> dict[str, Any]:
    """The record of ``schema``, with ``changes``."""
    return {**RECORDS[schema], **changes}


def row_of(table: Table, **changes: Any) -> dict[str, Any]:
    """The row ``table`` makes of its topic writer's record with ``changes``, by column."""
    assert table.topic is not None
    return dict(zip(table.columns, table.row(record(table.topic.writes, **changes)), strict=True))
