"""One batch of raw events in, the records to publish and the state to store out: the worker
without Kafka.

The Faust agent (:mod:`baocao.streams.agent`) only moves data: it hands a batch of
:class:`SourceRecord` and its tables to :meth:`RollupStep.run`, publishes the
:class:`OutputRecord` list it gets back, and only then stores the batch's
:class:`StagedWrite` list (:meth:`RollupStep.store` on plain mappings; the worker's Faust
tables through :mod:`baocao.streams.table_writes`). Everything that decides what the
pipeline says lives here, on plain ``MutableMapping`` state, so a unit test drives it with
dicts.

The state is four mappings, the worker's Faust tables:

``latest``
    ``"<commune>|<period>"`` -> :meth:`LatestReport.to_state` of the revision that counts.
``versions``
    ``"<province>|<period>"`` -> how many times that province and period was recomputed.
``approvals``
    ``"<province>|<period>"`` -> the earliest approval of that province and period.
``figures``
    ``"<province>|<period>"`` -> the figure values last published (indicator -> value), to
    tell which figures a recomputation changed.
``aggregates``
    ``"<province>|<period>"`` -> :meth:`ProvinceAggregate.to_state`: what the province's
    communes add up to, kept up to date report by report (exact running sums).

:meth:`RollupStep.run` never writes them: it computes against a *staged overlay* (reads see
the batch's own writes first, writes are buffered). A batch runs in three phases:

1. the approvals of the batch are staged (before any report of the batch, whatever their
   order: a report is locked by an approval whose ``approved_at`` is at or before the
   report's Kafka timestamp, so seeing approvals early can only make that more exact);
2. every report is decoded, checked and decided in order against the staged ``latest``;
3. every (province, period) the batch touched is recomputed *once*: its aggregate retracts
   each replaced revision and adds the new one (or, when the aggregate is missing or out of
   step with ``latest``, is rebuilt from the latest revision of each of its communes), then
   gives the figures, the changes among them, and completeness.

Decisions use event time only (the report's Kafka timestamp, the approvals'
``approved_at``), never the wall clock, so a replay decides the same. On ``commune_reports``
the timestamp is the broker's append time (``LogAppendTime``): on-time and lock are judged on
when the report was received, never on the ``submitted_at`` a commune claims (a claim far
from it is kept and flagged, ``submitted_at_far_from_receipt``). Reports on
``historic_reports``, which only the historic loader may write, are judged on their own
``submitted_at``. The wall
clock (``clock``) only stamps ``updated_at``, ``known_at`` and ``rejected_at``.
"""

from __future__ import annotations

import logging
import struct
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, MutableMapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, get_args, overload

from baocao.core.avro import DecodeError, codec_for
from baocao.core.catalogue import Catalogue, Indicator
from baocao.core.models import LOCAL_TIMEZONE, CommuneReport, parse_report
from baocao.core.periods import Period, PeriodError, deadline, locks_at, parse_period
from baocao.core.reasons import Reason, ReasonCode, reason
from baocao.core.reference import ReferenceData
from baocao.core.registry import SchemaRegistryClient, wire_codec
from baocao.core.settings import DeadlineSettings
from baocao.core.soft_rules import RuleBreak, soft_rule_breaks, timing_break
from baocao.core.topics import (
    ACCEPTED_REPORTS,
    APPROVALS,
    COMMUNE_REPORTS,
    DEAD_LETTER,
    PROVINCE_COMPLETENESS,
    PROVINCE_INDICATOR_CHANGES,
    PROVINCE_INDICATORS,
    REPORT_WARNINGS,
    Topics,
)
from baocao.core.validation import validate_report
from baocao.streams.dead_letters import (
    DeadLetterLimits,
    bounded_identity,
    bounded_raw,
    bounded_reasons,
)
from baocao.streams.encoding import (
    avro_double_map_items,
    avro_long,
    avro_optional_double,
    avro_string,
    encode_with_array,
)
from baocao.streams.rollup import (
    Decision,
    LatestReport,
    ProvinceAggregate,
    ProvinceFigure,
    decide,
    from_millis,
    millis,
)

__all__ = [
    "ACCEPTED_REPORT_SCHEMA",
    "APPROVAL_SCHEMA",
    "COMMUNE_REPORT_SCHEMA",
    "PROVINCE_COMPLETENESS_SCHEMA",
    "PROVINCE_INDICATOR_CHANGE_SCHEMA",
    "PROVINCE_INDICATOR_SCHEMA",
    "REJECTED_REPORT_SCHEMA",
    "REPORT_WARNING_SCHEMA",
    "TABLE_NAMES",
    "BatchResult",
    "EventResult",
    "Focus",
    "Outcome",
    "OutputRecord",
    "RollupStep",
    "SourceRecord",
    "StagedWrite",
    "TableName",
    "Tables",
    "approval_key",
    "latest_key",
    "version_key",
]

