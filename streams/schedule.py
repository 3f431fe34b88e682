"""What the worker's clock says: periods communes owe a report on, and who has not reported.

Rule: the schedule only reads ``latest`` and marks a period done only after its records were
delivered; a tick never does more than ``schedule_max_per_tick`` announcements and checks
(why, and how the sweeps keep a long lock window cheap: docs/worker.md, "The schedule").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kafka.partitioner.default import murmur2

from baocao.core.instants import MILLISECOND
from baocao.core.obligations import Obligations, default_obligations
from baocao.core.periods import (
    REPORT_TYPES,
    Period,
    ReportType,
    deadline,
    locks_at,
    period_containing,
)
from baocao.core.reference import ReferenceData
from baocao.core.settings import DeadlineSettings
from baocao.core.topics import (
    COMMUNE_REPORTS,
    MISSING_REPORT_ALERTS,
    REPORTING_PERIODS,
    Topics,
    state_key,
)
from baocao.streams.records import OutputRecord

__all__ = [
    "MISSING_REPORTS_ALERT_SCHEMA",
    "REPORTING_PERIOD_SCHEMA",
    "Schedule",
    "Sweep",
    "Tick",
    "province_partition",
]

logger = logging.getLogger(__name__)

# Writer schemas from the topic contract (baocao.core.topics).
REPORTING_PERIOD_SCHEMA = REPORTING_PERIODS.writes
MISSING_REPORTS_ALERT_SCHEMA = MISSING_REPORT_ALERTS.writes


def province_partition(province_code: str, partitions: int) -> int:
    """The partition kafka-python's default partitioner gives a record keyed ``province_code``
    (what ``baocao publish``, ``simulate`` and ``approve`` use) on a topic of ``partitions``."""
    key = COMMUNE_REPORTS.key_bytes_of({"province_code": province_code})
    return (murmur2(key) & 0x7FFFFFFF) % partitions


#: A sweep's key: ("announce", type) or (province, type, phase).
SweepKey = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Sweep:
    """A contiguous run of one report type's periods already done, newest and oldest."""

    newest: Period
    oldest: Period


@dataclass
class Tick:
    """The records of one tick, and what to mark done once they are delivered."""

    now: datetime
    #: Announcements plus (province, period) checks this tick may still make.
    budget: int
    outputs: list[OutputRecord] = field(default_factory=list)
    announced: set[str] = field(default_factory=set)
    #: The sweeps as they stand after this tick (stored by :meth:`Schedule.done`).
    sweeps: dict[SweepKey, Sweep | None] = field(default_factory=dict)

    @property
    def alerts(self) -> int:
        return sum(o.schema == MISSING_REPORTS_ALERT_SCHEMA for o in self.outputs)


