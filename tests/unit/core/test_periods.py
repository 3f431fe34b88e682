"""Periods: their five forms, local bounds, ISO weeks, deadlines, locks and the due window."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.settings import RULES

from baocao.core.models import LOCAL_TIMEZONE
from baocao.core.periods import (
    REPORT_TYPES,
    Period,
    PeriodError,
    ReportType,
    deadline,
    locks_at,
    parse_period,
    period_containing,
    periods_due,
)
from baocao.core.settings import DeadlineSettings


def local(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=LOCAL_TIMEZONE)


@pytest.mark.parametrize(
    ("text", "report_type", "starts", "ends"),
    [
        ("2025-08-15", "daily", local(2025, 8, 15), local(2025, 8, 16)),
        ("2025-12-31", "daily", local(2025, 12, 31), local(2026, 1, 1)),
        ("2024-02-29", "daily", local(2024, 2, 29), local(2024, 3, 1)),
        ("2025-W31", "weekly", local(2025, 7, 28), local(2025, 8, 4)),
        # ISO week-years: week 1 of 2025 starts in December 2024 ...
        ("2025-W01", "weekly", local(2024, 12, 30), local(2025, 1, 6)),
        # ... and 2020 has a 53rd week that ends in January 2021.
        ("2020-W53", "weekly", local(2020, 12, 28), local(2021, 1, 4)),
        ("2026-W53", "weekly", local(2026, 12, 28), local(2027, 1, 4)),
        ("2025-08", "monthly", local(2025, 8, 1), local(2025, 9, 1)),
        ("2025-12", "monthly", local(2025, 12, 1), local(2026, 1, 1)),
        ("2025-Q1", "quarterly", local(2025, 1, 1), local(2025, 4, 1)),
        ("2025-Q4", "quarterly", local(2025, 10, 1), local(2026, 1, 1)),
        ("2025", "yearly", local(2025, 1, 1), local(2026, 1, 1)),
    ],
)
def test_every_form_parses_to_its_local_bounds(
    text: str, report_type: str, starts: datetime, ends: datetime
) -> None:
    period = parse_period(text)

    assert period == Period(ReportType(report_type), text, starts, ends)
    assert period.starts_at.utcoffset() == timedelta(hours=7)
    assert str(period) == text


@pytest.mark.parametrize(
    "text",
    [
        "2025-13",
        "2025-8",
        "2025-00",
        "2025-02-30",
        "2025-W00",
        "2025-W53",  # 2025 has 52 ISO weeks
        "2025-W54",
        "2025-w31",
        "2025-Q0",
        "2025-Q5",
        "1999",
        "2100",
        "25",
        "2025-08-15T00:00",
        " 2025-08",
        "",
        "08/2025",
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(PeriodError):
        parse_period(text)


def test_a_period_that_is_no_string_is_refused() -> None:
    with pytest.raises(PeriodError, match="must be a string"):
        parse_period(202508)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "previous", "following"),
    [
        ("2025-01-01", "2024-12-31", "2025-01-02"),
        ("2024-03-01", "2024-02-29", "2024-03-02"),
        ("2025-W01", "2024-W52", "2025-W02"),
        ("2021-W01", "2020-W53", "2021-W02"),
        ("2020-W53", "2020-W52", "2021-W01"),
        ("2025-01", "2024-12", "2025-02"),
        ("2025-Q1", "2024-Q4", "2025-Q2"),
        ("2025", "2024", "2026"),
    ],
)
def test_previous_and_next_stay_in_the_report_type(
    text: str, previous: str, following: str
) -> None:
    period = parse_period(text)

    assert period.previous() == parse_period(previous)
    assert period.next() == parse_period(following)
    assert period.previous().ends_at == period.starts_at


@pytest.mark.parametrize(
    ("report_type", "instant", "text"),
    [
        # 2025-08-31 17:30 UTC is already 1 September in Vietnam.
        ("daily", datetime(2025, 8, 31, 17, 30, tzinfo=UTC), "2025-09-01"),
        ("monthly", datetime(2025, 8, 31, 16, 59, 59, tzinfo=UTC), "2025-08"),
        ("monthly", datetime(2025, 8, 31, 17, 0, tzinfo=UTC), "2025-09"),
        ("weekly", local(2024, 12, 31, 12), "2025-W01"),
        ("weekly", local(2021, 1, 3, 23, 59), "2020-W53"),
        ("quarterly", local(2025, 9, 30, 23), "2025-Q3"),
        ("yearly", local(2025, 12, 31, 23, 59), "2025"),
    ],
)
def test_the_period_containing_an_instant_is_found_in_local_time(
    report_type: str, instant: datetime, text: str
) -> None:
    period = period_containing(report_type, instant)

    assert period.text == text
    assert period.contains(instant)


def test_period_containing_needs_an_aware_instant() -> None:
    with pytest.raises(ValueError, match="aware"):
        period_containing("daily", datetime(2025, 1, 1))


@pytest.mark.parametrize(
    ("text", "due", "locked"),
    [
        # due by the end of day N after the period ends (last millisecond, local time)
        (
            "2025-08-15",
            local(2025, 8, 16, 23, 59, 59, 999000),
            local(2025, 9, 15, 23, 59, 59, 999000),
        ),
        ("2025-W31", local(2025, 8, 5, 23, 59, 59, 999000), local(2025, 9, 4, 23, 59, 59, 999000)),
        ("2025-08", local(2025, 9, 5, 23, 59, 59, 999000), local(2025, 10, 5, 23, 59, 59, 999000)),
        (
            "2025-Q3",
            local(2025, 10, 10, 23, 59, 59, 999000),
            local(2025, 11, 9, 23, 59, 59, 999000),
        ),
        ("2025", local(2026, 1, 15, 23, 59, 59, 999000), local(2026, 2, 14, 23, 59, 59, 999000)),
    ],
)
def test_default_deadlines_and_locks(text: str, due: datetime, locked: datetime) -> None:
    period = parse_period(text)

    assert deadline(period, RULES) == due
    assert locks_at(period, RULES) == locked


def test_deadlines_follow_the_rules() -> None:
    rules = DeadlineSettings(monthly_days=0, lock_days=0)
    period = parse_period("2025-08")

    assert deadline(period, rules) == local(2025, 8, 31, 23, 59, 59, 999000)
    assert locks_at(period, rules) == deadline(period, rules)


def _texts(periods: list[Period], report_type: str) -> list[str]:
    return [p.text for p in periods if p.report_type == report_type]


def test_periods_due_from_the_horizon_before_the_deadline_until_the_lock() -> None:
    now = local(2026, 11, 26, 21, 0)  # window of deadlines: 2026-10-24 18:00 .. 2026-11-29 21:00

    due = periods_due(now, RULES)

    assert _texts(due, "monthly") == ["2026-10"]  # due 2026-11-05; 2026-09 due 10-05 too old
    assert _texts(due, "quarterly") == []  # 2026-Q3 was due 10-10, 2026-Q4 is due in January
    assert _texts(due, "yearly") == []
    assert _texts(due, "weekly") == ["2026-W43", "2026-W44", "2026-W45", "2026-W46", "2026-W47"]
    daily = _texts(due, "daily")
    assert daily[0] == "2026-10-23"  # due 10-24 23:59:59.999, inside the window
    assert daily[-1] == "2026-11-27"  # due 11-28 23:59:59.999, within the 72 h horizon
    assert len(daily) == len(set(daily)) == 36
    assert [p.report_type for p in due] == sorted(
        (p.report_type for p in due), key=REPORT_TYPES.index
    )


def test_periods_due_include_a_deadline_exactly_at_either_end() -> None:
    period = parse_period("2025-08")
    due = deadline(period, RULES)
    horizon = timedelta(hours=RULES.alert_horizon_hours)

    assert period in periods_due(due - horizon, RULES, (ReportType.MONTHLY,))
    assert period not in periods_due(due - horizon - timedelta(milliseconds=1), RULES)
    assert period in periods_due(due + timedelta(days=30) + horizon, RULES)
    assert period not in periods_due(
        due + timedelta(days=30) + horizon + timedelta(seconds=1), RULES
    )


def test_periods_due_need_an_aware_instant() -> None:
    with pytest.raises(ValueError, match="aware"):
        periods_due(datetime(2025, 1, 1), RULES)


@settings(max_examples=300, deadline=None)
@given(
    day=st.dates(min_value=date(2000, 1, 8), max_value=date(2099, 12, 20)),
    report_type=st.sampled_from(REPORT_TYPES),
)
def test_every_day_belongs_to_one_period_that_parses_back(
    day: date, report_type: ReportType
) -> None:
    instant = local(day.year, day.month, day.day, 12)
    period = period_containing(report_type, instant)

    assert parse_period(period.text) == period
    assert period.contains(instant)
    assert period.next().previous() == period
    assert period.starts_at < period.ends_at
    assert deadline(period, RULES) >= period.ends_at - timedelta(milliseconds=1)


@settings(max_examples=200, deadline=None)
@given(
    now=st.datetimes(
        min_value=datetime(2001, 1, 1), max_value=datetime(2098, 1, 1), timezones=st.just(UTC)
    )
)
def test_periods_due_are_exactly_the_deadlines_in_the_window(now: datetime) -> None:
    horizon = timedelta(hours=RULES.alert_horizon_hours)
    low, high = now - timedelta(days=RULES.lock_days) - horizon, now + horizon

    due = periods_due(now, RULES)

    assert all(low <= deadline(p, RULES) <= high for p in due)
    for report_type in REPORT_TYPES:
        mine = [p for p in due if p.report_type == report_type]
        # no gap and nothing missed on either side
        assert all(a.next() == b for a, b in itertools.pairwise(mine))
        if mine:
            assert deadline(mine[0].previous(), RULES) < low
            assert deadline(mine[-1].next(), RULES) > high