logger = logging.getLogger(__name__)

# Writer schemas come from the topic contract (baocao.core.topics); the input codecs decode
# every version a spec accepts (codec_for knows all shipped versions of a record).
COMMUNE_REPORT_SCHEMA = COMMUNE_REPORTS.writes
APPROVAL_SCHEMA = APPROVALS.writes
ACCEPTED_REPORT_SCHEMA = ACCEPTED_REPORTS.writes
PROVINCE_INDICATOR_SCHEMA = PROVINCE_INDICATORS.writes
PROVINCE_INDICATOR_CHANGE_SCHEMA = PROVINCE_INDICATOR_CHANGES.writes
PROVINCE_COMPLETENESS_SCHEMA = PROVINCE_COMPLETENESS.writes
REPORT_WARNING_SCHEMA = REPORT_WARNINGS.writes
REJECTED_REPORT_SCHEMA = DEAD_LETTER.writes

_AVRO_INT = range(-(2**31), 2**31)
_DOUBLE = struct.Struct("<d")

#: ``focus(i)`` is entered around every state access made on behalf of ``records[i]``. Faust
#: needs it (its tables route by the current event); plain dicts do not.
Focus = Callable[[int], AbstractContextManager[object]]

TableName = Literal["latest", "versions", "approvals", "figures", "aggregates"]
#: Every table of the worker, in :class:`Tables` order.
TABLE_NAMES: tuple[TableName, ...] = get_args(TableName)


def _unfocused(index: int) -> AbstractContextManager[object]:
    return nullcontext()


def _utc_now() -> datetime:
    return datetime.now(UTC)


def latest_key(commune_code: str, period: str) -> str:
    """Key of the ``latest`` table (and of ``accepted_reports``)."""
    return f"{commune_code}|{period}"


def version_key(province_code: str, period: str) -> str:
    """Key of the ``versions`` and ``figures`` tables."""
    return f"{province_code}|{period}"


def approval_key(province_code: str, period: str) -> str:
    """Key of the ``approvals`` table."""
    return f"{province_code}|{period}"


@dataclass(frozen=True, slots=True)
class Tables:
    """The worker's state: Faust tables in the worker, dicts in tests."""

    latest: MutableMapping[str, Any]
    versions: MutableMapping[str, Any]
    approvals: MutableMapping[str, Any]
    figures: MutableMapping[str, Any]
    #: Missing (state of an older release): each province and period is rebuilt once from
    #: ``latest`` when it is next touched.
    aggregates: MutableMapping[str, Any] = field(default_factory=dict)

    def named(self, name: TableName) -> MutableMapping[str, Any]:
        table: MutableMapping[str, Any] = getattr(self, name)
        return table


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
    def of(cls, topic: str, key: str, schema: str, payload: Mapping[str, Any]) -> OutputRecord:
        """Encode now: a record the schema cannot hold fails in the step, not in the producer."""
        return cls(topic, key, schema, payload, codec_for(schema).encode(payload))


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


class _Staged:
    """The tables as the batch sees them: its own writes first, then the stored state."""

    def __init__(self, tables: Tables) -> None:
        self._tables = tables
        self._writes: dict[tuple[TableName, str], StagedWrite] = {}
        #: Stored values read so far: the stored state does not change during a batch, and a
        #: table read (RocksDB and a decode) costs more than the dict.
        self._reads: dict[tuple[TableName, str], Any] = {}

    def get(self, table: TableName, key: str) -> Any:
        staged = self._writes.get((table, key))
        if staged is not None:
            return staged.value
        try:
            return self._reads[(table, key)]
        except KeyError:
            value = self._reads[(table, key)] = self._tables.named(table).get(key)
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


@dataclass(frozen=True, slots=True)
class _Cause:
    """An accepted revision of the batch, with the revision it replaced (for history and
    for the province's aggregate)."""

    commune_code: str
    report_id: str
    revision: int
    previous: Mapping[str, float]
    current: Mapping[str, float]
    before: LatestReport | None
    after: LatestReport
    #: The first three fields of its ``ChangeCause`` item, the same in every change it causes.
    identity: bytes

    @classmethod
    def of(cls, commune_code: str, before: LatestReport | None, after: LatestReport) -> _Cause:
        return cls(
            commune_code,
            after.report_id,
            after.revision,
            before.indicators if before is not None else {},
            after.indicators,
            before,
            after,
            avro_string(commune_code) + avro_string(after.report_id) + avro_long(after.revision),
        )


