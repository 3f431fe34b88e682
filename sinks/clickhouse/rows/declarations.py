"""Every table the sink writes, each column declared once: name, ClickHouse type, and how
its value is read and checked from a decoded record.

The order of a declaration is the order of the table's rows (and of its insert); the types
are those ``system.columns`` shows after ``baocao migrate`` (a test compares them on the
real server), so a migration and its declaration cannot drift apart unnoticed. Columns the
sink never fills (``ingested_at``, filled by its ``DEFAULT``) are not declared.

A column's reader takes the record and returns the value to store, or raises
:class:`~baocao.sinks.exceptions.RowError` (see :mod:`.checks`). Column kinds below (``string``,
``uint32``, ``date_time`` ...) pair a ClickHouse type with its check, so a declaration reads
like the ``CREATE TABLE`` it mirrors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from baocao.sinks.clickhouse.rows.checks import (
    DATETIME_MAX,
    DATETIME_MIN,
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    UINT32_MAX,
    UINT64_MAX,
    as_flag,
    as_instant,
    as_integer,
    as_number,
    as_optional_number,
    as_optional_text,
    as_records,
    as_text,
    as_texts,
    required,
)
from baocao.sinks.exceptions import RowError

__all__ = [
    "APPROVALS",
    "COMMUNE_REPORTS",
    "MISSING_REPORT_ALERTS",
    "POISON_MESSAGES",
    "PROVINCE_COMPLETENESS_VALUES",
    "PROVINCE_INDICATOR_CHANGES",
    "PROVINCE_INDICATOR_VALUES",
    "REJECTIONS",
    "REPORTING_PERIODS",
    "REPORT_WARNINGS_LOG",
    "TABLES",
    "Column",
    "Encode",
    "Read",
    "Row",
    "Table",
]

Row = tuple[Any, ...]
Read = Callable[[Mapping[str, Any]], Any]
#: A whole column of checked values as the insert sends it (see :attr:`Column.encode`).
Encode = Callable[[list[Any]], list[Any]]
Prepare = Callable[[Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its name, its ClickHouse type as ``system.columns`` shows it, and how
    its value is read and checked from a record."""

    name: str
    type: str
    read: Read = field(repr=False, compare=False)
    #: Turns a column of checked values into what the driver sends fastest (None: as is).
    encode: Encode | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Table:
    """A table the sink writes, with the columns its rows fill, in row order.

    ``prepare`` runs once per record before the columns read it, for values several columns
    share (the sorted indicators of a report fill two arrays).
    """

    name: str
    declared: tuple[Column, ...]
    prepare: Prepare | None = field(default=None, repr=False, compare=False)

    @property
    def columns(self) -> tuple[str, ...]:
        """The column names, in row order."""
        return tuple(column.name for column in self.declared)

    @property
    def types(self) -> dict[str, str]:
        """Column name -> ClickHouse type."""
        return {column.name: column.type for column in self.declared}

    def index(self, column: str) -> int:
        """Position of ``column`` in this table's rows."""
        return self.columns.index(column)


# -- column kinds: a ClickHouse type and its check ----------------------------------------


def string(name: str) -> Column:
    def read(record: Mapping[str, Any]) -> str:
        value = record.get(name)
        if type(value) is str:  # the common case, in one call per column
            return value
        return as_text(required(record, name), name)

    return Column(name, "String", read)


def nullable_string(name: str) -> Column:
    def read(record: Mapping[str, Any]) -> str | None:
        return as_optional_text(record.get(name), name)

    return Column(name, "Nullable(String)", read)


def _integer(type_: str, low: int, high: int) -> Callable[[str], Column]:
    def kind(name: str) -> Column:
        def read(record: Mapping[str, Any]) -> int:
            value = record.get(name)
            if type(value) is int and low <= value <= high:  # the common case
                return value
            return as_integer(required(record, name), name, low=low, high=high)

        return Column(name, type_, read)

    return kind


uint32 = _integer("UInt32", 0, UINT32_MAX)
uint64 = _integer("UInt64", 0, UINT64_MAX)
#: Kafka partitions and offsets are never negative, whatever their column's sign.
partition = _integer("Int32", 0, INT32_MAX)
offset = _integer("Int64", 0, INT64_MAX)


