"""Every Kafka topic of the pipeline, declared once: its name, key, writer schema, the schema
versions its readers accept, and which component writes and which read it.

Rule: a writer takes a topic's name, schema and message key from its :class:`TopicSpec`
(:meth:`TopicSpec.key_of`), never writes them by hand; the worker's table keys come from
:func:`state_key`. A new schema version is then a one-line change here (consumers are
upgraded before producers, see :mod:`baocao.core.avro`). :class:`Topics` names the topics
under a prefix (``BAOCAO_KAFKA_TOPIC_PREFIX``), so pipelines and tests share a broker apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, overload

__all__ = [
    "ACCEPTED_REPORTS",
    "APPROVALS",
    "APPROVAL_DECISIONS",
    "COMMUNE_REPORTS",
    "DEAD_LETTER",
    "HISTORIC_REPORTS",
    "KEPT_AS_RECORD",
    "KEPT_UNTIL_LANDED",
    "MISSING_REPORT_ALERTS",
    "PROVINCE_COMPLETENESS",
    "PROVINCE_INDICATORS",
    "PROVINCE_INDICATOR_CHANGES",
    "REPORTING_OBLIGATIONS",
    "REPORTING_PERIODS",
    "REPORT_WARNINGS",
    "SPECS",
    "Component",
    "Retention",
    "TopicSpec",
    "Topics",
    "state_key",
]

#: Joins the fields of a message key, and the parts of a state key.
KEY_SEPARATOR = "|"


class Component(StrEnum):
    """The pipeline packages that write or read topics (``baocao.<component>``)."""

    PRODUCERS = "producers"
    STREAMS = "streams"
    SINKS = "sinks"


@dataclass(frozen=True, slots=True)
class Retention:
    """How long a topic keeps its records, and why: a contract like its name and key.

    ``ms=-1`` keeps them for ever. ``cleanup.policy`` stays ``delete`` (no compaction): the
    sink keeps every revision and figure version, so a compacted topic would lose history a
    rebuild needs. Size is no reason to age anything out: all communes reporting every month
    is about 40,000 reports a year (the measured bytes are in the README).
    """

    #: ``retention.ms``: -1 for ever.
    ms: int
    #: Why, for people reading the declaration (docs/operations.md collects them).
    why: str

    def configs(self) -> dict[str, str]:
        """The topic configurations that carry it (created and corrected with these)."""
        return {"cleanup.policy": "delete", "retention.ms": str(self.ms), "retention.bytes": "-1"}


#: An input: the log of record. The worker's state and every figure can be recomputed from it
#: (a rebuild replays it from the first offset), so nothing in it may age out.
KEPT_AS_RECORD = Retention(
    ms=-1,
    why="the log of record: the worker's state and every figure are rebuilt from it",
)
#: An output the sink lands as ClickHouse rows: a sink that is down for any length of time
#: (a broken disk over Tết, a changed password) catches up from it, and a ClickHouse rebuild
#: replays it, so it may not age out before, or after, it landed.
KEPT_UNTIL_LANDED = Retention(
    ms=-1,
    why="lands as ClickHouse rows: a stopped sink catches up from it however long it was "
    "down, and a rebuild of ClickHouse replays it",
)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic: what a writer must put on it and what its readers can take from it."""

    #: The :class:`Topics` attribute naming it (``commune_reports``).
    attribute: str
    #: The name after the prefix (``commune-reports``): a contract, never renamed.
    suffix: str
    #: The record fields the message key is made of, joined by ``|``.
    key: tuple[str, ...]
    #: The schema its writer writes now (``schemas/avro/<writes>.avsc``).
    writes: str
    #: Every schema a reader must decode: older versions still in the log, other records
    #: older writers put there. Always includes ``writes``.
    accepts: tuple[str, ...]
    #: The one component that writes it.
    writer: Component
    #: The components that consume it.
    readers: tuple[Component, ...]
    #: What it carries, for people.
    doc: str
    #: How long it keeps its records (for ever, for every topic of the pipeline today).
    retention: Retention

    def key_of(self, payload: Mapping[str, Any] | object) -> str:
        """The message key of ``payload``: its :attr:`key` fields joined by ``|``, a missing
        value (``None``) as the empty string. ``payload`` is the record as written (a
        mapping), or an object with the fields as attributes (a ``CommuneReport``)."""
        if isinstance(payload, Mapping):
            values = [payload[name] for name in self.key]
        else:
            values = [getattr(payload, name) for name in self.key]
        return KEY_SEPARATOR.join("" if value is None else str(value) for value in values)

    def key_bytes_of(self, payload: Mapping[str, Any] | object) -> bytes:
        """:meth:`key_of` as the Kafka message key (UTF-8)."""
        return self.key_of(payload).encode("utf-8")