@dataclass(frozen=True, slots=True)
class EventResult:
    """What one event did: its outcome, the records it emits, the province period it touched."""

    outcome: Outcome
    outputs: tuple[OutputRecord, ...] = ()
    touched: tuple[str, str] | None = None
    reasons: tuple[Reason, ...] = ()
    warnings: tuple[str, ...] = ()
    cause: _Cause | None = None
    #: The commune whose revision of ``touched`` the event accepted or re-sent.
    commune: str | None = None


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
    figures: int = 0
    changes: int = 0
    recomputed: int = 0

    @property
    def events(self) -> int:
        return sum(self.outcomes.values()) + sum(self.approvals.values())

    @property
    def accepted(self) -> int:
        return self.outcomes[Outcome.ACCEPTED]

    @property
    def duplicates(self) -> int:
        return self.outcomes[Outcome.DUPLICATE]

    @property
    def rejected(self) -> int:
        return self.outcomes[Outcome.REJECTED]

    def add_event(self, event: EventResult) -> None:
        self.outcomes[event.outcome] += 1
        self.rejections.update(r.code for r in event.reasons)
        self.warnings.update(event.warnings)
        self.outputs.extend(event.outputs)


@dataclass(frozen=True, slots=True)
class _Recomputation:
    figures: list[OutputRecord]
    changes: list[OutputRecord]
    completeness: OutputRecord


