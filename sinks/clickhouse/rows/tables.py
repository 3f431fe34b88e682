"""Every table the sink writes, declared once: its columns, the topic that fills it, and
the upgrades of that topic's older records. The sink's routes are derived from these.

A declaration mirrors its table as ``baocao migrate`` leaves it (the DDL stays in
``migrations/``; a test compares both on the real server), in row order; columns the server
fills itself (``ingested_at``, a ``DEFAULT``) are not declared.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from baocao.core import topics
from baocao.core.obligations import event_reasons
from baocao.core.reference import load_reference
from baocao.sinks.clickhouse.rows.checks import as_number, as_optional_text, as_text, required
from baocao.sinks.clickhouse.rows.columns import (
    Column,
    Table,
    date_time,
    epoch_seconds,
    flag,
    given,
    nullable_date,
    nullable_float64,
    nullable_int32,
    nullable_size,
    nullable_string,
    offset,
    partition,
    spread,
    string,
    strings,
    uint32,
    uint64,
)
from baocao.sinks.clickhouse.rows.upgrades import accepted_from_commune_report, figure_with_deadline
from baocao.sinks.exceptions import RowError

__all__ = [
    "APPROVALS",
    "APPROVAL_DECISIONS",
    "COMMUNE_REPORTS",
    "MISSING_REPORT_ALERTS",
    "POISON_MESSAGES",
    "PROVINCE_COMPLETENESS_VALUES",
    "PROVINCE_INDICATOR_CHANGES",
    "PROVINCE_INDICATOR_VALUES",
    "REJECTIONS",
    "REPORTING_OBLIGATIONS",
    "REPORTING_PERIODS",
    "REPORT_WARNINGS_LOG",
    "TABLES",
]


# -- values worked out for one table -------------------------------------------------------


def _sorted_indicators(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """The report's indicators sorted by code, as the two arrays of ``commune_reports``:
    two copies of one revision are then the same row."""
    indicators = required(record, "indicators")
    if not isinstance(indicators, Mapping):
        raise RowError("indicators must be a map of code to number")
    if set(map(type, indicators.values())) <= {float} and set(map(type, indicators)) <= {str}:
        # What every decoded report is (an Avro map of doubles): nothing to convert.
        codes = sorted(indicators)
        values = [indicators[code] for code in codes]
        return {**record, "indicator_codes": codes, "indicator_values": values}
    items = sorted(
        (as_text(code, "indicator code"), as_number(value, f"indicator {code}"))
        for code, value in indicators.items()
    )
    return {
        **record,
        "indicator_codes": [code for code, _ in items],
        "indicator_values": [value for _, value in items],
    }


def _commune_or_empty(record: Mapping[str, Any]) -> str:
    """An absent commune as ``''``: a sorting-key column cannot be Nullable."""
    return as_optional_text(record.get("commune_code"), "commune_code") or ""


def _valid_obligation(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """An obligation event the worker would dead-letter never lands: it is kept as a poison
    message with its reasons, so the views follow only the obligations the worker applies."""
    reasons = event_reasons(record, load_reference())
    if reasons:
        raise RowError("; ".join(f"{r.code}: {r.message_en}" for r in reasons))
    return record


def _raw_payload(record: Mapping[str, Any]) -> bytes | str:
    payload = required(record, "raw_payload")
    if not isinstance(payload, bytes | str):
        raise RowError(f"raw_payload must be bytes, not {type(payload).__name__}")
    return payload


# -- the tables ---------------------------------------------------------------------------

#: Accepted reports, indicators sorted by code (two copies of a revision are one row);
#: an older worker's commune reports upgraded.
COMMUNE_REPORTS = Table(
    "commune_reports",
    topic=topics.ACCEPTED_REPORTS,
    upgrades={"commune_report": accepted_from_commune_report},
    declared=(
        string("report_id"),
        string("commune_code"),
        string("province_code"),
        string("period"),
        uint32("revision"),
        date_time("submitted_at"),
        given("indicator_codes", "Array(String)"),
        given("indicator_values", "Array(Float64)"),
        string("report_type"),
        date_time("first_submitted_at"),
        date_time("accepted_at"),
        date_time("deadline"),
        flag("on_time"),
        flag("amended", default=False),
    ),
    prepare=_sorted_indicators,
)
#: Provincial figures; an older worker's get their report type and deadline.
PROVINCE_INDICATOR_VALUES = Table(
    "province_indicator_values",
    topic=topics.PROVINCE_INDICATORS,
    upgrades={"province_indicator": figure_with_deadline},
    declared=(
        string("province_code"),
        string("period"),
        string("indicator_code"),
        nullable_float64("value"),
        nullable_float64("numerator"),
        nullable_float64("denominator"),
        uint32("communes_reported"),
        uint64("version"),
        date_time("updated_at"),
        string("report_type"),
        date_time("deadline"),
        uint32("communes_with_warnings"),
        uint32("communes_amended"),
    ),
)
PROVINCE_COMPLETENESS_VALUES = Table(
    "province_completeness_values",
    topic=topics.PROVINCE_COMPLETENESS,
    declared=(
        string("province_code"),
        string("report_type"),
        string("period"),
        date_time("deadline"),
        uint32("communes_expected"),
        uint32("communes_reported"),
        uint32("communes_on_time"),
        uint32("communes_late"),
        uint64("version"),
        date_time("updated_at"),
    ),
)
#: Every change of a figure, its causes as parallel arrays.
PROVINCE_INDICATOR_CHANGES = Table(
    "province_indicator_changes",
    topic=topics.PROVINCE_INDICATOR_CHANGES,
    declared=(
        string("province_code"),
        string("report_type"),
        string("period"),
        string("indicator_code"),
        uint64("version"),
        nullable_float64("value"),
        nullable_float64("previous_value"),
        date_time("known_at"),
        spread("cause_commune_codes", "String", "causes", "commune_code"),
        spread("cause_report_ids", "String", "causes", "report_id"),
        spread("cause_revisions", "UInt32", "causes", "revision"),
        spread("cause_previous_values", "Nullable(Float64)", "causes", "previous_value"),
        spread("cause_values", "Nullable(Float64)", "causes", "value"),
    ),
)
REPORT_WARNINGS_LOG = Table(
    "report_warnings_log",
    topic=topics.REPORT_WARNINGS,
    declared=(
        string("warning_id"),
        string("report_id"),
        string("commune_code"),
        string("province_code"),
        string("report_type"),
        string("period"),
        uint32("revision"),
        string("rule_code"),
        nullable_string("indicator_code"),
        nullable_float64("value"),
        nullable_float64("reference_value"),
        string("message_en"),
        string("message_vi"),
        date_time("raised_at"),
    ),
)
REPORTING_PERIODS = Table(
    "reporting_periods",
    topic=topics.REPORTING_PERIODS,
    declared=(
        string("report_type"),
        string("period"),
        date_time("starts_at"),
        date_time("ends_at"),
        date_time("deadline"),
        date_time("locks_at"),
        date_time("announced_at"),
    ),
)
MISSING_REPORT_ALERTS = Table(
    "missing_report_alerts",
    topic=topics.MISSING_REPORT_ALERTS,
    declared=(
        string("alert_id"),
        string("province_code"),
        string("report_type"),
        string("period"),
        date_time("deadline"),
        string("phase"),
        strings("commune_codes"),
        uint32("communes_expected"),
        date_time("generated_at"),
    ),
)
APPROVALS = Table(
    "approvals",
    topic=topics.APPROVALS,
    declared=(
        string("approval_id"),
        string("province_code"),
        string("report_type"),
        string("period"),
        string("approved_by"),
        date_time("approved_at"),
        nullable_string("note"),
    ),
)
#: The worker's decision on each approval step (applied or refused, with its reason): the
#: audit trail, and what ``period_approvals`` reads a period's state from.
APPROVAL_DECISIONS = Table(
    "approval_decisions",
    topic=topics.APPROVAL_DECISIONS,
    declared=(
        string("approval_id"),
        string("province_code"),
        string("report_type"),
        string("period"),
        string("action"),
        nullable_string("commune_code"),
        string("actor"),
        date_time("acted_at"),
        nullable_string("note"),
        string("outcome"),
        nullable_string("reason_code"),
        nullable_string("reason_en"),
        nullable_string("reason_vi"),
        string("state"),
        uint32("version"),
        date_time("decided_at"),
    ),
)
#: Who must report what, from when: every valid obligation event (``reporting_obligations``
#: and the views read the latest per unit and report type).
REPORTING_OBLIGATIONS = Table(
    "reporting_obligations",
    topic=topics.REPORTING_OBLIGATIONS,
    declared=(
        string("obligation_id"),
        string("commune_code"),
        string("province_code"),
        string("report_type"),
        string("action"),
        nullable_date("starts_on"),
        nullable_date("ends_on"),
        string("reason"),
        string("recorded_by"),
        date_time("recorded_at"),
    ),
    prepare=_valid_obligation,
)
#: Dead letters, their reasons as parallel arrays; a refused revision may be zero or
#: negative (Int32); a v1 record's raw size, digest and cut flag read NULL, NULL, 0.
REJECTIONS = Table(
    "rejections",
    topic=topics.DEAD_LETTER,
    declared=(
        string("rejection_id"),
        nullable_string("report_id"),
        Column("commune_code", "String", _commune_or_empty),
        nullable_string("province_code"),
        nullable_string("period"),
        nullable_int32("revision"),
        spread("reason_codes", "String", "reasons", "code"),
        spread("reason_fields", "Nullable(String)", "reasons", "field"),
        spread("reason_messages_en", "String", "reasons", "message_en"),
        spread("reason_messages_vi", "String", "reasons", "message_vi"),
        Column("raw_payload", "String", _raw_payload),
        string("source_topic"),
        partition("source_partition"),
        offset("source_offset"),
        date_time("rejected_at"),
        nullable_size("raw_size"),
        nullable_string("raw_sha256"),
        flag("raw_truncated", default=False),
    ),
)
#: Messages the sink could not store, with their Kafka position and the reason.
POISON_MESSAGES = Table(
    "sink_poison_messages",
    declared=(
        given("source_topic", "String"),
        given("source_partition", "Int32"),
        given("source_offset", "Int64"),
        given("message_key", "String"),
        given("raw_payload", "String"),
        given("error", "String"),
        given("received_at", "DateTime('UTC')", epoch_seconds),
    ),
)
#: Every table the sink writes, in the order a batch writes them.
TABLES: tuple[Table, ...] = (
    COMMUNE_REPORTS,
    PROVINCE_INDICATOR_VALUES,
    PROVINCE_COMPLETENESS_VALUES,
    PROVINCE_INDICATOR_CHANGES,
    REPORT_WARNINGS_LOG,
    REPORTING_PERIODS,
    MISSING_REPORT_ALERTS,
    APPROVALS,
    APPROVAL_DECISIONS,
    REPORTING_OBLIGATIONS,
    REJECTIONS,
    POISON_MESSAGES,
)