def nullable_int32(name: str) -> Column:
    def read(record: Mapping[str, Any]) -> int | None:
        value = record.get(name)
        return None if value is None else as_integer(value, name, low=INT32_MIN, high=INT32_MAX)

    return Column(name, "Nullable(Int32)", read)


def nullable_size(name: str) -> Column:
    """A byte count that older records lack (NULL), as Nullable(Int64)."""

    def read(record: Mapping[str, Any]) -> int | None:
        value = record.get(name)
        return None if value is None else as_integer(value, name, low=0, high=INT64_MAX)

    return Column(name, "Nullable(Int64)", read)


def nullable_float64(name: str) -> Column:
    def read(record: Mapping[str, Any]) -> float | None:
        return as_optional_number(record.get(name), name)

    return Column(name, "Nullable(Float64)", read)


def epoch_seconds(moments: list[Any]) -> list[Any]:
    """Checked UTC datetimes as the seconds ClickHouse ``DateTime`` stores: the driver takes
    integers as they are, where it would convert every datetime through pytz."""
    return [int(moment.timestamp()) for moment in moments]


def date_time(name: str) -> Column:
    def read(record: Mapping[str, Any]) -> Any:
        value = record.get(name)
        if (
            type(value) is datetime
            and value.tzinfo is UTC
            and DATETIME_MIN <= value <= DATETIME_MAX
        ):
            return value  # what fastavro decodes: an aware UTC datetime in range
        return as_instant(required(record, name), name)

    return Column(name, "DateTime('UTC')", read, epoch_seconds)


def flag(name: str, *, default: bool | None = None) -> Column:
    """A boolean as UInt8; ``default`` stands in for a field older records lack."""

    def read(record: Mapping[str, Any]) -> int:
        value = required(record, name) if default is None else record.get(name, default)
        return as_flag(value, name)

    return Column(name, "UInt8", read)


def strings(name: str) -> Column:
    def read(record: Mapping[str, Any]) -> list[str]:
        return as_texts(required(record, name), name)

    return Column(name, "Array(String)", read)


def spread(name: str, type_: str, items: str, check: Callable[[Mapping[str, Any]], Any]) -> Column:
    """An array column holding one value of each record of the list field ``items``
    (the causes of a change, the reasons of a rejection): parallel arrays."""

    def read(record: Mapping[str, Any]) -> list[Any]:
        return [check(item) for item in as_records(required(record, items), items)]

    return Column(name, type_, read)


def prepared(name: str, type_: str) -> Column:
    """A column whose value the table's ``prepare`` step computed and checked."""

    def read(record: Mapping[str, Any]) -> Any:
        return record[name]

    return Column(name, type_, read)


def _raw(name: str, type_: str, encode: Encode | None = None) -> Column:
    """A column filled by the sink itself (poison messages), stored as given."""

    def read(record: Mapping[str, Any]) -> Any:
        return record[name]

    return Column(name, type_, read, encode)


# -- shared values and item checks --------------------------------------------------------


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