class RollupStep:
    """The worker's rules for a batch of events, on injected state, reference data and rules."""

    def __init__(
        self,
        *,
        topics: Topics,
        reference: ReferenceData,
        catalogue: Catalogue,
        deadlines: DeadlineSettings,
        clock: Callable[[], datetime] | None = None,
        registry: SchemaRegistryClient | None = None,
        dead_letters: DeadLetterLimits | None = None,
        submitted_at_tolerance_seconds: float = 600.0,
    ) -> None:
        self._topics = topics
        self._dead_letters = dead_letters or DeadLetterLimits()
        self._tolerance = submitted_at_tolerance_seconds
        self._reference = reference
        self._catalogue = catalogue
        self._deadlines = deadlines
        self._clock = clock or _utc_now
        # Reports arrive in single-object encoding or, from producers that use a schema
        # registry, in Confluent's framing: the codec reads both (a registry lookup blocks,
        # once per schema id).
        self._report_codec = wire_codec(
            COMMUNE_REPORT_SCHEMA, topic=topics.commune_reports, registry=registry
        )
        self._approval_codec = codec_for(APPROVAL_SCHEMA)

    # -- the batch ---------------------------------------------------------------------

    def run(
        self, records: Sequence[SourceRecord], *, tables: Tables, focus: Focus = _unfocused
    ) -> BatchResult:
        """Decide every event, recompute each province and period touched; store nothing.

        The recomputation of a province runs in the focus of the first event that touched it:
        the input is keyed by province, so that event lives in the partition holding the
        province's state. The result's ``writes`` are for :meth:`store`.
        """
        result = BatchResult()
        staged = _Staged(tables)
        for index, record in enumerate(records):
            if record.topic == self._topics.approvals:
                with focus(index):
                    outcome, problem = self._approval(record, staged, index)
                result.approvals[outcome] += 1
                if problem is not None:  # a foreign or corrupt record: set aside, bounded
                    refusal = reason(ReasonCode.MALFORMED_EVENT, f"not a valid approval: {problem}")
                    result.outputs.extend(self._reject(record, None, [refusal]).outputs)
                    result.rejections[refusal.code] += 1
        anchors: dict[tuple[str, str], int] = {}
        causes: dict[tuple[str, str], list[_Cause]] = {}
        communes: dict[tuple[str, str], set[str]] = {}
        for index, record in enumerate(records):
            if record.topic == self._topics.approvals:
                continue
            with focus(index):
                event = self._report(record, staged, index)
            result.add_event(event)
            if event.touched is not None:
                anchors.setdefault(event.touched, index)
                if event.commune is not None:
                    communes.setdefault(event.touched, set()).add(event.commune)
                if event.cause is not None:
                    causes.setdefault(event.touched, []).append(event.cause)
        for (province, period), index in anchors.items():
            with focus(index):
                done = self._recompute(
                    province,
                    period,
                    staged,
                    causes.get((province, period), []),
                    communes.get((province, period), set()),
                    anchor=index,
                )
            result.recomputed += 1
            result.figures += len(done.figures)
            result.changes += len(done.changes)
            result.outputs.extend(done.figures)
            result.outputs.extend(done.changes)
            result.outputs.append(done.completeness)
        result.writes = staged.writes()
        return result

    def store(self, writes: Sequence[StagedWrite], *, tables: Tables) -> None:
        """Write a batch's staged state into plain mappings (the tests' dicts, the agent's
        overlay); the worker's Faust tables take them through :mod:`~baocao.streams.table_writes`,
        each in the partition of its write's anchor."""
        for write in writes:
            tables.named(write.table)[write.key] = write.value

    def dead_letter(self, record: SourceRecord, reasons: Sequence[Reason]) -> BatchResult:
        """A result holding only ``record``'s dead letter: for an event the agent sets aside
        (the step failed on it), decoded no further."""
        result = BatchResult()
        result.add_event(self._reject(record, None, reasons))
        return result

    # -- approvals -----------------------------------------------------------------------

    def _approval(
        self, record: SourceRecord, staged: _Staged, index: int
    ) -> tuple[str, str | None]:
        """Stage an approval (the earliest per province and period counts); ``stored``, or
        ``invalid`` with the problem. ``baocao approve`` checks its input, so an invalid
        approval is a foreign or corrupt record: logged, counted and dead-lettered, never
        stored."""
        problem: str | None = None
        try:
            data = self._approval_codec.decode(record.value or b"")
        except DecodeError as exc:
            data, problem = {}, f"undecodable: {exc}"
        province, period_text = data.get("province_code"), data.get("period")
        if problem is None and province not in self._reference.provinces:
            problem = f"unknown province {province!r}"
        if problem is None:
            try:
                period = parse_period(str(period_text))
                if period.report_type != data.get("report_type"):
                    problem = (
                        f"report type {data.get('report_type')!r} does not match period "
                        f"{period_text!r} ({period.report_type})"
                    )
            except PeriodError as exc:
                problem = str(exc)
        if problem is None and record.key != str(province).encode():
            problem = f"keyed {record.key!r}, not by its province {province!r}"
        if problem is not None:
            logger.warning("ignoring invalid approval at %s: %s", record.rejection_id, problem)
            return "invalid", problem
        key = approval_key(str(province), str(period_text))
        approved_at_ms = millis(data["approved_at"])
        held = staged.get("approvals", key)
        if held is None or approved_at_ms < int(held["approved_at_ms"]):
            staged.put(
                "approvals",
                key,
                {
                    "approval_id": str(data["approval_id"]),
                    "report_type": data["report_type"],
                    "approved_by": data["approved_by"],
                    "approved_at_ms": approved_at_ms,
                },
                anchor=index,
            )
        return "stored", None

    # -- reports -------------------------------------------------------------------------

    def _report(self, record: SourceRecord, staged: _Staged, index: int) -> EventResult:
        """Decode, check and decide one report; stage it in ``latest`` when it is accepted.

        A DUPLICATE changes no state, yet it re-emits the accepted record and marks its
        province and period touched so the figures are emitted again: a resend asks "what
        do you hold?", and every output is absolute (a whole report, a whole figure with a
        higher version), so emitting it twice is idempotent downstream.
        """
        if record.value is None:
            detail = "the event has no value (a tombstone)"
            return self._reject(record, None, [reason(ReasonCode.MALFORMED_EVENT, detail)])
        try:
            data = self._report_codec.decode(record.value)
        except DecodeError as exc:
            return self._reject(record, None, [reason(ReasonCode.MALFORMED_EVENT, exc)])
        report, reasons = parse_report(data)
        if report is None:
            return self._reject(record, data, reasons)
        reasons = validate_report(report, self._reference, self._catalogue)
        reasons.extend(_key_reasons(record, report))
        if reasons:
            return self._reject(record, report.to_avro(), reasons)

        period = parse_period(report.period)
        event_ms = record.timestamp_ms if record.timestamp_ms is not None else self._now_ms()
        if record.topic == self._topics.historic_reports:
            # Written only by the historic loader: its reports carry their own time.
            event_ms = millis(report.submitted_at)
        stored = staged.get("latest", report.key)
        held = LatestReport.from_state(stored) if stored is not None else None
        decision = decide(held, report)
        locked = self._locked(period, report.province_code, event_ms, staged)
        touched = (report.province_code, report.period)
        if decision is Decision.ACCEPT:
            if locked is not None and self._deadlines.amendments_after_lock == "reject":
                return self._reject(record, report.to_avro(), [locked])
            return self._accept(report, period, held, staged, event_ms, locked, index)
        assert held is not None  # only ACCEPT is possible without a held revision
        if decision is Decision.DUPLICATE:
            again = self._accepted(_as_report(held, report), period, held)
            return EventResult(Outcome.DUPLICATE, (again,), touched, commune=report.commune_code)
        if decision is Decision.STALE:
            refusal = reason(
                ReasonCode.STALE_REVISION,
                f"{report.revision} is older than revision {held.revision} already accepted",
                detail_vi=f"{report.revision} cũ hơn lần điều chỉnh {held.revision} "
                "đã được chấp nhận",
                field="revision",
            )
        else:
            refusal = reason(ReasonCode.CONFLICTING_REVISION, report.revision, field="revision")
        refusals = [refusal] if locked is None else [refusal, locked]
        return self._reject(record, report.to_avro(), refusals)

    def _accept(
        self,
        report: CommuneReport,
        period: Period,
        held: LatestReport | None,
        staged: _Staged,
        event_ms: int,
        locked: Reason | None,
        index: int,
    ) -> EventResult:
        previous_period = period.previous().text
        before = staged.get("latest", latest_key(report.commune_code, previous_period))
        breaks = soft_rule_breaks(
            report.indicators,
            previous=before["indicators"] if before is not None else None,
            previous_period=previous_period,
            catalogue=self._catalogue,
        )
        late_claim = timing_break(
            millis(report.submitted_at), event_ms, tolerance_seconds=self._tolerance
        )
        if late_claim is not None:
            breaks.append(late_claim)
        latest = LatestReport.of(
            report,
            # Timeliness is judged on when the first accepted revision was received.
            first_submitted_at_ms=held.first_submitted_at_ms if held is not None else event_ms,
            accepted_at_ms=event_ms,
            amended=locked is not None,
            warned=frozenset().union(*(b.involved for b in breaks)),
        )
        staged.put("latest", report.key, latest.to_state(), anchor=index)
        outputs = [self._accepted(report, period, latest)]
        outputs.extend(self._warning(report, period, b, event_ms) for b in breaks)
        cause = _Cause.of(report.commune_code, held, latest)
        return EventResult(
            Outcome.ACCEPTED,
            tuple(outputs),
            (report.province_code, report.period),
            commune=report.commune_code,
            warnings=tuple(b.rule_code for b in breaks),
            cause=cause,
        )

    def _locked(
        self, period: Period, province: str, event_ms: int, staged: _Staged
    ) -> Reason | None:
        """Why a submission at ``event_ms`` is too late for ``period``, if it is."""
        lock = locks_at(period, self._deadlines)
        if event_ms > millis(lock):
            when = lock.astimezone(LOCAL_TIMEZONE).isoformat(timespec="seconds")
            return reason(
                ReasonCode.PERIOD_LOCKED,
                f"{period.text} locked at {when}",
                detail_vi=f"{period.text} đã khoá lúc {when}",
                field="period",
            )
        approval = staged.get("approvals", approval_key(province, period.text))
        if approval is not None and int(approval["approved_at_ms"]) <= event_ms:
            approved_at = from_millis(int(approval["approved_at_ms"]))
            when = approved_at.astimezone(LOCAL_TIMEZONE).isoformat(timespec="seconds")
            who = approval["approved_by"]
            return reason(
                ReasonCode.PERIOD_LOCKED,
                f"{period.text} was approved by {who} at {when}",
                detail_vi=f"{period.text} đã được {who} phê duyệt lúc {when}",
                field="period",
            )
        return None

    # -- recomputation -------------------------------------------------------------------

    def _recompute(
        self,
        province: str,
        period_text: str,
        staged: _Staged,
        causes: Sequence[_Cause],
        communes: set[str],
        *,
        anchor: int,
    ) -> _Recomputation:
        """Every figure, the changed ones and the completeness of a province and period,
        from its aggregate brought up to date with the batch's ``causes``.

        The version is one more than the last one staged; it is stored only after every
        record carrying it was delivered. A figure that was published before but that no
        commune reports any more (a revision dropped it) is published once more with no
        value and no commune, so the old value does not linger downstream.
        """
        period = parse_period(period_text)
        due = deadline(period, self._deadlines)
        due_ms = millis(due)
        key = version_key(province, period_text)
        stored_version = int(staged.get("versions", key) or 0)
        aggregate, changed = self._aggregate(
            province, period_text, key, staged, causes, communes, due_ms, stored_version
        )
        if changed:
            staged.put("aggregates", key, aggregate.to_state(), anchor=anchor)
        version = stored_version + 1
        staged.put("versions", key, version, anchor=anchor)
        # Timestamps go to Avro as epoch milliseconds (what timestamp-millis holds): the
        # encoder converts no datetime per record.
        updated_at = millis(self._clock())
        current = {
            f.indicator_code: f for f in aggregate.figures(province, period_text, self._catalogue)
        }
        published: Mapping[str, float | None] = staged.get("figures", key) or {}
        for gone in published.keys() - current.keys():
            current[gone] = ProvinceFigure(province, period_text, gone, None, 0)
        figures: list[OutputRecord] = []
        changes: list[OutputRecord] = []
        moved = _moved_by(causes, self._catalogue)
        for code in self._catalogue.indicators:
            figure = current.get(code)
            if figure is None:
                continue
            figures.append(self._figure(figure, period, due_ms, version, updated_at))
            if code not in published or published[code] != figure.value:
                changes.append(
                    self._change(
                        figure,
                        period,
                        version,
                        published.get(code),
                        updated_at,
                        moved.get(code, ()),
                    )
                )
        values = {code: f.value for code, f in current.items() if f.communes_reported}
        if values != published:
            staged.put("figures", key, values, anchor=anchor)
        on_time, reported = aggregate.on_time, len(aggregate.counted)
        completeness = OutputRecord.of(
            self._topics.province_completeness,
            f"{province}|{period.report_type}|{period_text}",
            PROVINCE_COMPLETENESS_SCHEMA,
            {
                "province_code": province,
                "report_type": str(period.report_type),
                "period": period_text,
                "deadline": due_ms,
                "communes_expected": self._reference.communes_expected(province),
                "communes_reported": reported,
                "communes_on_time": on_time,
                "communes_late": reported - on_time,
                "version": version,
                "updated_at": updated_at,
            },
        )
        return _Recomputation(figures, changes, completeness)

    def _aggregate(
        self,
        province: str,
        period_text: str,
        key: str,
        staged: _Staged,
        causes: Sequence[_Cause],
        communes: set[str],
        due_ms: int,
        stored_version: int,
    ) -> tuple[ProvinceAggregate, bool]:
        """The province's aggregate with the batch applied, and whether it is to be stored.

        Kept incrementally: each accepted revision of the batch retracts the one it replaced.
        Rebuilt from every commune's latest revision instead when there is none yet although
        the province was computed before (state of an older release), when it was judged
        against another deadline (the settings changed), or when it does not count exactly
        the revisions ``latest`` holds for the batch's communes (a crash stored part of a
        batch's state): then it cannot be trusted to retract the right values.
        """
        state = staged.get("aggregates", key)
        aggregate: ProvinceAggregate | None = None
        if state is not None:
            aggregate = ProvinceAggregate.from_state(state)
            if aggregate.due_ms != due_ms:
                aggregate = None
        elif not stored_version:
            aggregate = ProvinceAggregate(due_ms=due_ms)
        if aggregate is not None:
            for cause in causes:
                if not aggregate.replace(
                    cause.commune_code, cause.before, cause.after, self._catalogue
                ):
                    aggregate = None
                    break
        if aggregate is not None:
            for commune in communes:
                held = staged.get("latest", latest_key(commune, period_text))
                if aggregate.counted.get(commune) != (int(held["revision"]) if held else None):
                    aggregate = None
                    break
        if aggregate is not None:
            return aggregate, bool(causes) or state is None
        if stored_version or state is not None:
            logger.info("rebuilding the aggregate of %s from its communes", key)
        held_by = {
            commune: LatestReport.from_state(held)
            for commune in self._reference.communes_by_province.get(province, ())
            if (held := staged.get("latest", latest_key(commune, period_text))) is not None
        }
        return ProvinceAggregate.of(held_by, self._catalogue, due_ms=due_ms), True

    def _figure(
        self,
        figure: ProvinceFigure,
        period: Period,
        due_ms: int,
        version: int,
        updated_at: int,
    ) -> OutputRecord:
        return OutputRecord.of(
            self._topics.province_indicators,
            f"{figure.province_code}|{period.text}|{figure.indicator_code}",
            PROVINCE_INDICATOR_SCHEMA,
            {
                "province_code": figure.province_code,
                "period": period.text,
                "indicator_code": figure.indicator_code,
                "value": figure.value,
                "numerator": figure.numerator,
                "denominator": figure.denominator,
                "communes_reported": figure.communes_reported,
                "version": version,
                "updated_at": updated_at,
                "report_type": str(period.report_type),
                "deadline": due_ms,
                "communes_with_warnings": figure.communes_with_warnings,
                "communes_amended": figure.communes_amended,
            },
        )

    def _change(
        self,
        figure: ProvinceFigure,
        period: Period,
        version: int,
        previous: float | None,
        known_at: int,
        moves: Sequence[_Move],
    ) -> OutputRecord:
        """A figure's new value, with the batch's revisions that moved the commune's share
        (``moves``: those that changed the indicator, or a part of it for a ratio)."""
        code = figure.indicator_code
        head = {
            "province_code": figure.province_code,
            "report_type": str(period.report_type),
            "period": period.text,
            "indicator_code": code,
            "version": version,
            "value": figure.value,
            "previous_value": previous,
            "known_at": known_at,
            "causes": [],
        }
        encoded = encode_with_array(
            codec_for(PROVINCE_INDICATOR_CHANGE_SCHEMA).encode(head),
            [move[3] for move in moves],
        )
        return OutputRecord(
            self._topics.province_indicator_changes,
            f"{figure.province_code}|{period.text}|{code}",
            PROVINCE_INDICATOR_CHANGE_SCHEMA,
            {**head, "causes": _CauseItems(moves)},
            encoded,
        )

    # -- output records ------------------------------------------------------------------

    def _accepted(
        self, report: CommuneReport, period: Period, latest: LatestReport
    ) -> OutputRecord:
        due_ms = millis(deadline(period, self._deadlines))
        head = {
            **_report_fields(report, period),
            "submitted_at": latest.submitted_at_ms,
            "first_submitted_at": latest.first_submitted_at_ms,
            "accepted_at": latest.accepted_at_ms,
            "deadline": due_ms,
            "on_time": latest.first_submitted_at_ms <= due_ms,
            "amended": latest.amended,
            "indicators": {},
        }
        # The indicators (the last field) are spliced in: see baocao.streams.encoding.
        encoded = encode_with_array(
            codec_for(ACCEPTED_REPORT_SCHEMA).encode(head),
            avro_double_map_items(report.indicators),
        )
        return OutputRecord(
            self._topics.accepted_reports,
            latest_key(report.commune_code, report.period),
            ACCEPTED_REPORT_SCHEMA,
            {**head, "indicators": dict(report.indicators)},
            encoded,
        )

    def _warning(
        self, report: CommuneReport, period: Period, rule: RuleBreak, event_ms: int
    ) -> OutputRecord:
        return OutputRecord.of(
            self._topics.report_warnings,
            report.commune_code,
            REPORT_WARNING_SCHEMA,
            {
                "warning_id": f"{report.report_id}:{rule.rule_code}:{rule.indicator_code or ''}",
                **_report_fields(report, period),
                "rule_code": rule.rule_code,
                "indicator_code": rule.indicator_code,
                "value": rule.value,
                "reference_value": rule.reference_value,
                "message_en": rule.message_en,
                "message_vi": rule.message_vi,
                # Event time: a replay raises the very same record.
                "raised_at": from_millis(event_ms),
            },
        )

    def _reject(
        self, record: SourceRecord, data: Mapping[str, Any] | None, reasons: Sequence[Reason]
    ) -> EventResult:
        """A dead-letter record with every reason and as much of the report as could be read."""
        identity = bounded_identity(dict(_identity(data or {})))
        payload = {
            "rejection_id": record.rejection_id,
            **identity,
            "reasons": bounded_reasons(reasons, self._dead_letters),
            **bounded_raw(record.value or b"", self._dead_letters),
            "source_topic": record.topic,
            "source_partition": record.partition,
            "source_offset": record.offset,
            "rejected_at": self._clock(),
        }
        output = OutputRecord.of(
            self._topics.dead_letter,
            identity["commune_code"] or "",
            REJECTED_REPORT_SCHEMA,
            payload,
        )
        return EventResult(Outcome.REJECTED, (output,), None, tuple(reasons))

    def _now_ms(self) -> int:
        return millis(self._clock())


