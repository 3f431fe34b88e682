"""From a Kafka message to the row the sink inserts: decoding, routing and checks.

Pure functions, so every rule is unit-tested without servers. A record is checked against
the *storage* types here (an unsigned column refuses a negative number, ``DateTime`` holds
1970 to 2106): a value ClickHouse would refuse must not reach the insert, or one bad record
would block its whole batch forever. Such a record, like an undecodable one, becomes a row of
``sink_poison_messages`` with the reason, and the sink goes on.

Older writers. A topic may carry records of an earlier schema, told apart by the writer
fingerprint every message carries:

* ``accepted_reports`` carried ``commune_report.v1`` before workers wrote
  ``accepted_report.v1``. Such a record is upgraded here: its report type and deadline follow
  from its period (:mod:`baocao.core.periods`, with the deadline rules the worker uses), it was
  first submitted when this revision was (the only submission time it knows), accepted at the
  Kafka timestamp of the record, on time when submitted by the deadline, never an amendment.
* ``province_indicators`` carried ``province_indicator.v1``; Avro resolution reads it as v2
  with the defaults (no deadline), and the report type and deadline are filled in from the
  period the same way, so an old worker's figures get a status like a new one's.

A period those rules cannot read makes the record poison: a real worker never wrote one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from baocao.core.avro import AvroCodec, DecodeError, codec_for
from baocao.core.periods import DeadlineRules, PeriodError, deadline, parse_period
from baocao.core.topics import Topics
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
    "Envelope",
    "MessageRow",
    "Reader",
    "Route",
    "Row",
    "Table",
    "accepted_report_row",
    "alert_row",
    "approval_row",
    "change_row",
    "completeness_row",
    "kafka_timestamp",
    "message_row",
    "poison_row",
    "province_indicator_row",
    "rejection_row",
    "reporting_period_row",
    "routes_for",
    "submitted_at_of",
    "upgrade_commune_report",
    "upgrade_province_indicator",
    "warning_row",
]

Row = tuple[Any, ...]

_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1
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

    def index(self, column: str) -> int:
        """Position of ``column`` in this table's rows."""
        return self.columns.index(column)


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
        "report_type",
        "first_submitted_at",
        "accepted_at",
        "deadline",
        "on_time",
        "amended",
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
        "report_type",
        "deadline",
        "communes_with_warnings",
        "communes_amended",
    ),
)
PROVINCE_COMPLETENESS_VALUES = Table(
    "province_completeness_values",
    (
        "province_code",
        "report_type",
        "period",
        "deadline",
        "communes_expected",
        "communes_reported",
        "communes_on_time",
        "communes_late",
        "version",
        "updated_at",
    ),
)
PROVINCE_INDICATOR_CHANGES = Table(
    "province_indicator_changes",
    (
        "province_code",
        "report_type",
        "period",
        "indicator_code",
        "version",
        "value",
        "previous_value",
        "known_at",
        "cause_commune_codes",
        "cause_report_ids",
        "cause_revisions",
        "cause_previous_values",
        "cause_values",
    ),
)
REPORT_WARNINGS_LOG = Table(
    "report_warnings_log",
    (
        "warning_id",
        "report_id",
        "commune_code",
        "province_code",
        "report_type",
        "period",
        "revision",
        "rule_code",
        "indicator_code",
        "value",
        "reference_value",
        "message_en",
        "message_vi",
        "raised_at",
    ),
)
REPORTING_PERIODS = Table(
    "reporting_periods",
    (
        "report_type",
        "period",
        "starts_at",
        "ends_at",
        "deadline",
        "locks_at",
        "announced_at",
    ),
)
MISSING_REPORT_ALERTS = Table(
    "missing_report_alerts",
    (
        "alert_id",
        "province_code",
        "report_type",
        "period",
        "deadline",
        "phase",
        "commune_codes",
        "communes_expected",
        "generated_at",
    ),
)
APPROVALS = Table(
    "approvals",
    (
        "approval_id",
        "province_code",
        "report_type",
        "period",
        "approved_by",
        "approved_at",
        "note",
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
    PROVINCE_COMPLETENESS_VALUES,
    PROVINCE_INDICATOR_CHANGES,
    REPORT_WARNINGS_LOG,
    REPORTING_PERIODS,
    MISSING_REPORT_ALERTS,
    APPROVALS,
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


def _count(record: Mapping[str, Any], name: str) -> int:
    """A UInt32 count field."""
    return _integer(_field(record, name), name, low=0, high=_UINT32_MAX)


def _flag(value: Any, name: str) -> int:
    """A boolean as the 0/1 of a UInt8 column."""
    if not isinstance(value, bool):
        raise RowError(f"{name} must be a boolean, not {type(value).__name__}")
    return int(value)


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


def _texts(value: Any, name: str) -> list[str]:
    if not isinstance(value, list):
        raise RowError(f"{name} must be a list, not {type(value).__name__}")
    return [_text(item, name) for item in value]


def _records(record: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    value = _field(record, name)
    if not isinstance(value, list) or not all(isinstance(r, Mapping) for r in value):
        raise RowError(f"{name} must be a list of records")
    return value


def _absent_instant(value: Any) -> bool:
    """A ``timestamp-millis`` field left at its default 0 (fastavro hands the default over
    as the int, not as a datetime)."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment == _DATETIME_MIN
    return value == 0 and not isinstance(value, bool)


# -- one builder per table ----------------------------------------------------------------


def accepted_report_row(record: Mapping[str, Any]) -> Row:
    """An ``accepted_report.v1`` record as a ``commune_reports`` row; indicators sorted by
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
        _text(_field(record, "report_type"), "report_type"),
        _instant(_field(record, "first_submitted_at"), "first_submitted_at"),
        _instant(_field(record, "accepted_at"), "accepted_at"),
        _instant(_field(record, "deadline"), "deadline"),
        _flag(_field(record, "on_time"), "on_time"),
        _flag(record.get("amended", False), "amended"),
    )


def province_indicator_row(record: Mapping[str, Any]) -> Row:
    """A ``province_indicator.v2`` record as a ``province_indicator_values`` row."""
    return (
        _text(_field(record, "province_code"), "province_code"),
        _text(_field(record, "period"), "period"),
        _text(_field(record, "indicator_code"), "indicator_code"),
        _optional_number(record.get("value"), "value"),
        _optional_number(record.get("numerator"), "numerator"),
        _optional_number(record.get("denominator"), "denominator"),
        _count(record, "communes_reported"),
        _integer(_field(record, "version"), "version", low=0, high=_UINT64_MAX),
        _instant(_field(record, "updated_at"), "updated_at"),
        _text(_field(record, "report_type"), "report_type"),
        _instant(_field(record, "deadline"), "deadline"),
        _count(record, "communes_with_warnings"),
        _count(record, "communes_amended"),
    )


def completeness_row(record: Mapping[str, Any]) -> Row:
    """A ``province_completeness.v1`` record as a ``province_completeness_values`` row."""
    return (
        _text(_field(record, "province_code"), "province_code"),
        _text(_field(record, "report_type"), "report_type"),
        _text(_field(record, "period"), "period"),
        _instant(_field(record, "deadline"), "deadline"),
        _count(record, "communes_expected"),
        _count(record, "communes_reported"),
        _count(record, "communes_on_time"),
        _count(record, "communes_late"),
        _integer(_field(record, "version"), "version", low=0, high=_UINT64_MAX),
        _instant(_field(record, "updated_at"), "updated_at"),
    )


def change_row(record: Mapping[str, Any]) -> Row:
    """A ``province_indicator_change.v1`` record as a ``province_indicator_changes`` row:
    its causes as parallel arrays (commune, report, revision, value before, value after)."""
    causes = _records(record, "causes")
    return (
        _text(_field(record, "province_code"), "province_code"),
        _text(_field(record, "report_type"), "report_type"),
        _text(_field(record, "period"), "period"),
        _text(_field(record, "indicator_code"), "indicator_code"),
        _integer(_field(record, "version"), "version", low=0, high=_UINT64_MAX),
        _optional_number(record.get("value"), "value"),
        _optional_number(record.get("previous_value"), "previous_value"),
        _instant(_field(record, "known_at"), "known_at"),
        [_text(_field(c, "commune_code"), "cause commune_code") for c in causes],
        [_text(_field(c, "report_id"), "cause report_id") for c in causes],
        [
            _integer(_field(c, "revision"), "cause revision", low=0, high=_UINT32_MAX)
            for c in causes
        ],
        [_optional_number(c.get("previous_value"), "cause previous_value") for c in causes],
        [_optional_number(c.get("value"), "cause value") for c in causes],
    )


def warning_row(record: Mapping[str, Any]) -> Row:
    """A ``report_warning.v1`` record as a ``report_warnings_log`` row."""
    return (
        _text(_field(record, "warning_id"), "warning_id"),
        _text(_field(record, "report_id"), "report_id"),
        _text(_field(record, "commune_code"), "commune_code"),
        _text(_field(record, "province_code"), "province_code"),
        _text(_field(record, "report_type"), "report_type"),
        _text(_field(record, "period"), "period"),
        _integer(_field(record, "revision"), "revision", low=0, high=_UINT32_MAX),
        _text(_field(record, "rule_code"), "rule_code"),
        _optional_text(record.get("indicator_code"), "indicator_code"),
        _optional_number(record.get("value"), "value"),
        _optional_number(record.get("reference_value"), "reference_value"),
        _text(_field(record, "message_en"), "message_en"),
        _text(_field(record, "message_vi"), "message_vi"),
        _instant(_field(record, "raised_at"), "raised_at"),
    )


def reporting_period_row(record: Mapping[str, Any]) -> Row:
    """A ``reporting_period.v1`` record as a ``reporting_periods`` row."""
    return (
        _text(_field(record, "report_type"), "report_type"),
        _text(_field(record, "period"), "period"),
        _instant(_field(record, "starts_at"), "starts_at"),
        _instant(_field(record, "ends_at"), "ends_at"),
        _instant(_field(record, "deadline"), "deadline"),
        _instant(_field(record, "locks_at"), "locks_at"),
        _instant(_field(record, "announced_at"), "announced_at"),
    )


def alert_row(record: Mapping[str, Any]) -> Row:
    """A ``missing_reports_alert.v1`` record as a ``missing_report_alerts`` row."""
    return (
        _text(_field(record, "alert_id"), "alert_id"),
        _text(_field(record, "province_code"), "province_code"),
        _text(_field(record, "report_type"), "report_type"),
        _text(_field(record, "period"), "period"),
        _instant(_field(record, "deadline"), "deadline"),
        _text(_field(record, "phase"), "phase"),
        _texts(_field(record, "commune_codes"), "commune_codes"),
        _count(record, "communes_expected"),
        _instant(_field(record, "generated_at"), "generated_at"),
    )


def approval_row(record: Mapping[str, Any]) -> Row:
    """An ``approval.v1`` record as an ``approvals`` row."""
    return (
        _text(_field(record, "approval_id"), "approval_id"),
        _text(_field(record, "province_code"), "province_code"),
        _text(_field(record, "report_type"), "report_type"),
        _text(_field(record, "period"), "period"),
        _text(_field(record, "approved_by"), "approved_by"),
        _instant(_field(record, "approved_at"), "approved_at"),
        _optional_text(record.get("note"), "note"),
    )


def rejection_row(record: Mapping[str, Any]) -> Row:
    """A ``rejected_report.v1`` record as a ``rejections`` row: its reasons as parallel
    arrays, an absent commune as ``''`` (a sorting-key column cannot be Nullable)."""
    reasons = _records(record, "reasons")
    raw = _field(record, "raw_payload")
    if not isinstance(raw, bytes | str):
        raise RowError(f"raw_payload must be bytes, not {type(raw).__name__}")
    revision = record.get("revision")
    if revision is not None:  # refused revisions may be zero or negative: an Int32 column
        revision = _integer(revision, "revision", low=_INT32_MIN, high=_INT32_MAX)
    return (
        _text(_field(record, "rejection_id"), "rejection_id"),
        _optional_text(record.get("report_id"), "report_id"),
        _optional_text(record.get("commune_code"), "commune_code") or "",
        _optional_text(record.get("province_code"), "province_code"),
        _optional_text(record.get("period"), "period"),
        revision,
        [_text(_field(r, "code"), "reason code") for r in reasons],
        [_optional_text(r.get("field"), "reason field") for r in reasons],
        [_text(_field(r, "message_en"), "reason message_en") for r in reasons],
        [_text(_field(r, "message_vi"), "reason message_vi") for r in reasons],
        raw,
        _text(_field(record, "source_topic"), "source_topic"),
        _integer(_field(record, "source_partition"), "source_partition", low=0, high=_INT32_MAX),
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


# -- records of older writers -------------------------------------------------------------


def _period_deadline(record: Mapping[str, Any], rules: DeadlineRules) -> tuple[str, datetime]:
    """The report type and deadline that the record's period has under ``rules``."""
    text = _text(_field(record, "period"), "period")
    try:
        period = parse_period(text)
    except PeriodError as exc:
        raise RowError(
            f"cannot tell the report type and deadline of period {text!r}: {exc}"
        ) from exc
    return str(period.report_type), deadline(period, rules)


def upgrade_commune_report(
    record: Mapping[str, Any], *, accepted_at: datetime, rules: DeadlineRules
) -> dict[str, Any]:
    """A ``commune_report.v1`` record (an older worker's accepted report) in the
    ``accepted_report.v1`` form, filled in as the module docstring says."""
    report_type, due = _period_deadline(record, rules)
    submitted_at = _instant(_field(record, "submitted_at"), "submitted_at")
    return {
        **record,
        "report_type": report_type,
        "first_submitted_at": submitted_at,
        "accepted_at": accepted_at,
        "deadline": due,
        "on_time": submitted_at <= due,
        "amended": False,
    }


def upgrade_province_indicator(
    record: Mapping[str, Any], *, rules: DeadlineRules
) -> Mapping[str, Any]:
    """A figure as v2 with its report type and deadline: an older worker's (read from v1,
    the deadline left at its default) gets both from its period; a v2 figure is unchanged."""
    if not _absent_instant(record.get("deadline", 0)):
        return record
    report_type, due = _period_deadline(record, rules)
    return {**record, "report_type": report_type, "deadline": due}


# -- routing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Envelope:
    """What Kafka tells about a message besides its value."""

    #: The record's Kafka timestamp (when the producer wrote it).
    timestamp: datetime


Build = Callable[[Mapping[str, Any], Envelope], Row]


@dataclass(frozen=True, slots=True)
class Reader:
    """One writer schema (or family of compatible ones) a topic carries, and how its
    records become rows."""

    codec: AvroCodec
    build: Build

    def knows(self, payload: bytes) -> bool:
        """Whether ``payload``'s writer fingerprint is one this reader's codec decodes."""
        return self.codec.knows(payload)


@dataclass(frozen=True, slots=True)
class Route:
    """How the messages of one topic are stored: their table and their readers, picked
    by the writer fingerprint of each message."""

    table: Table
    readers: tuple[Reader, ...]

    def row(self, payload: bytes, envelope: Envelope) -> Row:
        """Decode ``payload`` with the reader of its writer schema and build its row;
        raise :class:`DecodeError` or :class:`RowError` when it cannot be stored."""
        reader = next((r for r in self.readers if r.knows(payload)), self.readers[0])
        return reader.build(reader.codec.decode(payload), envelope)


def _plain(build: Callable[[Mapping[str, Any]], Row]) -> Build:
    """A row builder that needs nothing from the envelope."""

    def build_ignoring_envelope(record: Mapping[str, Any], envelope: Envelope) -> Row:
        return build(record)

    return build_ignoring_envelope


def _route(table: Table, schema: str, build: Callable[[Mapping[str, Any]], Row]) -> Route:
    return Route(table, (Reader(codec_for(schema), _plain(build)),))


def _legacy_accepted_report(
    rules: DeadlineRules, record: Mapping[str, Any], envelope: Envelope
) -> Row:
    return accepted_report_row(
        upgrade_commune_report(record, accepted_at=envelope.timestamp, rules=rules)
    )


def _any_province_indicator(
    rules: DeadlineRules, record: Mapping[str, Any], envelope: Envelope
) -> Row:
    return province_indicator_row(upgrade_province_indicator(record, rules=rules))


def routes_for(topics: Topics, *, deadlines: DeadlineRules) -> dict[str, Route]:
    """The sink's input topics and how each is stored. ``deadlines`` are the rules the
    worker uses (``BAOCAO_DEADLINES_*``): they fill in what older writers' records lack."""
    accepted = Route(
        COMMUNE_REPORTS,
        (
            Reader(codec_for("accepted_report.v1"), _plain(accepted_report_row)),
            Reader(codec_for("commune_report.v1"), partial(_legacy_accepted_report, deadlines)),
        ),
    )
    figures = Route(
        PROVINCE_INDICATOR_VALUES,
        (
            Reader(
                codec_for("province_indicator.v2", "province_indicator.v1"),
                partial(_any_province_indicator, deadlines),
            ),
        ),
    )
    return {
        topics.accepted_reports: accepted,
        topics.province_indicators: figures,
        topics.province_completeness: _route(
            PROVINCE_COMPLETENESS_VALUES, "province_completeness.v1", completeness_row
        ),
        topics.province_indicator_changes: _route(
            PROVINCE_INDICATOR_CHANGES, "province_indicator_change.v1", change_row
        ),
        topics.report_warnings: _route(REPORT_WARNINGS_LOG, "report_warning.v1", warning_row),
        topics.reporting_periods: _route(
            REPORTING_PERIODS, "reporting_period.v1", reporting_period_row
        ),
        topics.missing_report_alerts: _route(
            MISSING_REPORT_ALERTS, "missing_reports_alert.v1", alert_row
        ),
        topics.approvals: _route(APPROVALS, "approval.v1", approval_row),
        topics.dead_letter: _route(REJECTIONS, "rejected_report.v1", rejection_row),
    }


@dataclass(frozen=True, slots=True)
class MessageRow:
    """Where one message goes; ``error`` is set when it went to the poison table."""

    table: Table
    row: Row
    error: str | None = None


def kafka_timestamp(timestamp_ms: int | None, *, default: datetime) -> datetime:
    """A Kafka record timestamp (milliseconds; -1 or None when the record has none) as an
    aware UTC datetime, ``default`` when absent or outside ClickHouse ``DateTime``."""
    if timestamp_ms is None or timestamp_ms < 0:
        return default
    moment = datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
    return moment if moment <= _DATETIME_MAX else default


def message_row(
    route: Route | None,
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    received_at: datetime,
    timestamp_ms: int | None = None,
) -> MessageRow:
    """Decode ``value`` with the route's readers and build its row; never raises for bad
    input: a message that cannot be stored becomes a poison row carrying the reason.
    ``timestamp_ms`` is the record's Kafka timestamp (``received_at`` stands in without)."""
    try:
        if route is None:
            raise RowError(f"no table is configured for topic {topic!r}")
        if value is None:
            raise RowError("the message has no value (a tombstone)")
        envelope = Envelope(kafka_timestamp(timestamp_ms, default=received_at))
        return MessageRow(route.table, route.row(value, envelope))
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


def submitted_at_of(rows: Sequence[MessageRow]) -> list[datetime]:
    """When each accepted report among ``rows`` was submitted (for the freshness metric)."""
    column = COMMUNE_REPORTS.index("submitted_at")
    return [placed.row[column] for placed in rows if placed.table is COMMUNE_REPORTS]
