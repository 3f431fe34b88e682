"""One batch of raw commune-report events in, the records to publish out: the worker without Kafka.

The Faust agent (:mod:`streams.app`) only moves data: it hands a batch of
:class:`SourceRecord` and its two tables to :meth:`RollupStep.run` and publishes the
:class:`OutputRecord` list it gets back. Everything that decides what the pipeline says lives
here, on plain ``MutableMapping`` state, so a unit test drives it with dicts.

The state is two mappings, the worker's Faust tables:

``latest``
    ``"<commune>|<period>"`` -> :meth:`LatestReport.to_state` of the revision that counts.
``versions``
    ``"<province>|<period>"`` -> how many times that province and period was recomputed.

A batch runs in two phases. First every event is decoded, checked and decided against
``latest`` (accepted revisions are stored). Then every (province, period) the batch touched is
recomputed *once* from the latest revision of each of its communes, so a batch of 2,000 events
emits one set of figures per province and period, not 2,000.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from baocao.avro import DecodeError, codec_for
from baocao.catalogue import Catalogue
from baocao.models import CommuneReport, parse_report
from baocao.reasons import Reason, ReasonCode, reason
from baocao.reference import ReferenceData
from baocao.topics import Topics
from baocao.validation import validate_report
from streams.rollup import Decision, LatestReport, aggregate_province, decide

__all__ = [
    "COMMUNE_REPORT_SCHEMA",
    "PROVINCE_INDICATOR_SCHEMA",
    "REJECTED_REPORT_SCHEMA",
    "BatchResult",
    "EventResult",
    "Focus",
    "Outcome",
    "OutputRecord",
    "RollupStep",
    "SourceRecord",
    "latest_key",
    "version_key",
]

logger = logging.getLogger(__name__)

COMMUNE_REPORT_SCHEMA = "commune_report.v1"
PROVINCE_INDICATOR_SCHEMA = "province_indicator.v1"
REJECTED_REPORT_SCHEMA = "rejected_report.v1"

_AVRO_INT = range(-(2**31), 2**31)

#: ``focus(i)`` is entered around every state access made on behalf of ``records[i]``. Faust
#: needs it (its tables route by the current event); plain dicts do not.
Focus = Callable[[int], AbstractContextManager[object]]


def _unfocused(index: int) -> AbstractContextManager[object]:
    return nullcontext()


def _utc_now() -> datetime:
    return datetime.now(UTC)


def latest_key(commune_code: str, period: str) -> str:
    """Key of the ``latest`` table (and of ``accepted_reports``)."""
    return f"{commune_code}|{period}"


def version_key(province_code: str, period: str) -> str:
    """Key of the ``versions`` table."""
    return f"{province_code}|{period}"


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One event of the input topic exactly as it arrived."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None

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


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class EventResult:
    """What one event did: its outcome, the records it emits, the province period it touched."""

    outcome: Outcome
    outputs: tuple[OutputRecord, ...] = ()
    touched: tuple[str, str] | None = None
    reasons: tuple[Reason, ...] = ()


@dataclass
class BatchResult:
    """Everything a batch emits, in publishing order, and its counts for logs and metrics."""

    outputs: list[OutputRecord] = field(default_factory=list)
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    rejections: Counter[ReasonCode] = field(default_factory=Counter)
    figures: int = 0
    recomputed: int = 0

    @property
    def events(self) -> int:
        return sum(self.outcomes.values())

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
        self.outputs.extend(event.outputs)

    def add_figures(self, figures: Sequence[OutputRecord]) -> None:
        self.recomputed += 1
        self.figures += len(figures)
        self.outputs.extend(figures)


class RollupStep:
    """The worker's rules for a batch of events, on injected state and reference data."""

    def __init__(
        self,
        *,
        topics: Topics,
        reference: ReferenceData,
        catalogue: Catalogue,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._topics = topics
        self._reference = reference
        self._catalogue = catalogue
        self._clock = clock or _utc_now
        self._report_codec = codec_for(COMMUNE_REPORT_SCHEMA)

    def run(
        self,
        records: Sequence[SourceRecord],
        *,
        latest: MutableMapping[str, Any],
        versions: MutableMapping[str, Any],
        focus: Focus = _unfocused,
    ) -> BatchResult:
        """Decide every event in order, then recompute each province and period touched.

        The recomputation of a province runs in the focus of the first event that touched it:
        the input is keyed by province, so that event lives in the partition holding the
        province's state.
        """
        result = BatchResult()
        anchors: dict[tuple[str, str], int] = {}
        for index, record in enumerate(records):
            with focus(index):
                event = self.apply(record, latest=latest)
            result.add_event(event)
            if event.touched is not None:
                anchors.setdefault(event.touched, index)
        for (province, period), index in anchors.items():
            with focus(index):
                figures = self.recompute(province, period, latest=latest, versions=versions)
            result.add_figures(figures)
        return result

    def apply(self, record: SourceRecord, *, latest: MutableMapping[str, Any]) -> EventResult:
        """Decode, check and decide one event; store it in ``latest`` when it is accepted.

        A DUPLICATE changes no state, yet it re-emits the accepted record and marks its
        province and period touched so the figures are emitted again. That is what makes a
        crash between the state write and the delivery of the outputs harmless: the replayed
        event finds its own revision already stored (a duplicate of itself), and re-emits
        what the crash may have lost. Every output is absolute (a whole report, a whole
        figure with a higher version), so emitting it twice is idempotent downstream.
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

        stored = latest.get(report.key)
        held = LatestReport.from_state(stored) if stored is not None else None
        decision = decide(held, report)
        touched = (report.province_code, report.period)
        if decision is Decision.ACCEPT:
            latest[report.key] = LatestReport.of(report).to_state()
            return EventResult(Outcome.ACCEPTED, (self._accepted(report),), touched)
        assert held is not None  # only ACCEPT is possible without a held revision
        if decision is Decision.DUPLICATE:
            again = self._accepted(_as_report(held, report))
            return EventResult(Outcome.DUPLICATE, (again,), touched)
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
        return self._reject(record, report.to_avro(), [refusal])

    def recompute(
        self,
        province: str,
        period: str,
        *,
        latest: Mapping[str, Any],
        versions: MutableMapping[str, Any],
    ) -> list[OutputRecord]:
        """Every figure of a province and period from its communes' latest revisions.

        The version is incremented in ``versions`` before any figure carrying it leaves, so a
        restarted worker never reuses a version number it already published.
        """
        held = [
            LatestReport.from_state(state)
            for commune in self._reference.communes_by_province.get(province, ())
            if (state := latest.get(latest_key(commune, period))) is not None
        ]
        figures = aggregate_province(province, period, held, self._catalogue)
        key = version_key(province, period)
        version = int(versions.get(key) or 0) + 1
        versions[key] = version
        updated_at = self._clock()
        return [
            OutputRecord.of(
                self._topics.province_indicators,
                f"{province}|{period}|{figure.indicator_code}",
                PROVINCE_INDICATOR_SCHEMA,
                {
                    "province_code": province,
                    "period": period,
                    "indicator_code": figure.indicator_code,
                    "value": figure.value,
                    "numerator": figure.numerator,
                    "denominator": figure.denominator,
                    "communes_reported": figure.communes_reported,
                    "version": version,
                    "updated_at": updated_at,
                },
            )
            for figure in figures
        ]

    def _accepted(self, report: CommuneReport) -> OutputRecord:
        return OutputRecord.of(
            self._topics.accepted_reports,
            latest_key(report.commune_code, report.period),
            COMMUNE_REPORT_SCHEMA,
            report.to_avro(),
        )

    def _reject(
        self, record: SourceRecord, data: Mapping[str, Any] | None, reasons: Sequence[Reason]
    ) -> EventResult:
        """A dead-letter record with every reason and as much of the report as could be read."""
        identity = dict(_identity(data or {}))
        payload = {
            "rejection_id": record.rejection_id,
            **identity,
            "reasons": [r.as_json() for r in reasons],
            "raw_payload": record.value or b"",
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
        submitted_at=datetime.fromtimestamp(held.submitted_at_ms / 1000, UTC),
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