class _CauseItems(Sequence[dict[str, Any]]):
    """The ``causes`` of a change payload, made into dicts only if someone reads them (the
    published bytes are assembled without them)."""

    def __init__(self, moves: Sequence[_Move]) -> None:
        self._moves = moves

    def __len__(self) -> int:
        return len(self._moves)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(list(self))

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        cause, before, after, _ = self._moves[index]
        return {
            "commune_code": cause.commune_code,
            "report_id": cause.report_id,
            "revision": cause.revision,
            "previous_value": before,
            "value": after,
        }


def _report_fields(report: CommuneReport, period: Period) -> dict[str, Any]:
    """The fields that name a report in the records about it (accepted copy, warnings)."""
    return {
        "report_id": report.report_id,
        "commune_code": report.commune_code,
        "province_code": report.province_code,
        "report_type": str(period.report_type),
        "period": report.period,
        "revision": report.revision,
    }


def _ratio_of(values: Mapping[str, float], indicator: Indicator) -> float | None:
    """One commune's own value of a ratio indicator, ``None`` if it lacks a part (or its
    denominator is zero)."""
    numerator = values.get(str(indicator.numerator))
    denominator = values.get(str(indicator.denominator))
    if numerator is None or denominator is None or not denominator:
        return None
    return numerator / denominator


