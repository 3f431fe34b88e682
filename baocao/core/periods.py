"""Reporting periods: their five written forms, their bounds in local time, their deadlines.

A report's type follows from how its period is written (the optional ``report_type`` of
Avro ``commune_report.v2`` must agree with it)::

    2025-08-15   daily      the day
    2025-W31     weekly     the ISO 8601 week (Monday to Sunday; week-years, so 2025-W01
                            starts on Monday 30 December 2024)
    2025-08      monthly    the month
    2025-Q3      quarterly  the quarter
    2025         yearly     the year

Every bound is an aware datetime in Vietnam's time (Asia/Ho_Chi_Minh, a fixed UTC+7 since
1975). ``ends_at`` is exclusive: the instant the next period starts.

A period's deadline is the end of day N counted from the day after the period ends (N per
report type, from :class:`~baocao.core.settings.DeadlineSettings`): a monthly report on August
(N=5) is due by the end of 5 September, that is at 2025-09-05 23:59:59.999 local. A
submission at or before that millisecond is on time. Revisions lock ``lock_days`` after the
deadline, at the same time of day.

Everything here is pure: the stream, the producers, the gateway and the tests share it, and
only this module knows the calendar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Protocol

from baocao.core.instants import MILLISECOND
from baocao.core.models import LOCAL_TIMEZONE

__all__ = [
    "PERIOD_FORMS",
    "REPORT_TYPES",
    "DeadlineRules",
    "Period",
    "PeriodError",
    "ReportType",
    "deadline",
    "locks_at",
    "parse_period",
    "period_containing",
    "periods_due",
]


class ReportType(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


#: From the shortest period to the longest.
REPORT_TYPES: tuple[ReportType, ...] = tuple(ReportType)

#: The accepted forms, as people read them (messages of ``invalid_period``, CLI help).
PERIOD_FORMS = (
    "YYYY-MM-DD (daily), YYYY-Www (weekly, ISO week), YYYY-MM (monthly), "
    "YYYY-Qn (quarterly) or YYYY (yearly)"
)


_YEAR = r"(?P<year>20\d\d)"
_FORMS: tuple[tuple[ReportType, re.Pattern[str]], ...] = (
    (
        ReportType.DAILY,
        re.compile(rf"^{_YEAR}-(?P<month>0[1-9]|1[0-2])-(?P<day>0[1-9]|[12]\d|3[01])$"),
    ),
    (ReportType.WEEKLY, re.compile(rf"^{_YEAR}-W(?P<week>0[1-9]|[1-4]\d|5[0-3])$")),
    (ReportType.MONTHLY, re.compile(rf"^{_YEAR}-(?P<month>0[1-9]|1[0-2])$")),
    (ReportType.QUARTERLY, re.compile(rf"^{_YEAR}-Q(?P<quarter>[1-4])$")),
    (ReportType.YEARLY, re.compile(rf"^{_YEAR}$")),
)


class PeriodError(ValueError):
    """Text that is not a period in any of the accepted forms (or not a real date)."""


class DeadlineRules(Protocol):
    """What deadlines need from :class:`~baocao.core.settings.DeadlineSettings`."""

    @property
    def daily_days(self) -> int: ...
    @property
    def weekly_days(self) -> int: ...
    @property
    def monthly_days(self) -> int: ...
    @property
    def quarterly_days(self) -> int: ...
    @property
    def yearly_days(self) -> int: ...
    @property
    def lock_days(self) -> int: ...
    @property
    def alert_horizon_hours(self) -> float: ...


def _local_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL_TIMEZONE)


def _add_months(day: date, months: int) -> date:
    """The first of the month ``months`` after ``day``'s month (``day`` is a first)."""
    index = day.year * 12 + (day.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True, slots=True)
class Period:
    """One reporting period: its type, its canonical text and its local bounds."""

    report_type: ReportType
    text: str
    #: First instant of the period (local midnight).
    starts_at: datetime
    #: First instant after the period (exclusive).
    ends_at: datetime

    def __str__(self) -> str:
        return self.text

    def previous(self) -> Period:
        """The period of the same type just before this one."""
        return period_containing(self.report_type, self.starts_at - MILLISECOND)

    def next(self) -> Period:
        """The period of the same type just after this one."""
        return period_containing(self.report_type, self.ends_at)

    def contains(self, instant: datetime) -> bool:
        return self.starts_at <= instant < self.ends_at


