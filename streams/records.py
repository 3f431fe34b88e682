"""The worker's records and state, without Kafka: what comes in, what goes out, what is
stored, and the overlay a batch reads its own writes through.

Rule: an output takes its topic name, schema and key from its topic's spec
(:meth:`OutputRecord.of`); a table key is :func:`~baocao.core.topics.state_key`. Nothing
here decides anything: that is :mod:`baocao.streams.step`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol, get_args

from baocao.core.avro import codec_for
from baocao.core.reasons import ReasonCode
from baocao.core.topics import Topics, TopicSpec

__all__ = [
    "TABLE_NAMES",
    "BatchResult",
    "Focus",
    "Outcome",
    "OutputRecord",
    "Overlay",
    "SourceRecord",
    "StagedWrite",
    "StateReader",
    "TableName",
    "Tables",
    "unfocused",
]

#: ``focus(i)`` is entered around every state access made on behalf of ``records[i]``. Faust
#: needs it (its tables route by the current event); plain dicts do not.
Focus = Callable[[int], AbstractContextManager[object]]

TableName = Literal["latest", "versions", "approvals", "figures", "aggregates", "obligations"]
#: Every table of the worker, in :class:`Tables` order.
TABLE_NAMES: tuple[TableName, ...] = get_args(TableName)


def unfocused(index: int) -> AbstractContextManager[object]:
    return nullcontext()


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One event of an input topic exactly as it arrived."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    #: The record's Kafka timestamp (milliseconds): the event time of every decision.
    timestamp_ms: int | None = None

    @property
    def rejection_id(self) -> str:
        """Where the event sits in Kafka: a replayed event is rejected with the same id."""
        return f"{self.topic}:{self.partition}:{self.offset}"


@dataclass(frozen=True, slots=True)
class OutputRecord:
    """A record to publish: the Avro ``payload`` and its encoded ``value``."""

    topic: str
    key: str
    schema: str
    payload: Mapping[str, Any]
    value: bytes

    @classmethod
    def of(
        cls,
        topics: Topics,
        spec: TopicSpec,
        payload: Mapping[str, Any],
        *,
        value: bytes | None = None,
    ) -> OutputRecord:
        """``payload`` on ``spec``'s topic, keyed and encoded as the spec says. Encoded now:
        a record the schema cannot hold fails in the step, not in the producer. ``value``:
        the payload already encoded (by :mod:`baocao.core.avro_binary`, byte for byte)."""
        if value is None:
            value = codec_for(spec.writes).encode(payload)
        return cls(topics.name(spec), spec.key_of(payload), spec.writes, payload, value)


@dataclass(frozen=True, slots=True)
class StagedWrite:
    """A table write of a batch, applied only after the batch's outputs were delivered.

    ``anchor`` is the index of an event of the partition that owns the key: the write runs
    in its focus, so Faust sends it to that partition's changelog.
    """

    table: TableName
    key: str
    value: Any
    anchor: int


class StateReader(Protocol):
    """Where a batch reads the worker's state: the tables, or an overlay of them."""

    def get(self, table: TableName, key: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class Tables:
    """The worker's state: Faust tables in the worker, dicts in tests. Keys are
    :func:`~baocao.core.topics.state_key`; the tables hold:

    ``latest``: commune and period -> :meth:`~baocao.streams.rollup.LatestReport.to_state`
    of the revision that counts; ``versions``: province and period -> how many times it was
    recomputed; ``approvals``: province and period -> its earliest approval; ``figures``:
    province and period -> the figure values last published (to tell which changed);
    ``aggregates``: province and period ->
    :meth:`~baocao.streams.rollup.ProvinceAggregate.to_state`, its communes' running sums;
    ``obligations``: province and report type -> its units' obligations set by events
    (:func:`~baocao.core.obligations.apply_event`; absent: the default).
    """

    latest: MutableMapping[str, Any]
    versions: MutableMapping[str, Any]
    approvals: MutableMapping[str, Any]
    figures: MutableMapping[str, Any]
    #: Missing (state of an older release): each province and period is rebuilt once from
    #: ``latest`` when it is next touched.
    aggregates: MutableMapping[str, Any] = field(default_factory=dict)
    obligations: MutableMapping[str, Any] = field(default_factory=dict)

    def named(self, name: TableName) -> MutableMapping[str, Any]:
        table: MutableMapping[str, Any] = getattr(self, name)
        return table

    def get(self, table: TableName, key: str) -> Any:
        return self.named(table).get(key)

    def store(self, writes: Iterable[StagedWrite]) -> None:
        """Write a batch's staged state into plain mappings (the tests' dicts); the worker's
        Faust tables take it through :mod:`~baocao.streams.delivery`, each write in the
        partition of its anchor."""
        for write in writes:
            self.named(write.table)[write.key] = write.value


class Overlay:
    """State as a batch sees it: its own writes first, then ``base``; nothing reaches
    ``base``. A batch stages on one; the agent's record-by-record re-run stages each record
    on another, over one that keeps the records that succeeded."""

    def __init__(self, base: StateReader) -> None:
        self._base = base
        self._writes: dict[tuple[TableName, str], StagedWrite] = {}
        #: Values of ``base`` read so far: it does not change during a batch, and a table
        #: read (RocksDB and a decode) costs more than the dict.
        self._reads: dict[tuple[TableName, str], Any] = {}

    def get(self, table: TableName, key: str) -> Any:
        staged = self._writes.get((table, key))
        if staged is not None:
            return staged.value
        try:
            return self._reads[(table, key)]
        except KeyError:
            value = self._reads[(table, key)] = self._base.get(table, key)
            return value

    def put(self, table: TableName, key: str, value: Any, *, anchor: int) -> None:
        self._writes[(table, key)] = StagedWrite(table, key, value, anchor)

    def writes(self) -> list[StagedWrite]:
        """The last value of every key written, in the order keys were first written."""
        return list(self._writes.values())


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass
class BatchResult:
    """Everything a batch emits, in publishing order, the writes to store after, and its
    counts for logs and metrics."""

    outputs: list[OutputRecord] = field(default_factory=list)
    writes: list[StagedWrite] = field(default_factory=list)
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    rejections: Counter[ReasonCode] = field(default_factory=Counter)
    #: Soft rule breaks raised, by rule code.
    warnings: Counter[str] = field(default_factory=Counter)
    #: Approval events, by outcome: ``stored`` or ``invalid`` (logged, not stored).
    approvals: Counter[str] = field(default_factory=Counter)
    #: Obligation events, by outcome: ``applied``, ``superseded`` (a later one decided the
    #: unit) or ``refused`` (dead-lettered with its reasons).
    obligations: Counter[str] = field(default_factory=Counter)
    figures: int = 0
    changes: int = 0
    recomputed: int = 0

    @property
    def events(self) -> int:
        return (
            sum(self.outcomes.values())
            + sum(self.approvals.values())
            + sum(self.obligations.values())
        )

    @property
    def accepted(self) -> int:
        return self.outcomes[Outcome.ACCEPTED]

    @property
    def duplicates(self) -> int:
        return self.outcomes[Outcome.DUPLICATE]

    @property
    def rejected(self) -> int:
        return self.outcomes[Outcome.REJECTED]

    def merge(self, part: BatchResult) -> None:
        """Add ``part``'s outputs and counts after this result's (not its writes: whoever
        ran the parts knows where they were staged)."""
        self.outputs.extend(part.outputs)
        self.outcomes.update(part.outcomes)
        self.rejections.update(part.rejections)
        self.warnings.update(part.warnings)
        self.approvals.update(part.approvals)
        self.obligations.update(part.obligations)
        self.figures += part.figures
        self.changes += part.changes
        self.recomputed += part.recomputed