#: One cause of one figure change: the revision, the commune's value before and in it, and
#: the encoded ``ChangeCause`` item.
_Move = tuple[_Cause, float | None, float | None, bytes]


def _moved_by(causes: Sequence[_Cause], catalogue: Catalogue) -> dict[str, list[_Move]]:
    """indicator code -> the causes that changed the commune's value of it (in batch order),
    each with its values and its encoded item: one pass over each cause's figures, not one
    per figure and cause. For a ratio, the causes that changed a part, with the commune's
    own ratio before and after. (The hottest loop of a batch: the item encoding of
    :func:`~baocao.streams.encoding.avro_optional_double` is inlined.)"""
    moved: dict[str, list[_Move]] = {}
    ratios = [(r, str(r.numerator), str(r.denominator)) for r in catalogue.ratios]
    pack = _DOUBLE.pack
    for cause in causes:
        before, after = cause.previous, cause.current
        identity = cause.identity
        if not before:  # a first revision (most of them) moves every value it has
            first = identity + b"\x00\x02"
            for code, new in after.items():
                move = (cause, None, new, first + pack(new))
                found = moved.get(code)
                if found is None:
                    moved[code] = [move]
                else:
                    found.append(move)
            changed: Collection[str] = after.keys()
        else:
            changed = _changed_moves(cause, moved, pack)
        for ratio, numerator, denominator in ratios:
            if numerator in changed or denominator in changed:
                old_ratio, new_ratio = _ratio_of(before, ratio), _ratio_of(after, ratio)
                item = identity + avro_optional_double(old_ratio) + avro_optional_double(new_ratio)
                moved.setdefault(ratio.code, []).append((cause, old_ratio, new_ratio, item))
    return moved