COMMUNE_REPORTS = TopicSpec(
    attribute="commune_reports",
    suffix="commune-reports",
    key=("province_code",),
    writes="commune_report.v2",
    accepts=("commune_report.v1", "commune_report.v2"),
    writer=Component.PRODUCERS,
    readers=(Component.STREAMS,),
    doc="Reports as communes submit them (publish, simulate, import, the gateway); keyed by "
    "province so one province's reports share a partition and keep their order.",
    retention=KEPT_AS_RECORD,
)
HISTORIC_REPORTS = TopicSpec(
    attribute="historic_reports",
    suffix="commune-reports.historic",
    key=("province_code",),
    writes="commune_report.v2",
    accepts=("commune_report.v1", "commune_report.v2"),
    writer=Component.PRODUCERS,
    readers=(Component.STREAMS,),
    doc="Reports of past periods loaded on purpose (baocao publish --historic), keyed by "
    "province like commune-reports. Only the historic-loader principal may write it; the "
    "worker judges these reports on their own submitted_at (docs/security.md).",
    retention=KEPT_AS_RECORD,
)
ACCEPTED_REPORTS = TopicSpec(
    attribute="accepted_reports",
    suffix="commune-reports.accepted",
    key=("commune_code", "period"),
    writes="accepted_report.v1",
    # Workers before accepted_report.v1 put the commune report itself here.
    accepts=("accepted_report.v1", "commune_report.v1", "commune_report.v2"),
    writer=Component.STREAMS,
    readers=(Component.SINKS,),
    doc="Reports the worker accepted as the latest revision, keyed by commune and period.",
    retention=KEPT_UNTIL_LANDED,
)
PROVINCE_INDICATORS = TopicSpec(
    attribute="province_indicators",
    suffix="province-indicators",
    key=("province_code", "period", "indicator_code"),
    writes="province_indicator.v2",
    accepts=("province_indicator.v1", "province_indicator.v2"),
    writer=Component.STREAMS,
    readers=(Component.SINKS,),
    doc="Absolute provincial figures, keyed by province, period and indicator.",
    retention=KEPT_UNTIL_LANDED,
)
DEAD_LETTER = TopicSpec(
    attribute="dead_letter",
    suffix="commune-reports.dead-letter",
    key=("commune_code",),
    writes="rejected_report.v2",
    accepts=("rejected_report.v1", "rejected_report.v2"),
    writer=Component.STREAMS,
    readers=(Component.SINKS,),
    doc="Refused reports with their reasons, keyed by commune code.",
    retention=KEPT_UNTIL_LANDED,
)
APPROVALS = TopicSpec(
    attribute="approvals",
    suffix="approvals",
    key=("province_code",),
    writes="approval.v2",
    accepts=("approval.v1", "approval.v2"),
    writer=Component.PRODUCERS,
    readers=(Component.STREAMS, Component.SINKS),
    doc="Officers' steps on a province's period (approve, send back, unapprove, accept; "
    "baocao approve and the dashboard), keyed by province code like the reports, so both "
    "land in the same partition number and the worker sees them together.",
    retention=KEPT_AS_RECORD,
)
APPROVAL_DECISIONS = TopicSpec(
    attribute="approval_decisions",
    suffix="approvals.decisions",
    key=("province_code",),
    writes="approval_decision.v1",
    accepts=("approval_decision.v1",),
    writer=Component.STREAMS,
    readers=(Component.SINKS,),
    doc="The worker's decision on each approval step (applied, or refused with its reason), "
    "keyed by province: the audit trail of who, when, what and why.",
    retention=KEPT_AS_RECORD,
)
REPORTING_OBLIGATIONS = TopicSpec(
    attribute="reporting_obligations",
    suffix="reporting-obligations",
    key=("province_code",),
    writes="reporting_obligation.v1",
    accepts=("reporting_obligation.v1",),
    writer=Component.PRODUCERS,
    readers=(Component.STREAMS, Component.SINKS),
    doc="Who must report what, from when (baocao obligations): each event sets one unit's "
    "obligation of one report type. Keyed by province like the reports, so the worker that "
    "counts a province's completeness holds its obligations.",
    retention=KEPT_AS_RECORD,
)
PROVINCE_COMPLETENESS = TopicSpec(
    attribute="province_completeness",
    suffix="province-completeness",
    key=("province_code", "report_type", "period"),
    writes="province_completeness.v1",
    accepts=("province_completeness.v1",),
    writer=Component.STREAMS,
    readers=(Component.SINKS,),
    doc="Who has reported, keyed by province, report type and period.",
    retention=KEPT_UNTIL_LANDED,
)
PROVINCE_INDICATOR_CHANGES = TopicSpec(
    attribute="province_indicator_changes",
    suffix="province-indicator-changes",
    key=("province_code", "period", "indicator_code"),
    writes="province_indicator_change.v1",
    accepts=("province_indicator_change.v1",),
    writer=Component.STREAMS,
    readers=(Component.SINKS,),
    doc="Every change of a provincial figure with its causes.",
    retention=KEPT_UNTIL_LANDED,
)
REPORT_WARNINGS = TopicSpec(
    attribute="report_warnings",
    suffix="report-warnings",
    key=("commune_code",),
    writes="report_warning.v1",
    accepts=("report_warning.v1",),
    writer=Component.STREAMS,
    readers=(Component.SINKS,),
    doc="Soft rule breaks of accepted reports, keyed by commune.",
    retention=KEPT_UNTIL_LANDED,
)
REPORTING_PERIODS = TopicSpec(
    attribute="reporting_periods",
    suffix="reporting-periods",
    key=("report_type", "period"),
    writes="reporting_period.v1",
    accepts=("reporting_period.v1",),
    writer=Component.STREAMS,
    readers=(Component.SINKS,),
    doc="Periods communes are expected to report on, announced by the worker's clock.",
    retention=KEPT_UNTIL_LANDED,
)
MISSING_REPORT_ALERTS = TopicSpec(
    attribute="missing_report_alerts",
    suffix="alerts.missing-reports",
    key=("province_code",),
    writes="missing_reports_alert.v1",
    accepts=("missing_reports_alert.v1",),
    writer=Component.STREAMS,
    readers=(Component.SINKS,),
    doc="Communes that have not reported as a deadline nears or passes, keyed by province.",
    retention=KEPT_UNTIL_LANDED,
)


