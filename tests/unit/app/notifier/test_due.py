"""What is due when: reminders from N days before a deadline, overdue notices and daily
digests for the follow-up days after it, nothing for a commune that reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from support.settings import RULES

from baocao.app.notifier.due import PeriodStatus, Watched, decide, watched_periods
from baocao.core.periods import deadline, parse_period

AUGUST = parse_period("2025-08")
#: 2025-09-05 23:59:59.999 in Vietnam.
DUE = deadline(AUGUST, RULES)
WATCHED = Watched(AUGUST, DUE, reminder_days=3)


def status(reported: dict[str, datetime]) -> PeriodStatus:
    return PeriodStatus(WATCHED, "12", ("00001", "00002", "00003"), reported)


def test_the_periods_watched_run_from_the_reminder_lead_to_the_follow_up() -> None:
    def watched(now: datetime) -> list[str]:
        return [w.period.text for w in watched_periods(now, {"monthly": 3}, 7, RULES)]

    assert watched(DUE - timedelta(days=3, seconds=1)) == []
    assert watched(DUE - timedelta(days=3)) == ["2025-08"]
    assert watched(DUE + timedelta(days=7)) == ["2025-08"]
    assert watched(DUE + timedelta(days=7, seconds=1)) == []
    both = watched_periods(DUE, {"monthly": 3, "quarterly": 5}, 7, RULES)
    assert [(w.period.text, w.reminder_days) for w in both] == [("2025-08", 3)]


def test_before_the_lead_nothing_from_it_a_reminder_to_each_silent_commune() -> None:
    silent_but_one = status({"00002": DUE - timedelta(days=4)})
    assert decide(DUE - timedelta(days=3, seconds=1), [silent_but_one], 7) == []
    notices = decide(DUE - timedelta(hours=48), [silent_but_one], 7)
    assert [(n.kind, n.subject, n.period) for n in notices] == [
        ("reminder", "00001", "2025-08"),
        ("reminder", "00003", "2025-08"),
    ]
    assert {n.deadline for n in notices} == {DUE}


def test_after_the_deadline_overdue_notices_and_one_digest_a_day() -> None:
    late = DUE + timedelta(minutes=5)
    current = status({"00002": late})
    notices = decide(DUE + timedelta(hours=1), [current], 7)
    assert [(n.kind, n.subject) for n in notices] == [
        ("overdue", "00001"),
        ("overdue", "00003"),
        ("digest", "12"),
    ]
    digest = notices[-1]
    assert (digest.missing, digest.late) == (("00001", "00003"), ("00002",))
    # 2025-09-06 00:59:59 in Vietnam: the digest's day is the local one.
    assert digest.day == "2025-09-06"
    next_day = decide(DUE + timedelta(days=1, hours=1), [current], 7)[-1]
    assert next_day.day == "2025-09-07"
    assert decide(DUE + timedelta(days=7, seconds=1), [current], 7) == []


def test_every_commune_on_time_means_no_digest_at_all() -> None:
    on_time = DUE - timedelta(days=1)
    everyone = status({c: on_time for c in ("00001", "00002", "00003")})
    assert decide(DUE + timedelta(hours=1), [everyone], 7) == []


def test_late_only_still_digests_for_the_officers() -> None:
    late = DUE + timedelta(hours=2)
    everyone_late = status({c: late for c in ("00001", "00002", "00003")})
    (digest,) = decide(DUE + timedelta(hours=3), [everyone_late], 7)
    assert (digest.kind, digest.missing, digest.late) == (
        "digest",
        (),
        ("00001", "00002", "00003"),
    )


def test_the_deadline_millisecond_is_still_a_reminder() -> None:
    notices = decide(DUE, [status({})], 7)
    assert {n.kind for n in notices} == {"reminder"}
    assert DUE.astimezone(UTC) == datetime(2025, 9, 5, 16, 59, 59, 999000, tzinfo=UTC)
