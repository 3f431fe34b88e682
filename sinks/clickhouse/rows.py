"""From a Kafka message to the row the sink inserts: decoding, routing and checks.

Pure functions, so every rule is unit-tested without servers. A record is checked against
the *storage* types here (an unsigned column refuses a negative number, ``DateTime`` holds
1970 to 2106): a value ClickHouse would refuse must not reach the insert, or one bad record
would block its whole batch forever. Such a record, like an undecodable one, becomes a row of
``sink_poison_messages`` with the reason, and the sink goes on.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from baocao.avro import DecodeError, codec_for
from baocao.topics import Topics
from sinks.exceptions import RowError

__all__ = [
    "COMMUNE_REPORTS",
    "POISON_MESSAGES",
    "PROVINCE_INDICATOR_VALUES",
    "REJECTIONS",
    "TABLES",
    "MessageRow",
    "Route",
    "Row",
    "Table",
    "commune_report_row",
    "message_row",
    "poison_row",
    "province_indicator_row",
    "rejection_row",
    "routes_for",
]

Row = tuple[Any, ...]

_UINT32_MAX = 2**32 - 1
_UINT64_MAX = 2**64 - 1
#: ClickHouse ``DateTime`` is a UInt32 count of seconds since the epoch.
_DATETIME_MIN = datetime(1970, 1, 1, tzinfo=UTC)
_DATETIME_MAX = datetime.fromtimestamp(_UINT32_MAX, tz=UTC)


@dataclass(frozen=True, slots=True)
class Table:
    """A table the sink writes, with the columns its rows fill, in row order."""

    name: str
    columns: tuple[str, ...]


COMMUNE_REPORTS = Table(
    "commune_reports",
    (
        "report_id",
        "commune_code",
        "province_code",
        "period",
        "revision",
        "submitted_at",
        "indicator_codes",
        "indicator_values",
    ),
)
PROVINCE_INDICATOR_VALUES = Table(
    "province_indicator_values",
    (
        "province_code",
        "period",
        "indicator_code",
        "value",
        "numerator",
        "denominator",
        "communes_reported",
        "version",
        "updated_at",
    ),
)
REJECTIONS = Table(
    "rejections",
    (
        "rejection_id",
        "report_id",
        "commune_code",
        "province_code",
        "period",
        "revision",
        "reason_codes",
        "reason_fields",
        "reason_messages_en",
        "reason_messages_vi",
        "raw_payload",
        "source_topic",
        "source_partition",
        "source_offset",
        "rejected_at",
    ),
)
POISON_MESSAGES = Table(
    "sink_poison_messages",
    (
        "source_topic",
        "source_partition",
        "source_offset",
        "message_key",
        "raw_payload",
        "error",
        "received_at",
    ),
)
#: Every table the sink writes, in the order a batch writes them.
TABLES: tuple[Table, ...] = (
    COMMUNE_REPORTS,
    PROVINCE_INDICATOR_VALUES,
    REJECTIONS,
    POISON_MESSAGES,
)


# -- field checks -------------------------------------------------------------------------


def _field(record: Mapping[str, Any], name: str) -> Any:
    try:
        return record[name]
    except KeyError:
        raise RowError(f"field {name!r} is missing") from None


def _text(value: Any, name: str) -> str:
    if isinstance(value, uuid.UUID):  # fastavro decodes the uuid logical type
        return str(value)
    if not isinstance(value, str):
        raise RowError(f"{name} must be a string, not {type(value).__name__}")
    return value


def _optional_text(value: Any, name: str) -> str | None:
    return None if value is None else _text(value, name)


def _integer(value: Any, name: str, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RowError(f"{name} must be an integer, not {type(value).__name__}")
    if not low <= value <= high:
        raise RowError(f"{name} {value} is outside the column's range {low}..{high}")
    return value


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RowError(f"{name} must be a number, not {type(value).__name__}")
    return float(value)


def _optional_number(value: Any, name: str) -> float | None:
    return None if value is None else _number(value, name)


def _instant(value: Any, name: str) -> datetime:
    """An aware UTC datetime within ClickHouse ``DateTime``'s range (naive means UTC)."""
    if not isinstance(value, datetime):
        raise RowError(f"{name} must be a timestamp, not {type(value).__name__}")
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not _DATETIME_MIN <= moment <= _DATETIME_MAX:
        raise RowError(f"{name} {moment.isoformat()} is outside 1970..2106")
    return moment.astimezone(UTC)


# -- one builder per table ----------------------------------------------------------------