def state_key(code: str, period: str) -> str:
    """The key of a worker table entry: a commune's (``latest``) or a province's period
    (``versions``, ``approvals``, ``figures``, ``aggregates``). Written as a topic key is, so
    ``latest``'s key of a report is its key on ``accepted_reports``."""
    return f"{code}{KEY_SEPARATOR}{period}"


#: Every topic, in the order :meth:`Topics.all` lists (and ``baocao`` creates) them.
SPECS: tuple[TopicSpec, ...] = (
    COMMUNE_REPORTS,
    HISTORIC_REPORTS,
    ACCEPTED_REPORTS,
    PROVINCE_INDICATORS,
    DEAD_LETTER,
    APPROVALS,
    PROVINCE_COMPLETENESS,
    PROVINCE_INDICATOR_CHANGES,
    REPORT_WARNINGS,
    REPORTING_PERIODS,
    MISSING_REPORT_ALERTS,
    APPROVAL_DECISIONS,
    REPORTING_OBLIGATIONS,
)


class _TopicName:
    """A :class:`Topics` attribute: the name of one spec's topic under the instance's prefix.

    A descriptor rather than one property per topic: the spec already says what the topic
    carries, and mypy still knows ``Topics(...).commune_reports`` is a ``str``."""

    def __init__(self, spec: TopicSpec) -> None:
        self._spec = spec

    def __set_name__(self, owner: type, name: str) -> None:
        if name != self._spec.attribute:
            raise TypeError(f"Topics.{name} names the spec of {self._spec.attribute!r}")

    @overload
    def __get__(self, topics: None, owner: type) -> _TopicName: ...

    @overload
    def __get__(self, topics: Topics, owner: type) -> str: ...

    def __get__(self, topics: Topics | None, owner: type) -> _TopicName | str:
        return self if topics is None else topics.name(self._spec)


