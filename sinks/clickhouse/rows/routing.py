"""Routing: which table each input topic fills, and which reader decodes each message.

A topic's messages are told apart by the writer fingerprint each carries
(:func:`baocao.core.avro.writer_fingerprint`): the reader whose codec knows it decodes the
message and builds its row; a message no reader knows is tried with the topic's current
reader, whose error then says why. Nothing here raises for bad input: a message that cannot be
stored becomes a row of ``sink_poison_messages`` with the reason, and the sink goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from baocao.core import topics as contract
from baocao.core.avro import AvroCodec, DecodeError, codec_for, writer_fingerprint
from baocao.core.periods import DeadlineRules
from baocao.core.topics import Topics
from baocao.sinks.clickhouse.rows.builders import (
    Build,
    accepted_report_row,
    alert_row,
    approval_row,
    change_row,
    completeness_row,
    poison_row,
    province_indicator_row,
    rejection_row,
    reporting_period_row,
    warning_row,
)
from baocao.sinks.clickhouse.rows.checks import DATETIME_MAX
from baocao.sinks.clickhouse.rows.declarations import (
    APPROVALS,
    COMMUNE_REPORTS,
    MISSING_REPORT_ALERTS,
    POISON_MESSAGES,
    PROVINCE_COMPLETENESS_VALUES,
    PROVINCE_INDICATOR_CHANGES,
    PROVINCE_INDICATOR_VALUES,
    REJECTIONS,
    REPORT_WARNINGS_LOG,
    REPORTING_PERIODS,
    Row,
    Table,
)
from baocao.sinks.clickhouse.rows.upgrades import (
    upgrade_commune_report,
    upgrade_province_indicator,
)
from baocao.sinks.exceptions import RowError

__all__ = [
    "Envelope",
    "MessageRow",
    "Reader",
    "Route",
    "kafka_timestamp",
    "message_row",
    "routes_for",
    "submitted_at_of",
]


@dataclass(frozen=True, slots=True)
class Envelope:
    """What Kafka tells about a message besides its value."""

    #: The record's Kafka timestamp in milliseconds (-1 or None when it has none).
    timestamp_ms: int | None
    #: When the sink received it: stands in for a missing or unstorable timestamp.
    received_at: datetime

    @property
    def timestamp(self) -> datetime:
        """The record's Kafka timestamp (when the producer wrote it); worked out only for
        the records that need it (an older worker's accepted reports)."""
        return kafka_timestamp(self.timestamp_ms, default=self.received_at)


EnvelopeBuild = Callable[[Mapping[str, Any], Envelope], Row]


@dataclass(frozen=True, slots=True)
class Reader:
    """One writer schema (or family of compatible ones) a topic carries, and how its
    records become rows."""

    codec: AvroCodec
    build: EnvelopeBuild


@dataclass(frozen=True, slots=True)
class Route:
    """How the messages of one topic are stored: their table and their readers, picked
    by the writer fingerprint of each message."""

    table: Table
    readers: tuple[Reader, ...]
    _by_writer: dict[bytes, Reader] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_writer: dict[bytes, Reader] = {}
        for reader in reversed(self.readers):  # the first reader knowing a schema wins
            by_writer.update(dict.fromkeys(reader.codec.known_schemas, reader))
        object.__setattr__(self, "_by_writer", by_writer)

    def row(self, payload: bytes, envelope: Envelope) -> Row:
        """Decode ``payload`` with the reader of its writer schema and build its row;
        raise :class:`DecodeError` or :class:`RowError` when it cannot be stored."""
        fingerprint = writer_fingerprint(payload)
        reader = self.readers[0] if fingerprint is None else self._by_writer.get(fingerprint)
        reader = reader or self.readers[0]  # unknown: the current reader's error says why
        return reader.build(reader.codec.decode(payload), envelope)


def _plain(build: Build) -> EnvelopeBuild:
    """A row builder that needs nothing from the envelope."""

    def build_ignoring_envelope(record: Mapping[str, Any], envelope: Envelope) -> Row:
        return build(record)

    return build_ignoring_envelope


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


#: The table each topic the sink reads fills (the topics and their schemas are declared in
#: :mod:`baocao.core.topics`; a topic the sink reads without a table here fails at start-up).
_TABLES: dict[str, Table] = {
    contract.ACCEPTED_REPORTS.attribute: COMMUNE_REPORTS,
    contract.PROVINCE_INDICATORS.attribute: PROVINCE_INDICATOR_VALUES,
    contract.PROVINCE_COMPLETENESS.attribute: PROVINCE_COMPLETENESS_VALUES,
    contract.PROVINCE_INDICATOR_CHANGES.attribute: PROVINCE_INDICATOR_CHANGES,
    contract.REPORT_WARNINGS.attribute: REPORT_WARNINGS_LOG,
    contract.REPORTING_PERIODS.attribute: REPORTING_PERIODS,
    contract.MISSING_REPORT_ALERTS.attribute: MISSING_REPORT_ALERTS,
    contract.APPROVALS.attribute: APPROVALS,
    contract.DEAD_LETTER.attribute: REJECTIONS,
}

#: How the records of each schema family (a schema name without its version) become rows,
#: given the deadline rules: older writers' records are upgraded first (:mod:`.upgrades`).
_BUILDS: dict[str, Callable[[DeadlineRules], EnvelopeBuild]] = {
    "accepted_report": lambda rules: _plain(accepted_report_row),
    "commune_report": lambda rules: partial(_legacy_accepted_report, rules),
    "province_indicator": lambda rules: partial(_any_province_indicator, rules),
    "province_completeness": lambda rules: _plain(completeness_row),
    "province_indicator_change": lambda rules: _plain(change_row),
    "report_warning": lambda rules: _plain(warning_row),
    "reporting_period": lambda rules: _plain(reporting_period_row),
    "missing_reports_alert": lambda rules: _plain(alert_row),
    "approval": lambda rules: _plain(approval_row),
    "rejected_report": lambda rules: _plain(rejection_row),
}


def _family(schema: str) -> str:
    return schema.rsplit(".v", 1)[0]


def _readers(spec: contract.TopicSpec, rules: DeadlineRules) -> tuple[Reader, ...]:
    """One reader per record family the topic accepts, the writer's own first: its codec
    reads with the schema the writer writes (older versions resolved to it); another
    family's (records of older writers) with the oldest version the topic accepts."""
    families: dict[str, list[str]] = {_family(spec.writes): [spec.writes]}
    for schema in spec.accepts:
        names = families.setdefault(_family(schema), [])
        if schema not in names:
            names.append(schema)
    return tuple(
        Reader(codec_for(names[0], *names[1:]), _BUILDS[family](rules))
        for family, names in families.items()
    )


def routes_for(topics: Topics, *, deadlines: DeadlineRules) -> dict[str, Route]:
    """The sink's input topics (those :mod:`baocao.core.topics` says the sinks read) and
    how each is stored. ``deadlines`` are the rules the worker uses (``BAOCAO_DEADLINES_*``):
    they fill in what older writers' records lack."""
    return {
        topics.name(spec): Route(_TABLES[spec.attribute], _readers(spec, deadlines))
        for spec in contract.SPECS
        if contract.Component.SINKS in spec.readers
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
    return moment if moment <= DATETIME_MAX else default


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
        return MessageRow(route.table, route.row(value, Envelope(timestamp_ms, received_at)))
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