def _text_of(name: str, label: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda item: as_text(required(item, name), label)


def _optional_text_of(name: str, label: str) -> Callable[[Mapping[str, Any]], str | None]:
    return lambda item: as_optional_text(item.get(name), label)


def _optional_number_of(name: str, label: str) -> Callable[[Mapping[str, Any]], float | None]:
    return lambda item: as_optional_number(item.get(name), label)


def _cause_revision(item: Mapping[str, Any]) -> int:
    return as_integer(required(item, "revision"), "cause revision", low=0, high=UINT32_MAX)


def _commune_or_empty(record: Mapping[str, Any]) -> str:
    """An absent commune as ``''``: a sorting-key column cannot be Nullable."""
    return as_optional_text(record.get("commune_code"), "commune_code") or ""


def _raw_payload(record: Mapping[str, Any]) -> bytes | str:
    raw = required(record, "raw_payload")
    if not isinstance(raw, bytes | str):
        raise RowError(f"raw_payload must be bytes, not {type(raw).__name__}")
    return raw


# -- the tables ---------------------------------------------------------------------------

#: ``accepted_report.v1`` (migrations 0002, 0008).
COMMUNE_REPORTS = Table(
    "commune_reports",
    (
        string("report_id"),
        string("commune_code"),
        string("province_code"),
        string("period"),
        uint32("revision"),
        date_time("submitted_at"),
        prepared("indicator_codes", "Array(String)"),
        prepared("indicator_values", "Array(Float64)"),
        string("report_type"),
        date_time("first_submitted_at"),
        date_time("accepted_at"),
        date_time("deadline"),
        flag("on_time"),
        flag("amended", default=False),
    ),
    prepare=_sorted_indicators,
)
#: ``province_indicator.v2`` (migrations 0003, 0008).
PROVINCE_INDICATOR_VALUES = Table(
    "province_indicator_values",
    (
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
#: ``province_completeness.v1`` (migration 0009).
PROVINCE_COMPLETENESS_VALUES = Table(
    "province_completeness_values",
    (
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
#: ``province_indicator_change.v1`` (migration 0009): its causes as parallel arrays.
PROVINCE_INDICATOR_CHANGES = Table(
    "province_indicator_changes",
    (
        string("province_code"),
        string("report_type"),
        string("period"),
        string("indicator_code"),
        uint64("version"),
        nullable_float64("value"),
        nullable_float64("previous_value"),
        date_time("known_at"),
        spread(
            "cause_commune_codes",
            "Array(String)",
            "causes",
            _text_of("commune_code", "cause commune_code"),
        ),
        spread(
            "cause_report_ids", "Array(String)", "causes", _text_of("report_id", "cause report_id")
        ),
        spread("cause_revisions", "Array(UInt32)", "causes", _cause_revision),
        spread(
            "cause_previous_values",
            "Array(Nullable(Float64))",
            "causes",
            _optional_number_of("previous_value", "cause previous_value"),
        ),
        spread(
            "cause_values",
            "Array(Nullable(Float64))",
            "causes",
            _optional_number_of("value", "cause value"),
        ),
    ),
)
#: ``report_warning.v1`` (migration 0009).
REPORT_WARNINGS_LOG = Table(
    "report_warnings_log",
    (
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
#: ``reporting_period.v1`` (migration 0009).
REPORTING_PERIODS = Table(
    "reporting_periods",
    (
        string("report_type"),
        string("period"),
        date_time("starts_at"),
        date_time("ends_at"),
        date_time("deadline"),
        date_time("locks_at"),
        date_time("announced_at"),
    ),
)
#: ``missing_reports_alert.v1`` (migration 0009).
MISSING_REPORT_ALERTS = Table(
    "missing_report_alerts",
    (
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
#: ``approval.v1`` (migration 0009).
APPROVALS = Table(
    "approvals",
    (
        string("approval_id"),
        string("province_code"),
        string("report_type"),
        string("period"),
        string("approved_by"),
        date_time("approved_at"),
        nullable_string("note"),
    ),
)
#: ``rejected_report.v2`` (migrations 0004, 0014; v1 read too): its reasons as parallel
#: arrays; a refused revision may be zero or negative (an Int32 column); the size and SHA-256
#: of the whole event and whether ``raw_payload`` was cut (NULL, NULL, 0 for v1 records).
REJECTIONS = Table(
    "rejections",
    (
        string("rejection_id"),
        nullable_string("report_id"),
        Column("commune_code", "String", _commune_or_empty),
        nullable_string("province_code"),
        nullable_string("period"),
        nullable_int32("revision"),
        spread("reason_codes", "Array(String)", "reasons", _text_of("code", "reason code")),
        spread(
            "reason_fields",
            "Array(Nullable(String))",
            "reasons",
            _optional_text_of("field", "reason field"),
        ),
        spread(
            "reason_messages_en",
            "Array(String)",
            "reasons",
            _text_of("message_en", "reason message_en"),
        ),
        spread(
            "reason_messages_vi",
            "Array(String)",
            "reasons",
            _text_of("message_vi", "reason message_vi"),
        ),
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
#: Messages the sink could not store (migration 0005), filled by the sink, not a record.
POISON_MESSAGES = Table(
    "sink_poison_messages",
    (
        _raw("source_topic", "String"),
        _raw("source_partition", "Int32"),
        _raw("source_offset", "Int64"),
        _raw("message_key", "String"),
        _raw("raw_payload", "String"),
        _raw("error", "String"),
        _raw("received_at", "DateTime('UTC')", epoch_seconds),
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
    REJECTIONS,
    POISON_MESSAGES,
)
