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


#: Topics (attributes of :class:`Topics`) whose records one schema writes and one builder
#: stores, with that schema and table.
_SIMPLE: tuple[tuple[str, str, Table, Build], ...] = (
    (
        "province_completeness",
        "province_completeness.v1",
        PROVINCE_COMPLETENESS_VALUES,
        completeness_row,
    ),
    (
        "province_indicator_changes",
        "province_indicator_change.v1",
        PROVINCE_INDICATOR_CHANGES,
        change_row,
    ),
    ("report_warnings", "report_warning.v1", REPORT_WARNINGS_LOG, warning_row),
    ("reporting_periods", "reporting_period.v1", REPORTING_PERIODS, reporting_period_row),
    ("missing_report_alerts", "missing_reports_alert.v1", MISSING_REPORT_ALERTS, alert_row),
    ("approvals", "approval.v1", APPROVALS, approval_row),
    ("dead_letter", "rejected_report.v1", REJECTIONS, rejection_row),
)


def routes_for(topics: Topics, *, deadlines: DeadlineRules) -> dict[str, Route]:
    """The sink's input topics and how each is stored. ``deadlines`` are the rules the
    worker uses (``BAOCAO_DEADLINES_*``): they fill in what older writers' records lack."""
    routes = {
        topics.accepted_reports: Route(
            COMMUNE_REPORTS,
            (
                Reader(codec_for("accepted_report.v1"), _plain(accepted_report_row)),
                Reader(codec_for("commune_report.v1"), partial(_legacy_accepted_report, deadlines)),
            ),
        ),
        topics.province_indicators: Route(
            PROVINCE_INDICATOR_VALUES,
            (
                Reader(
                    codec_for("province_indicator.v2", "province_indicator.v1"),
                    partial(_any_province_indicator, deadlines),
                ),
            ),
        ),
    }
    for attribute, schema, table, build in _SIMPLE:
        routes[getattr(topics, attribute)] = Route(
            table, (Reader(codec_for(schema), _plain(build)),)
        )
    return routes


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