def _changed_moves(
    cause: _Cause, moved: dict[str, list[_Move]], pack: Callable[..., bytes]
) -> set[str]:
    """Add the moves of a correction (values changed, added or dropped); the codes moved."""
    before, after, identity = cause.previous, cause.current, cause.identity
    changed: set[str] = set()
    for code, new in after.items():
        old = before.get(code)
        if old != new:
            changed.add(code)
            item = (
                identity + (b"\x00" if old is None else b"\x02" + pack(old)) + b"\x02" + pack(new)
            )
            moved.setdefault(code, []).append((cause, old, new, item))
    for code, old in before.items():
        if code not in after:  # dropped by the revision
            changed.add(code)
            item = identity + b"\x02" + pack(old) + b"\x00"
            moved.setdefault(code, []).append((cause, old, None, item))
    return changed


def _key_reasons(record: SourceRecord, report: CommuneReport) -> list[Reason]:
    """The input must be keyed by the report's province.

    Faust keeps a commune's state in the partition its events arrive on, and recomputes a
    province from the partition of one of its events: a report keyed otherwise would be
    counted in the wrong place, so it is refused instead.
    """
    key = record.key.decode("utf-8", "replace") if record.key is not None else None
    if key == report.province_code:
        return []
    return [
        reason(
            ReasonCode.MALFORMED_EVENT,
            f"its Kafka key {key!r} is not its province code {report.province_code!r}; "
            "reports must be keyed by province",
            detail_vi=f"khoá Kafka {key!r} khác mã tỉnh {report.province_code!r}; "
            "báo cáo phải dùng mã tỉnh làm khoá",
            field="province_code",
        )
    ]


def _as_report(held: LatestReport, report: CommuneReport) -> CommuneReport:
    """The held revision as a full report (the state keeps no commune, province or period:
    they are those of ``report``, which shares its key)."""
    return CommuneReport(
        report_id=held.report_id,
        commune_code=report.commune_code,
        province_code=report.province_code,
        period=report.period,
        revision=held.revision,
        submitted_at=from_millis(held.submitted_at_ms),
        indicators=dict(held.indicators),
    )


def _identity(data: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """The identifying fields of a (possibly broken) report, where they have the right type."""
    report_id = data.get("report_id")
    yield "report_id", str(report_id) if isinstance(report_id, str | uuid.UUID) else None
    for name in ("commune_code", "province_code", "period"):
        value = data.get(name)
        yield name, value if isinstance(value, str) else None
    revision = data.get("revision")
    valid = isinstance(revision, int) and not isinstance(revision, bool) and revision in _AVRO_INT
    yield "revision", revision if valid else None
