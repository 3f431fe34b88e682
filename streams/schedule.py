"""What the worker's clock says: periods communes owe a report on, and who has not reported.

Absence is no event: a commune that never reports sends nothing to react to. So a timer of
the worker asks :class:`Schedule` at every tick, with the time of the worker's clock:

* every period whose deadline lies in the window of :func:`~baocao.core.periods.periods_due`
  is announced once (``reporting_period.v1``): downstream then knows a period is expected
  before anybody reported on it;
* for every such period and every province this worker owns, the communes without an
  accepted report are listed in a ``missing_reports_alert.v1``: phase ``approaching`` from
  the alert horizon before the deadline, ``overdue`` after it, until the period locks. Each
  (province, type, period, phase) is checked once per process, when it first comes due;
  ``alert_id`` is stable, so an alert raised again by a restarted worker replaces itself
  downstream.

A province belongs to the worker that owns its partition of the input topic, computed as the
producers place the reports: kafka-python's murmur2 partitioner over the province code.
The schedule only *reads* the worker's ``latest`` table (no table write happens outside an
event), and what it marks as done is only marked after the records were delivered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kafka.partitioner.default import murmur2

from baocao.core.periods import Period, deadline, locks_at, periods_due
from baocao.core.reference import ReferenceData
from baocao.core.settings import DeadlineSettings
from baocao.core.topics import MISSING_REPORT_ALERTS, REPORTING_PERIODS, Topics
from baocao.streams.step import OutputRecord, latest_key

__all__ = [
    "MISSING_REPORTS_ALERT_SCHEMA",
    "REPORTING_PERIOD_SCHEMA",
    "Schedule",
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
    return (murmur2(province_code.encode("utf-8")) & 0x7FFFFFFF) % partitions


@dataclass
class Tick:
    """The records of one tick, and what to mark done once they are delivered."""

    now: datetime
    #: The periods due at ``now``.
    due: list[Period] = field(default_factory=list)
    outputs: list[OutputRecord] = field(default_factory=list)
    announced: set[str] = field(default_factory=set)
    checked: set[str] = field(default_factory=set)

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
    ) -> None:
        self._topics = topics
        self._reference = reference
        self._deadlines = deadlines
        self._clock = clock
        self._announced: set[str] = set()
        self._checked: set[str] = set()

    def provinces_of(self, partitions: Container[int], *, partition_count: int) -> list[str]:
        """The provinces whose reports land in one of ``partitions``."""
        return [
            code
            for code in self._reference.provinces
            if province_partition(code, partition_count) in partitions
        ]

    def start(self) -> Tick:
        """A new tick at the clock's time, with the announcements still to make."""
        now = self._clock()
        tick = Tick(now=now, due=periods_due(now, self._deadlines))
        for period in tick.due:
            key = f"{period.report_type}|{period.text}"
            if key in self._announced:
                continue
            tick.announced.add(key)
            tick.outputs.append(
                OutputRecord.of(
                    self._topics.reporting_periods,
                    key,
                    REPORTING_PERIOD_SCHEMA,
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
            )
        return tick

    def check_province(self, tick: Tick, province: str, latest: Mapping[str, Any]) -> None:
        """Add the alerts ``province`` is due at ``tick`` (reads ``latest`` only)."""
        horizon = timedelta(hours=self._deadlines.alert_horizon_hours)
        for period in tick.due:
            phase = _phase(period, tick.now, self._deadlines, horizon)
            if phase is None:
                continue
            alert_id = f"{province}|{period.report_type}|{period.text}|{phase}"
            if alert_id in self._checked:
                continue
            tick.checked.add(alert_id)
            communes = self._reference.communes_by_province.get(province, ())
            missing = [c for c in communes if latest_key(c, period.text) not in latest]
            if not missing:
                continue
            tick.outputs.append(
                OutputRecord.of(
                    self._topics.missing_report_alerts,
                    province,
                    MISSING_REPORTS_ALERT_SCHEMA,
                    {
                        "alert_id": alert_id,
                        "province_code": province,
                        "report_type": str(period.report_type),
                        "period": period.text,
                        "deadline": deadline(period, self._deadlines),
                        "phase": phase,
                        "commune_codes": missing,
                        "communes_expected": len(communes),
                        "generated_at": tick.now,
                    },
                )
            )

    def done(self, tick: Tick) -> None:
        """Mark a tick's announcements and checks done (after its records were delivered)."""
        self._announced |= tick.announced
        self._checked |= tick.checked

    def plan(self, provinces: Iterable[str], latest: Mapping[str, Any]) -> Tick:
        """A whole tick at once (tests; the worker interleaves provinces with other work)."""
        tick = self.start()
        for province in provinces:
            self.check_province(tick, province, latest)
        return tick


def _phase(
    period: Period, now: datetime, rules: DeadlineSettings, horizon: timedelta
) -> str | None:
    """``approaching`` within the horizon before the deadline, ``overdue`` until the lock."""
    due = deadline(period, rules)
    if now > locks_at(period, rules):
        return None
    if now > due:
        return "overdue"
    if now >= due - horizon:
        return "approaching"
    return None