def _period_of_day(report_type: ReportType, day: date) -> Period:
    """The period of ``report_type`` that contains local calendar day ``day``."""
    if report_type is ReportType.DAILY:
        start, end, text = day, day + timedelta(days=1), day.isoformat()
    elif report_type is ReportType.WEEKLY:
        year, week, weekday = day.isocalendar()
        start = day - timedelta(days=weekday - 1)
        end, text = start + timedelta(days=7), f"{year:04d}-W{week:02d}"
    elif report_type is ReportType.MONTHLY:
        start = day.replace(day=1)
        end, text = _add_months(start, 1), f"{day.year:04d}-{day.month:02d}"
    elif report_type is ReportType.QUARTERLY:
        quarter = (day.month - 1) // 3 + 1
        start = date(day.year, 3 * quarter - 2, 1)
        end, text = _add_months(start, 3), f"{day.year:04d}-Q{quarter}"
    else:
        start, end, text = date(day.year, 1, 1), date(day.year + 1, 1, 1), f"{day.year:04d}"
    return Period(report_type, text, _local_midnight(start), _local_midnight(end))


def period_containing(report_type: ReportType | str, instant: datetime) -> Period:
    """The period of ``report_type`` in which ``instant`` (aware) falls, in local time."""
    if instant.tzinfo is None:
        raise ValueError("period_containing needs an aware datetime")
    return _period_of_day(ReportType(report_type), instant.astimezone(LOCAL_TIMEZONE).date())


def parse_period(text: str) -> Period:
    """The period written ``text`` in one of the :data:`PERIOD_FORMS`.

    Raises :class:`PeriodError` for anything else, including dates that do not exist
    (``2025-02-30``) and week 53 of a year that has 52 ISO weeks (``2025-W53``).
    """
    if not isinstance(text, str):
        raise PeriodError(f"a period must be a string, not {type(text).__name__}")
    return _parse(text)


@lru_cache(maxsize=4096)
def _parse(text: str) -> Period:
    """Cached: a stream sees the same few periods over and over, and a Period is immutable."""
    for report_type, pattern in _FORMS:
        match = pattern.match(text)
        if match is None:
            continue
        year = int(match["year"])
        try:
            if report_type is ReportType.DAILY:
                day = date(year, int(match["month"]), int(match["day"]))
            elif report_type is ReportType.WEEKLY:
                day = date.fromisocalendar(year, int(match["week"]), 1)
            elif report_type is ReportType.MONTHLY:
                day = date(year, int(match["month"]), 1)
            elif report_type is ReportType.QUARTERLY:
                day = date(year, 3 * int(match["quarter"]) - 2, 1)
            else:
                day = date(year, 1, 1)
        except ValueError as exc:
            raise PeriodError(f"{text!r} is not a real {report_type} period: {exc}") from exc
        period = _period_of_day(report_type, day)
        assert period.text == text, (period.text, text)
        return period
    raise PeriodError(f"{text!r} is not a period; expected {PERIOD_FORMS}")


def _days_after(report_type: ReportType, rules: DeadlineRules) -> int:
    return {
        ReportType.DAILY: rules.daily_days,
        ReportType.WEEKLY: rules.weekly_days,
        ReportType.MONTHLY: rules.monthly_days,
        ReportType.QUARTERLY: rules.quarterly_days,
        ReportType.YEARLY: rules.yearly_days,
    }[report_type]


def deadline(period: Period, rules: DeadlineRules) -> datetime:
    """The last millisecond at which a report on ``period`` is on time (local time)."""
    return period.ends_at + timedelta(days=_days_after(period.report_type, rules)) - MILLISECOND


def locks_at(period: Period, rules: DeadlineRules) -> datetime:
    """The last millisecond at which a revision of ``period`` is still accepted."""
    return deadline(period, rules) + timedelta(days=rules.lock_days)


def periods_due(
    now: datetime,
    rules: DeadlineRules,
    report_types: tuple[ReportType, ...] | None = None,
) -> list[Period]:
    """The periods whose deadline lies in ``[now - (lock + horizon), now + horizon]``.

    These are the periods the worker announces and chases missing reports for: from the
    alert horizon before their deadline until their lock (plus one horizon of slack, so a
    worker that was down for a while still announces the periods it missed). Ordered by
    report type, then oldest first.
    """
    if now.tzinfo is None:
        raise ValueError("periods_due needs an aware datetime")
    horizon = timedelta(hours=rules.alert_horizon_hours)
    earliest = now - timedelta(days=rules.lock_days) - horizon
    latest = now + horizon
    due: list[Period] = []
    for report_type in report_types or REPORT_TYPES:
        # Deadlines grow with the period, and every period ending after ``latest`` has its
        # deadline after it: walk back from the period containing ``latest``.
        period = period_containing(report_type, latest)
        found: list[Period] = []
        while (cutoff := deadline(period, rules)) >= earliest:
            if cutoff <= latest:
                found.append(period)
            period = period.previous()
        due.extend(reversed(found))
    return due