class Schedule:
    """Announcements and missing-report alerts from the clock, each once per process."""

    def __init__(
        self,
        *,
        topics: Topics,
        reference: ReferenceData,
        deadlines: DeadlineSettings,
        clock: Callable[[], datetime],
        obligations: Obligations | None = None,
    ) -> None:
        self._topics = topics
        self._obligations = obligations or default_obligations(reference)
        self._reference = reference
        self._deadlines = deadlines
        self._clock = clock
        self._horizon = timedelta(hours=deadlines.alert_horizon_hours)
        self._lock = timedelta(days=deadlines.lock_days)
        self._chased = tuple(ReportType(t) for t in deadlines.chased)
        self._sweeps: dict[SweepKey, Sweep | None] = {}

    def provinces_of(self, partitions: Container[int], *, partition_count: int) -> list[str]:
        """The provinces whose reports land in one of ``partitions``."""
        return [
            code
            for code in self._reference.provinces
            if province_partition(code, partition_count) in partitions
        ]

    # -- a tick ------------------------------------------------------------------------

    def start(self) -> Tick:
        """A new tick at the clock's time, with the newest announcements still to make."""
        tick = Tick(now=self._clock(), budget=self._deadlines.schedule_max_per_tick)
        self._announce(tick, backfill=False)
        return tick

    def check_province(
        self,
        tick: Tick,
        province: str,
        latest: Mapping[str, Any],
        obligations: Mapping[str, Any] | None = None,
    ) -> None:
        """Add the alerts of ``province`` for the periods that came due since the last tick
        (reads ``latest`` and ``obligations``, the worker's tables, only)."""
        self._check(tick, province, latest, obligations or {}, backfill=False)

    def backfill(
        self,
        tick: Tick,
        provinces: Iterable[str],
        latest: Mapping[str, Any],
        obligations: Mapping[str, Any] | None = None,
    ) -> None:
        """With the budget left: older announcements, then older checks of ``provinces``."""
        self._announce(tick, backfill=True)
        for province in provinces:
            if tick.budget <= 0:
                return
            self._check(tick, province, latest, obligations or {}, backfill=True)

    def done(self, tick: Tick) -> None:
        """Mark a tick's announcements and checks done (after its records were delivered)."""
        self._sweeps.update(tick.sweeps)

    def plan(
        self,
        provinces: Iterable[str],
        latest: Mapping[str, Any],
        obligations: Mapping[str, Any] | None = None,
    ) -> Tick:
        """A whole tick at once (tests; the worker interleaves provinces with other work)."""
        tick = self.start()
        provinces = list(provinces)
        for province in provinces:
            self.check_province(tick, province, latest, obligations)
        self.backfill(tick, provinces, latest, obligations)
        return tick

    # -- announcements and alerts -------------------------------------------------------

    def _announce(self, tick: Tick, *, backfill: bool) -> None:
        earliest = tick.now - self._lock - self._horizon
        latest = tick.now + self._horizon
        for report_type in REPORT_TYPES:
            for period in self._sweep(tick, ("announce", report_type), earliest, latest, backfill):
                announcement = OutputRecord.of(
                    self._topics,
                    REPORTING_PERIODS,
                    {
                        "report_type": str(period.report_type),
                        "period": period.text,
                        "starts_at": period.starts_at,
                        "ends_at": period.ends_at,
                        "deadline": deadline(period, self._deadlines),
                        "locks_at": locks_at(period, self._deadlines),
                        "announced_at": tick.now,
                    },
                )
                tick.announced.add(announcement.key)
                tick.outputs.append(announcement)

    def _check(
        self,
        tick: Tick,
        province: str,
        latest: Mapping[str, Any],
        obligations: Mapping[str, Any],
        *,
        backfill: bool,
    ) -> None:
        # approaching: due in [now, now + horizon]; overdue: due in [now - lock, now).
        windows = (
            ("approaching", tick.now, tick.now + self._horizon),
            ("overdue", tick.now - self._lock, tick.now - MILLISECOND),
        )
        communes = self._reference.communes_by_province.get(province, ())
        for report_type in self._chased:
            owed = self._obligations.updated(
                str(report_type), obligations.get(state_key(province, str(report_type)))
            )
            for phase, earliest, newest in windows:
                key = (province, str(report_type), phase)
                for period in self._sweep(tick, key, earliest, newest, backfill):
                    due = owed.due(communes, period)
                    missing = [c for c in due if state_key(c, period.text) not in latest]
                    if missing:
                        tick.outputs.append(
                            self._alert(tick, province, period, phase, missing, len(due))
                        )

    def _alert(
        self,
        tick: Tick,
        province: str,
        period: Period,
        phase: str,
        missing: list[str],
        expected: int,
    ) -> OutputRecord:
        return OutputRecord.of(
            self._topics,
            MISSING_REPORT_ALERTS,
            {
                "alert_id": f"{province}|{period.report_type}|{period.text}|{phase}",
                "province_code": province,
                "report_type": str(period.report_type),
                "period": period.text,
                "deadline": deadline(period, self._deadlines),
                "phase": phase,
                "commune_codes": missing,
                "communes_expected": expected,
                "generated_at": tick.now,
            },
        )

    # -- sweeps ------------------------------------------------------------------------

    def _sweep(
        self,
        tick: Tick,
        key: SweepKey,
        earliest: datetime,
        newest: datetime,
        backfill: bool,
    ) -> Iterator[Period]:
        """The periods of ``key``'s type due in ``[earliest, newest]`` and not done yet:
        those after the sweep's newest (or the newest of all, for a new sweep), or with
        ``backfill`` those before its oldest, newest first; each costs one of the budget.
        """
        report_type = ReportType(key[1])
        sweep = tick.sweeps.get(key, self._sweeps.get(key))
        if sweep is not None and self._due(sweep.newest) < earliest:
            sweep = None  # all of it fell out of the window (a worker down for long)
        if not backfill:
            if sweep is None:
                if tick.budget <= 0:
                    return
                first = _newest_due_by(report_type, newest, self._deadlines)
                if self._due(first) < earliest:
                    return
                tick.budget -= 1
                sweep = tick.sweeps[key] = Sweep(first, first)
                yield first
            period = sweep.newest.next()
            while tick.budget > 0 and self._due(period) <= newest:
                tick.budget -= 1
                sweep = tick.sweeps[key] = Sweep(period, sweep.oldest)
                yield period
                period = period.next()
            return
        if sweep is None:
            return
        period = sweep.oldest.previous()
        while tick.budget > 0 and self._due(period) >= earliest:
            tick.budget -= 1
            sweep = tick.sweeps[key] = Sweep(sweep.newest, period)
            yield period
            period = period.previous()

    def _due(self, period: Period) -> datetime:
        return deadline(period, self._deadlines)


def _newest_due_by(report_type: ReportType, moment: datetime, rules: DeadlineSettings) -> Period:
    """The last period of ``report_type`` whose deadline is at or before ``moment``: a
    few steps back from the period containing it (its deadline is after ``moment``)."""
    period = period_containing(report_type, moment)
    while deadline(period, rules) > moment:
        period = period.previous()
    return period
