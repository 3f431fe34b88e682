"""What is due, decided from the time, the deadlines and who has reported: pure functions
a unit test calls directly.

- a reminder to each silent commune from ``reminder_days`` before its deadline to the deadline;
- an overdue notice to each silent commune after the deadline, for ``follow_up_days``;
- a digest per province and local day in that same window, listing its missing and late
  communes (none when every commune reported on time).

Each :class:`Notice` is asked for again on every pass; the outbox keeps the first and drops
the repeats, which is what makes a notice go out once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from baocao.core.models import LOCAL_TIMEZONE
from baocao.core.periods import DeadlineRules, Period, ReportType, deadline, period_containing

__all__ = ["Kind", "Notice", "PeriodStatus", "Watched", "decide", "watched_periods"]

Kind = Literal["reminder", "overdue", "digest"]


@dataclass(frozen=True, slots=True)
class Watched:
    """A period the notifier watches, with its deadline and its type's reminder lead."""

    period: Period
    deadline: datetime
    reminder_days: int


@dataclass(frozen=True, slots=True)
class PeriodStatus:
    """One province's communes on one watched period."""

    watched: Watched
    province: str
    #: The communes that must report the period (exempt units left out).
    expected: tuple[str, ...]
    #: Commune -> when the server first received its report.
    reported: Mapping[str, datetime]

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(c for c in self.expected if c not in self.reported)

    @property
    def late(self) -> tuple[str, ...]:
        cutoff = self.watched.deadline
        return tuple(sorted(c for c, at in self.reported.items() if at > cutoff))


@dataclass(frozen=True, slots=True)
class Notice:
    """A message to send to the contacts of ``subject`` (a commune's clerks, or for a digest
    a province's officers)."""

    kind: Kind
    report_type: str
    period: str
    deadline: datetime
    province: str
    #: The commune a reminder or an overdue notice is about; the province of a digest.
    subject: str
    #: The local day of a digest (one a day); empty for the others.
    day: str = ""
    missing: tuple[str, ...] = ()
    late: tuple[str, ...] = ()


def watched_periods(
    now: datetime, reminder_days: Mapping[str, int], follow_up_days: int, rules: DeadlineRules
) -> list[Watched]:
    """Periods whose deadline lies in ``[now - follow_up_days, now + reminder days]``, per
    report type that has reminder days, oldest first."""
    watched: list[Watched] = []
    for name, days in reminder_days.items():
        earliest = now - timedelta(days=follow_up_days)
        period = period_containing(ReportType(name), now + timedelta(days=days))
        found: list[Watched] = []
        while (cutoff := deadline(period, rules)) >= earliest:
            if cutoff - timedelta(days=days) <= now:
                found.append(Watched(period, cutoff, days))
            period = period.previous()
        watched.extend(reversed(found))
    return watched


def decide(now: datetime, statuses: Iterable[PeriodStatus], follow_up_days: int) -> list[Notice]:
    """The notices due at ``now`` for ``statuses``."""
    notices: list[Notice] = []
    for status in statuses:
        cutoff = status.watched.deadline
        if now <= cutoff:
            if now >= cutoff - timedelta(days=status.watched.reminder_days):
                notices += [_notice("reminder", status, c) for c in status.missing]
            continue
        if now > cutoff + timedelta(days=follow_up_days):
            continue
        missing = status.missing
        notices += [_notice("overdue", status, c) for c in missing]
        if missing or status.late:
            day = now.astimezone(LOCAL_TIMEZONE).date().isoformat()
            notices.append(_notice("digest", status, status.province, day=day))
    return notices


def _notice(kind: Kind, status: PeriodStatus, subject: str, *, day: str = "") -> Notice:
    digest = kind == "digest"
    return Notice(
        kind,
        report_type=str(status.watched.period.report_type),
        period=status.watched.period.text,
        deadline=status.watched.deadline,
        province=status.province,
        subject=subject,
        day=day,
        missing=status.missing if digest else (),
        late=status.late if digest else (),
    )