@dataclass(frozen=True, slots=True)
class Topics:
    """The topic names under one prefix: ``Topics("baocao").commune_reports`` is
    ``baocao.commune-reports``. Each attribute is its spec's topic (see the spec's ``doc``)."""

    prefix: str = "baocao"
    #: Prefix of the worker's outputs (the topics ``streams`` writes) when it is not
    #: ``prefix``: a rebuild worker reads the live inputs and writes outputs of its own
    #: (:meth:`rebuilt_by`). Empty: ``prefix``.
    outputs: str = ""

    commune_reports = _TopicName(COMMUNE_REPORTS)
    historic_reports = _TopicName(HISTORIC_REPORTS)
    accepted_reports = _TopicName(ACCEPTED_REPORTS)
    province_indicators = _TopicName(PROVINCE_INDICATORS)
    dead_letter = _TopicName(DEAD_LETTER)
    approvals = _TopicName(APPROVALS)
    province_completeness = _TopicName(PROVINCE_COMPLETENESS)
    province_indicator_changes = _TopicName(PROVINCE_INDICATOR_CHANGES)
    report_warnings = _TopicName(REPORT_WARNINGS)
    reporting_periods = _TopicName(REPORTING_PERIODS)
    missing_report_alerts = _TopicName(MISSING_REPORT_ALERTS)
    approval_decisions = _TopicName(APPROVAL_DECISIONS)
    reporting_obligations = _TopicName(REPORTING_OBLIGATIONS)

    def name(self, spec: TopicSpec) -> str:
        if self.outputs and spec.writer is Component.STREAMS:
            return f"{self.outputs}.{spec.suffix}"
        return f"{self.prefix}.{spec.suffix}"

    def rebuilt_by(self, app_id: str) -> Topics:
        """These topics as the rebuild worker ``app_id`` uses them: the same inputs, its own
        outputs under ``<prefix>.<app id>`` (``baocao.baocao-rollup-2.province-indicators``),
        so the live outputs stay untouched (``baocao rebuild worker``)."""
        return Topics(self.prefix, outputs=f"{self.prefix}.{app_id}")

    def worker_outputs(self) -> tuple[str, ...]:
        """The topics the worker writes, in declaration order."""
        return tuple(self.name(spec) for spec in SPECS if spec.writer is Component.STREAMS)

    def spec(self, topic: str) -> TopicSpec:
        """The spec of the topic named ``topic`` under this prefix (KeyError if none)."""
        for spec in SPECS:
            if self.name(spec) == topic:
                return spec
        raise KeyError(f"{topic!r} is not a topic of prefix {self.prefix!r}")

    def all(self) -> tuple[str, ...]:
        return tuple(self.name(spec) for spec in SPECS)