def commune_report_row(record: Mapping[str, Any]) -> Row:
    """A ``commune_report.v1`` record as a ``commune_reports`` row; indicators sorted by
    code, so two copies of one revision are the same row."""
    indicators = _field(record, "indicators")
    if not isinstance(indicators, Mapping):
        raise RowError("indicators must be a map of code to number")
    items = sorted(
        (_text(code, "indicator code"), _number(value, f"indicator {code}"))
        for code, value in indicators.items()
    )
    return (
        _text(_field(record, "report_id"), "report_id"),
        _text(_field(record, "commune_code"), "commune_code"),
        _text(_field(record, "province_code"), "province_code"),
        _text(_field(record, "period"), "period"),
        _integer(_field(record, "revision"), "revision", low=0, high=_UINT32_MAX),
        _instant(_field(record, "submitted_at"), "submitted_at"),
        [code for code, _ in items],
        [value for _, value in items],
    )


def province_indicator_row(record: Mapping[str, Any]) -> Row:
    """A ``province_indicator.v1`` record as a ``province_indicator_values`` row."""
    return (
        _text(_field(record, "province_code"), "province_code"),
        _text(_field(record, "period"), "period"),
        _text(_field(record, "indicator_code"), "indicator_code"),
        _optional_number(record.get("value"), "value"),
        _optional_number(record.get("numerator"), "numerator"),
        _optional_number(record.get("denominator"), "denominator"),
        _integer(_field(record, "communes_reported"), "communes_reported", low=0, high=_UINT32_MAX),
        _integer(_field(record, "version"), "version", low=0, high=_UINT64_MAX),
        _instant(_field(record, "updated_at"), "updated_at"),
    )


def rejection_row(record: Mapping[str, Any]) -> Row:
    """A ``rejected_report.v1`` record as a ``rejections`` row: its reasons as parallel
    arrays, an absent commune as ``''`` (a sorting-key column cannot be Nullable)."""
    reasons = _field(record, "reasons")
    if not isinstance(reasons, list) or not all(isinstance(r, Mapping) for r in reasons):
        raise RowError("reasons must be a list of records")
    raw = _field(record, "raw_payload")
    if not isinstance(raw, bytes | str):
        raise RowError(f"raw_payload must be bytes, not {type(raw).__name__}")
    revision = record.get("revision")
    return (
        _text(_field(record, "rejection_id"), "rejection_id"),
        _optional_text(record.get("report_id"), "report_id"),
        _optional_text(record.get("commune_code"), "commune_code") or "",
        _optional_text(record.get("province_code"), "province_code"),
        _optional_text(record.get("period"), "period"),
        None if revision is None else _integer(revision, "revision", low=-(2**31), high=2**31 - 1),
        [_text(_field(r, "code"), "reason code") for r in reasons],
        [_optional_text(r.get("field"), "reason field") for r in reasons],
        [_text(_field(r, "message_en"), "reason message_en") for r in reasons],
        [_text(_field(r, "message_vi"), "reason message_vi") for r in reasons],
        raw,
        _text(_field(record, "source_topic"), "source_topic"),
        _integer(_field(record, "source_partition"), "source_partition", low=0, high=2**31 - 1),
        _integer(_field(record, "source_offset"), "source_offset", low=0, high=2**63 - 1),
        _instant(_field(record, "rejected_at"), "rejected_at"),
    )


def poison_row(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    error: str,
    received_at: datetime,
) -> Row:
    """A message the sink could not store, kept with its Kafka position and the reason."""
    return (topic, partition, offset, key or b"", value or b"", error, received_at)


# -- routing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Route:
    """How the messages of one topic are stored: their Avro schema, table and row builder."""

    schema: str
    table: Table
    build: Callable[[Mapping[str, Any]], Row]


def routes_for(topics: Topics) -> dict[str, Route]:
    """The sink's input topics and how each is stored."""
    return {
        topics.accepted_reports: Route("commune_report.v1", COMMUNE_REPORTS, commune_report_row),
        topics.province_indicators: Route(
            "province_indicator.v1", PROVINCE_INDICATOR_VALUES, province_indicator_row
        ),
        topics.dead_letter: Route("rejected_report.v1", REJECTIONS, rejection_row),
    }


@dataclass(frozen=True, slots=True)
class MessageRow:
    """Where one message goes; ``error`` is set when it went to the poison table."""

    table: Table
    row: Row
    error: str | None = None


def message_row(
    route: Route | None,
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    received_at: datetime,
) -> MessageRow:
    """Decode ``value`` with the route's codec and build its row; never raises for bad
    input: a message that cannot be stored becomes a poison row carrying the reason."""
    try:
        if route is None:
            raise RowError(f"no table is configured for topic {topic!r}")
        if value is None:
            raise RowError("the message has no value (a tombstone)")
        record = codec_for(route.schema).decode(value)
        return MessageRow(route.table, route.build(record))
    except (DecodeError, RowError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    poison = poison_row(
        topic=topic,
        partition=partition,
        offset=offset,
        key=key,
        value=value,
        error=error,
        received_at=received_at,
    )
    return MessageRow(POISON_MESSAGES, poison, error)
