"""The worker without Kafka: one batch of raw events in, the records to publish and the
state to store out.

Rules a change here must keep (the reasons: docs/worker.md):

* decide on event time only (the record's Kafka timestamp, an approval's ``approved_at``,
  a historic report's own ``submitted_at``), so a replay decides the same; the wall clock
  (``clock``) only stamps ``updated_at``, ``known_at`` and ``rejected_at``;
* never write the tables: :meth:`RollupStep.run` stages on an
  :class:`~baocao.streams.records.Overlay` and returns the writes, which the agent stores
  only after the outputs were delivered;
* a batch runs approval steps first (in order), then reports in order, then recomputes each
  province and period it touched once. Each step is decided by the period's state machine
  (:mod:`baocao.streams.approval_states`) against its history at the step's time, and each
  report is locked or not by that history at the report's time, so an unapproval reopens
  the period from its moment on and a replay decides the same.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from baocao.core.avro import DecodeError, codec_for
from baocao.core.catalogue import Catalogue
from baocao.core.instants import from_millis, millis
from baocao.core.lineage import LEGACY_PREFIX, Crosswalk, legacy_code_of, load_crosswalk
from baocao.core.models import LOCAL_TIMEZONE, CommuneReport, parse_report
from baocao.core.obligations import Obligations, apply_event, default_obligations, event_reasons
from baocao.core.periods import (
    Period,
    PeriodError,
    deadline,
    locks_at,
    parse_period,
    period_containing,
)
from baocao.core.reasons import Reason, ReasonCode, reason
from baocao.core.reference import ReferenceData
from baocao.core.registry import SchemaRegistryClient, wire_codec
from baocao.core.settings import DeadlineSettings
from baocao.core.soft_rules import not_due_break, soft_rule_breaks, timing_break
from baocao.core.topics import (
    APPROVAL_DECISIONS,
    APPROVALS,
    COMMUNE_REPORTS,
    REPORTING_OBLIGATIONS,
    Topics,
    state_key,
)
from baocao.core.validation import validate_report
from baocao.streams.approval_states import (
    Step,
    StepDecision,
    decide_step,
    locking_step_at,
    returned_communes,
)
from baocao.streams.dead_letters import DeadLetterLimits
from baocao.streams.outputs import Cause, Outputs, moved_by
from baocao.streams.records import (
    BatchResult,
    Focus,
    Outcome,
    OutputRecord,
    Overlay,
    SourceRecord,
    StateReader,
    unfocused,
)
from baocao.streams.rollup import (
    Decision,
    LatestReport,
    ProvinceAggregate,
    ProvinceFigure,
    carried_over,
    decide,
)

__all__ = ["EventResult", "RollupStep"]

logger = logging.getLogger(__name__)

#: How far back from its ``recorded_at`` an obligation event recomputes the completeness of
#: the periods its province has figures for (docs/legacy-units.md, "Obligations").
OBLIGATION_RECOMPUTE_DAYS = 3 * 366


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class EventResult:
    """What one event did: its outcome, the records it emits, the province period it touched."""

    outcome: Outcome
    outputs: tuple[OutputRecord, ...] = ()
    touched: tuple[str, str] | None = None
    reasons: tuple[Reason, ...] = ()
    warnings: tuple[str, ...] = ()
    cause: Cause | None = None
    #: The commune whose revision of ``touched`` the event accepted or re-sent.
    commune: str | None = None
    #: A report under a pre-2025 code: what its new communes now count instead.
    carried: tuple[Cause, ...] = ()

    def count_into(self, result: BatchResult) -> None:
        """Add this event's outcome, reasons, warnings and outputs to ``result``."""
        result.outcomes[self.outcome] += 1
        result.rejections.update(r.code for r in self.reasons)
        result.warnings.update(self.warnings)
        result.outputs.extend(self.outputs)


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
        crosswalk: Crosswalk | None = None,
        obligations: Obligations | None = None,
    ) -> None:
        self._topics = topics
        self._crosswalk = crosswalk or load_crosswalk()
        self._obligations = obligations or default_obligations(reference)
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
            COMMUNE_REPORTS.writes, topic=topics.commune_reports, registry=registry
        )
        self._approval_codec = codec_for(APPROVALS.writes)
        self._obligation_codec = codec_for(REPORTING_OBLIGATIONS.writes)
        self._outputs = Outputs(topics, self._dead_letters)

    # -- the batch ---------------------------------------------------------------------

    def run(
        self,
        records: Sequence[SourceRecord],
        *,
        tables: StateReader,
        focus: Focus = unfocused,
    ) -> BatchResult:
        """Decide every event, recompute each province and period touched; store nothing.
        A province is recomputed in the focus of the first event that touched it (that
        event's partition holds the province's state)."""
        result = BatchResult()
        staged = Overlay(tables)
        anchors: dict[tuple[str, str], int] = {}
        causes: dict[tuple[str, str], list[Cause]] = {}
        communes: dict[tuple[str, str], set[str]] = {}
        for index, record in enumerate(records):
            if record.topic == self._topics.approvals:
                with focus(index):
                    outcome, problem, decided = self._approval(record, staged, index)
                result.approvals[outcome] += 1
                if decided is not None:
                    result.outputs.append(decided)
                if problem is not None:  # a foreign or corrupt record: set aside, bounded
                    refusal = reason(ReasonCode.MALFORMED_EVENT, f"not a valid approval: {problem}")
                    result.outputs.extend(self._reject(record, None, [refusal]).outputs)
                    result.rejections[refusal.code] += 1
            elif record.topic == self._topics.reporting_obligations:
                with focus(index):
                    outcome, refused, periods = self._obligation(record, staged, index)
                result.obligations[outcome] += 1
                if refused is not None:
                    result.outputs.extend(refused.outputs)
                    result.rejections.update(r.code for r in refused.reasons)
                for touched in periods:
                    anchors.setdefault(touched, index)
        for index, record in enumerate(records):
            if record.topic in (self._topics.approvals, self._topics.reporting_obligations):
                continue
            with focus(index):
                event = self._report(record, staged, index)
            event.count_into(result)
            if event.touched is not None:
                anchors.setdefault(event.touched, index)
                if event.commune is not None:
                    communes.setdefault(event.touched, set()).add(event.commune)
                if event.cause is not None:
                    causes.setdefault(event.touched, []).append(event.cause)
                for carried in event.carried:
                    communes.setdefault(event.touched, set()).add(carried.commune_code)
                    causes.setdefault(event.touched, []).append(carried)
        for (province, period), index in anchors.items():
            with focus(index):
                figures, changes, completeness = self._recompute(
                    province,
                    period,
                    staged,
                    causes.get((province, period), []),
                    communes.get((province, period), set()),
                    anchor=index,
                )
            result.recomputed += 1
            result.figures += len(figures)
            result.changes += len(changes)
            result.outputs.extend((*figures, *changes, completeness))
        result.writes = staged.writes()
        return result

    def dead_letter(self, record: SourceRecord, reasons: Sequence[Reason]) -> BatchResult:
        """A result holding only ``record``'s dead letter: for an event the agent sets aside
        (the step failed on it), decoded no further."""
        result = BatchResult()
        self._reject(record, None, reasons).count_into(result)
        return result

    # -- approvals -----------------------------------------------------------------------

    def _approval(
        self, record: SourceRecord, staged: Overlay, index: int
    ) -> tuple[str, str | None, OutputRecord | None]:
        """Decide an approval step on its period's state machine: ``applied`` (the new state
        staged) or ``refused``, either way with its decision record for the audit trail; or
        ``invalid`` with the problem. The producers check their input, so an invalid step
        is a foreign or corrupt record: logged, counted and dead-lettered, never stored."""
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
        if problem is None and record.key != APPROVALS.key_bytes_of(data):
            problem = f"keyed {record.key!r}, not by its province {province!r}"
        commune = data.get("commune_code")
        if problem is None and commune is not None:
            known = self._reference.communes.get(str(commune))
            if known is None or known.province_code != province:
                problem = f"commune {commune!r} is not a commune of province {province!r}"
        if problem is not None:
            logger.warning("ignoring invalid approval at %s: %s", record.rejection_id, problem)
            return "invalid", problem, None
        key = state_key(str(province), str(period_text))
        step = Step(
            approval_id=str(data["approval_id"]),
            action=str(data.get("action") or "approve"),
            actor=str(data["approved_by"]),
            at_ms=millis(data["approved_at"]),
            note=data.get("note"),
            commune=commune,
            based_on_version=data.get("based_on_version"),
            report_type=str(data["report_type"]),
        )
        decided = decide_step(staged.get("approvals", key), step)
        if decided.applied:
            staged.put("approvals", key, decided.state, anchor=index)
        output = self._decision(data, step, decided)
        return ("applied" if decided.applied else "refused"), None, output

    def _decision(self, data: Mapping[str, Any], step: Step, decided: StepDecision) -> OutputRecord:
        """The audit record of a decision; stamped with the step's own time, so a replay
        writes the very same record."""
        payload = {
            "approval_id": step.approval_id,
            "province_code": data["province_code"],
            "report_type": data["report_type"],
            "period": data["period"],
            "action": step.action,
            "commune_code": step.commune,
            "actor": step.actor,
            "acted_at": from_millis(step.at_ms),
            "note": step.note,
            "outcome": "applied" if decided.applied else "refused",
            "reason_code": decided.reason_code,
            "reason_en": decided.reason_en,
            "reason_vi": decided.reason_vi,
            "state": decided.current,
            "version": decided.version,
            "decided_at": from_millis(step.at_ms),
        }
        return OutputRecord.of(self._topics, APPROVAL_DECISIONS, payload)

    # -- obligations ---------------------------------------------------------------------

    def _obligation(
        self, record: SourceRecord, staged: Overlay, index: int
    ) -> tuple[str, EventResult | None, list[tuple[str, str]]]:
        """Apply an obligation event to its province's state: ``applied`` with the province's
        periods to recompute (those it has figures for, back to
        :data:`OBLIGATION_RECOMPUTE_DAYS` before the event), ``superseded`` when a later
        event already decided the unit, or ``refused`` with its dead letter."""
        try:
            data = self._obligation_codec.decode(record.value or b"")
        except DecodeError as exc:
            refusal = reason(ReasonCode.MALFORMED_EVENT, f"not a valid obligation: {exc}")
            return "refused", self._reject(record, None, [refusal]), []
        reasons = event_reasons(data, self._reference)
        if not reasons and record.key != REPORTING_OBLIGATIONS.key_bytes_of(data):
            reasons.append(
                reason(
                    ReasonCode.MALFORMED_EVENT,
                    f"its Kafka key {record.key!r} is not its province code",
                    field="province_code",
                )
            )
        if reasons:
            identity = {**data, "report_id": data.get("obligation_id")}
            logger.warning(
                "refusing obligation %s: %s", record.rejection_id, [str(r.code) for r in reasons]
            )
            return "refused", self._reject(record, identity, reasons), []
        province, report_type = str(data["province_code"]), str(data["report_type"])
        key = state_key(province, report_type)
        state = apply_event(staged.get("obligations", key), data)
        if state is None:
            return "superseded", None, []
        staged.put("obligations", key, state, anchor=index)
        recorded_at: datetime = data["recorded_at"]
        period = period_containing(report_type, recorded_at)
        earliest = recorded_at - timedelta(days=OBLIGATION_RECOMPUTE_DAYS)
        periods: list[tuple[str, str]] = []
        while period.ends_at > earliest:
            if staged.get("versions", state_key(province, period.text)):
                periods.append((province, period.text))
            period = period.previous()
        return "applied", None, periods

    def _obligations_of(self, province: str, report_type: str, staged: StateReader) -> Obligations:
        """The default obligations with the province's events of ``report_type`` applied."""
        return self._obligations.updated(
            report_type, staged.get("obligations", state_key(province, report_type))
        )

    # -- reports -------------------------------------------------------------------------

    def _report(self, record: SourceRecord, staged: Overlay, index: int) -> EventResult:
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
        reasons = validate_report(
            report, self._reference, self._catalogue, crosswalk=self._crosswalk
        )
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
        old_code = legacy_code_of(report.commune_code)
        # A report under the commune's own code replaces what its predecessors' old-code
        # reports counted for it, whatever the revisions.
        decision = decide(None if held is not None and held.legacy else held, report)
        locked = self._locked(period, report.province_code, event_ms, staged)
        touched = (report.province_code, report.period)
        if decision is Decision.ACCEPT:
            if locked is not None and self._deadlines.amendments_after_lock == "reject":
                return self._reject(record, report.to_avro(), [locked])
            return self._accept(report, period, held, staged, event_ms, locked, index)
        assert held is not None  # only ACCEPT is possible without a held revision
        if decision is Decision.DUPLICATE:
            again = self._accepted(held.as_report(report), period, held)
            commune = report.commune_code if old_code is None else None
            return EventResult(Outcome.DUPLICATE, (again,), touched, commune=commune)
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
        staged: Overlay,
        event_ms: int,
        locked: Reason | None,
        index: int,
    ) -> EventResult:
        previous_period = period.previous().text
        before = staged.get("latest", state_key(report.commune_code, previous_period))
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
        obligations = self._obligations_of(report.province_code, period.report_type, staged)
        if legacy_code_of(report.commune_code) is None and not obligations.is_due(
            report.commune_code, period
        ):
            breaks.append(not_due_break(report.commune_code, period.text))
        latest = LatestReport.of(
            report,
            # Timeliness is judged on when the first accepted revision was received.
            first_submitted_at_ms=(
                held.first_submitted_at_ms if held is not None and not held.legacy else event_ms
            ),
            accepted_at_ms=event_ms,
            amended=locked is not None,
            warned=frozenset().union(*(b.involved for b in breaks)),
        )
        staged.put("latest", report.key, latest.to_state(), anchor=index)
        outputs = [self._accepted(report, period, latest)]
        answered = self._answer_return(report, period, staged, event_ms, index)
        if answered is not None:
            outputs.append(answered)
        outputs.extend(self._outputs.warning(report, period, b, event_ms) for b in breaks)
        if legacy_code_of(report.commune_code) is not None:
            return EventResult(
                Outcome.ACCEPTED,
                tuple(outputs),
                (report.province_code, report.period),
                warnings=tuple(b.rule_code for b in breaks),
                carried=self._carry_over(report, staged, event_ms, index),
            )
        cause = Cause.of(report.commune_code, held, latest)
        return EventResult(
            Outcome.ACCEPTED,
            tuple(outputs),
            (report.province_code, report.period),
            commune=report.commune_code,
            warnings=tuple(b.rule_code for b in breaks),
            cause=cause,
        )

    def _carry_over(
        self, report: CommuneReport, staged: Overlay, event_ms: int, index: int
    ) -> tuple[Cause, ...]:
        """Count an accepted old-code report toward its new communes: each one's carried-over
        report is rebuilt from all of its predecessors' old-code reports held for the period.
        A new commune that has a report under its own code keeps it: the old-code report is
        superseded there, and counts nowhere twice (docs/legacy-units.md)."""
        old_code = legacy_code_of(report.commune_code)
        assert old_code is not None
        causes: list[Cause] = []
        for row in self._crosswalk.lineage[old_code]:
            key = state_key(row.new_code, report.period)
            stored = staged.get("latest", key)
            held = LatestReport.from_state(stored) if stored is not None else None
            if held is not None and not held.legacy:
                continue
            predecessors = {
                r.old_code: LatestReport.from_state(state)
                for r in self._crosswalk.predecessors[row.new_code]
                if (
                    state := staged.get(
                        "latest", state_key(LEGACY_PREFIX + r.old_code, report.period)
                    )
                )
                is not None
            }
            carried = carried_over(
                row.new_code,
                report.province_code,
                report.period,
                predecessors,
                self._crosswalk,
                self._catalogue,
                revision=held.revision + 1 if held is not None else 1,
                accepted_at_ms=event_ms,
            )
            staged.put("latest", key, carried.to_state(), anchor=index)
            causes.append(Cause.of(row.new_code, held, carried))
        return tuple(causes)

    def _locked(
        self, period: Period, province: str, event_ms: int, staged: Overlay
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
        step = locking_step_at(staged.get("approvals", state_key(province, period.text)), event_ms)
        if step is not None:
            approved_at = from_millis(int(step["at_ms"]))
            when = approved_at.astimezone(LOCAL_TIMEZONE).isoformat(timespec="seconds")
            who = step["by"]
            if step["action"] == "accept":
                return reason(
                    ReasonCode.PERIOD_LOCKED,
                    f"{period.text} was accepted nationally by {who} at {when}",
                    detail_vi=f"{period.text} đã được {who} tiếp nhận lúc {when}",
                    field="period",
                )
            return reason(
                ReasonCode.PERIOD_LOCKED,
                f"{period.text} was approved by {who} at {when}",
                detail_vi=f"{period.text} đã được {who} phê duyệt lúc {when}",
                field="period",
            )
        return None

    def _answer_return(
        self, report: CommuneReport, period: Period, staged: Overlay, event_ms: int, index: int
    ) -> OutputRecord | None:
        """A new revision of a report sent back answers the send-back: the state forgets it
        and the audit trail records the correction (its report id as the step's id)."""
        key = state_key(report.province_code, report.period)
        held = staged.get("approvals", key)
        if report.commune_code not in returned_communes(held):
            return None
        assert held is not None
        state = dict(held)
        state["returned"] = {c: r for c, r in held["returned"].items() if c != report.commune_code}
        staged.put("approvals", key, state, anchor=index)
        payload = {
            "approval_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"baocao:{report.report_id}")),
            "province_code": report.province_code,
            "report_type": str(period.report_type),
            "period": report.period,
            "action": "correction",
            "commune_code": report.commune_code,
            "actor": report.commune_code,
            "acted_at": from_millis(event_ms),
            "note": f"revision {report.revision}",
            "outcome": "applied",
            "reason_code": None,
            "reason_en": None,
            "reason_vi": None,
            "state": str(state.get("state", "open")),
            "version": int(state.get("version", 0)),
            "decided_at": from_millis(event_ms),
        }
        return OutputRecord.of(self._topics, APPROVAL_DECISIONS, payload)

    # -- recomputation -------------------------------------------------------------------

    def _recompute(
        self,
        province: str,
        period_text: str,
        staged: Overlay,
        causes: Sequence[Cause],
        communes: set[str],
        *,
        anchor: int,
    ) -> tuple[list[OutputRecord], list[OutputRecord], OutputRecord]:
        """Every figure, the changed ones and the completeness of a province and period,
        from its aggregate brought up to date with the batch's ``causes``, at the next
        version. A figure no commune reports any more is published once more, empty."""
        period = parse_period(period_text)
        due_ms = millis(deadline(period, self._deadlines))
        key = state_key(province, period_text)
        stored_version = int(staged.get("versions", key) or 0)
        aggregate, changed = self._aggregate(
            province, period_text, key, staged, causes, communes, due_ms, stored_version
        )
        if changed:
            staged.put("aggregates", key, aggregate.to_state(), anchor=anchor)
        version = stored_version + 1
        staged.put("versions", key, version, anchor=anchor)
        # Epoch milliseconds, as timestamp-millis holds them: no datetime converted per record.
        updated_at = millis(self._clock())
        current = {
            f.indicator_code: f for f in aggregate.figures(province, period_text, self._catalogue)
        }
        published: Mapping[str, float | None] = staged.get("figures", key) or {}
        for gone in published.keys() - current.keys():
            current[gone] = ProvinceFigure(province, period_text, gone, None, 0)
        figures: list[OutputRecord] = []
        changes: list[OutputRecord] = []
        moved = moved_by(causes, self._catalogue)
        for code in self._catalogue.indicators:
            figure = current.get(code)
            if figure is None:
                continue
            figures.append(self._outputs.figure(figure, period, due_ms, version, updated_at))
            if code not in published or published[code] != figure.value:
                changes.append(
                    self._outputs.change(
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
        # Only the communes due to report the period count toward its completeness.
        obligations = self._obligations_of(province, period.report_type, staged)
        not_due = [c for c in aggregate.counted if not obligations.is_due(c, period)]
        on_time_not_due = sum(
            LatestReport.from_state(
                staged.get("latest", state_key(c, period_text))
            ).first_submitted_at_ms
            <= due_ms
            for c in not_due
        )
        completeness = self._outputs.completeness(
            province,
            period,
            due_ms=due_ms,
            expected=len(
                obligations.due(self._reference.communes_by_province.get(province, ()), period)
            ),
            reported=len(aggregate.counted) - len(not_due),
            on_time=aggregate.on_time - on_time_not_due,
            version=version,
            updated_at=updated_at,
        )
        return figures, changes, completeness

    def _aggregate(
        self,
        province: str,
        period_text: str,
        key: str,
        staged: Overlay,
        causes: Sequence[Cause],
        communes: set[str],
        due_ms: int,
        stored_version: int,
    ) -> tuple[ProvinceAggregate, bool]:
        """The province's aggregate with the batch applied, and whether it is to be stored:
        kept incrementally, or rebuilt from its communes' latest revisions when it cannot be
        trusted (docs/worker.md, "The aggregate")."""
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
                held = staged.get("latest", state_key(commune, period_text))
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
            if (held := staged.get("latest", state_key(commune, period_text))) is not None
        }
        return ProvinceAggregate.of(held_by, self._catalogue, due_ms=due_ms), True

    # -- output records ------------------------------------------------------------------

    def _accepted(
        self, report: CommuneReport, period: Period, latest: LatestReport
    ) -> OutputRecord:
        due_ms = millis(deadline(period, self._deadlines))
        return self._outputs.accepted(report, period, latest, due_ms)

    def _reject(
        self, record: SourceRecord, data: Mapping[str, Any] | None, reasons: Sequence[Reason]
    ) -> EventResult:
        """A dead letter with every reason and as much of the report as could be read."""
        output = self._outputs.rejected(record, data, reasons, rejected_at=self._clock())
        return EventResult(Outcome.REJECTED, (output,), None, tuple(reasons))

    def _now_ms(self) -> int:
        return millis(self._clock())


def _key_reasons(record: SourceRecord, report: CommuneReport) -> list[Reason]:
    """The input must be keyed as its spec says: by the report's province.

    Faust keeps a commune's state in the partition its events arrive on, and recomputes a
    province from the partition of one of its events: a report keyed otherwise would be
    counted in the wrong place, so it is refused instead.
    """
    key = record.key.decode("utf-8", "replace") if record.key is not None else None
    if key == COMMUNE_REPORTS.key_of(report):  # historic_reports: the same key
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
