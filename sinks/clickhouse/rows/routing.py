"""From a Kafka message to the table and row it becomes, derived from the table declarations.

A topic's messages are told apart by the writer fingerprint each carries: the reader of
that schema family decodes the message, upgrades it when its table says so, and builds the
row; a message no reader knows goes to the topic's current reader, whose error says why.
The rule: nothing here raises for bad input; what cannot be stored becomes a row of
``sink_poison_messages`` with the reason, and the sink goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from baocao.core.avro import AvroCodec, DecodeError, codec_for, writer_fingerprint
from baocao.core.periods import DeadlineRules
from baocao.core.topics import SPECS, Component, Topics, TopicSpec
from baocao.sinks.clickhouse.rows.columns import Row, Table
from baocao.sinks.clickhouse.rows.tables import COMMUNE_REPORTS, POISON_MESSAGES, TABLES
from baocao.sinks.clickhouse.rows.upgrades import Envelope
from baocao.sinks.exceptions import RowError

__all__ = [
    "Message",
    "MessageRow",
    "Reader",
    "Route",
    "message_row",
    "routes_for",
    "schema_family",
    "submitted_at_of",
]

EnvelopeBuild = Callable[[Mapping[str, Any], Envelope], Row]


@dataclass(frozen=True, slots=True)
class Reader:
    """One schema family a topic carries (its versions resolved to one), and how its
    records become rows."""

    codec: AvroCodec
    build: EnvelopeBuild


@dataclass(frozen=True, slots=True)
class Route:
    """How the messages of one topic are stored: their table and their readers, picked
    by the writer fingerprint of each message (the writer's own reader first)."""

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


def schema_family(schema: str) -> str:
    """A schema name without its version: ``commune_report`` for ``commune_report.v1``."""
    return schema.rsplit(".v", 1)[0]


def _build(table: Table, family: str, rules: DeadlineRules) -> EnvelopeBuild:
    """How a record of ``family`` becomes a row of ``table``: upgraded first when the table
    declares an upgrade of that family."""
    row = table.row
    upgrade = table.upgrades.get(family)
    if upgrade is None:

        def build(record: Mapping[str, Any], envelope: Envelope) -> Row:
            return row(record)

    else:

        def build(record: Mapping[str, Any], envelope: Envelope) -> Row:
            return row(upgrade(record, envelope, rules))

    return build


def _readers(table: Table, spec: TopicSpec, rules: DeadlineRules) -> tuple[Reader, ...]:
    """One reader per schema family the table's topic accepts, the writer's own first: its
    codec reads with the schema the writer writes (older versions resolved to it); another
    family's with the oldest version the topic accepts, and the table's upgrade of it."""
    families: dict[str, list[str]] = {schema_family(spec.writes): [spec.writes]}
    for schema in spec.accepts:
        names = families.setdefault(schema_family(schema), [])
        if schema not in names:
            names.append(schema)
    own = schema_family(spec.writes)
    unread = set(table.upgrades) - set(families)
    missing = [family for family in families if family != own and family not in table.upgrades]
    if unread or missing:
        raise ValueError(
            f"table {table.name}: topic {spec.suffix} accepts {sorted(families)}; upgrades"
            f" declared for {sorted(table.upgrades)} (missing {missing}, unread {sorted(unread)})"
        )
    return tuple(
        Reader(codec_for(names[0], *names[1:]), _build(table, family, rules))
        for family, names in families.items()
    )


def routes_for(
    topics: Topics, *, deadlines: DeadlineRules, tables: Sequence[Table] = TABLES
) -> dict[str, Route]:
    """Every topic :mod:`baocao.core.topics` says the sinks read, and how each is stored (the
    table declaring it as its topic). ``deadlines`` are the rules the worker uses
    (``BAOCAO_DEADLINES_*``): they fill in what older writers' records lack."""
    by_topic = {table.topic: table for table in tables if table.topic is not None}
    routes: dict[str, Route] = {}
    for spec in SPECS:
        if Component.SINKS not in spec.readers:
            continue
        table = by_topic.get(spec)
        if table is None:
            raise ValueError(f"the sinks read topic {spec.suffix}, but no table declares it")
        routes[topics.name(spec)] = Route(table, _readers(table, spec, deadlines))
    return routes


@dataclass(frozen=True, slots=True)
class MessageRow:
    """Where one message goes; ``error`` is set when it went to the poison table."""

    table: Table
    row: Row
    error: str | None = None


class Message(Protocol):
    """A Kafka message as the consumer hands it over (kafka-python's ``ConsumerRecord``)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def timestamp(self) -> int | None:
        """Its Kafka timestamp in milliseconds (-1 or None when it has none)."""


def message_row(route: Route | None, message: Message, *, received_at: datetime) -> MessageRow:
    """Decode the message's value with the route's readers and build its row; never raises
    for bad input: a message that cannot be stored becomes a poison row carrying the reason."""
    value = message.value
    try:
        if route is None:
            raise RowError(f"no table is configured for topic {message.topic!r}")
        if value is None:
            raise RowError("the message has no value (a tombstone)")
        return MessageRow(route.table, route.row(value, Envelope(message.timestamp, received_at)))
    except (DecodeError, RowError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    poison = {
        "source_topic": message.topic,
        "source_partition": message.partition,
        "source_offset": message.offset,
        "message_key": message.key or b"",
        "raw_payload": value or b"",
        "error": error,
        "received_at": received_at,
    }
    return MessageRow(POISON_MESSAGES, POISON_MESSAGES.row(poison), error)


def submitted_at_of(rows: Sequence[MessageRow]) -> list[datetime]:
    """When each accepted report among ``rows`` was submitted (for the freshness metric)."""
    column = COMMUNE_REPORTS.index("submitted_at")
    return [placed.row[column] for placed in rows if placed.table is COMMUNE_REPORTS]
