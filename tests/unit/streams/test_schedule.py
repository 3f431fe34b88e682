"""The schedule: periods announced and missing reports chased from the clock alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kafka.partitioner.default import DefaultPartitioner

from baocao.core.avro import codec_for
from baocao.core.periods import deadline, locks_at, parse_period, periods_due
from baocao.core.reference import load_reference
from baocao.core.settings import DeadlineSettings
from baocao.core.topics import Topics
from baocao.streams.schedule import Schedule, Tick, province_partition

REFERENCE = load_reference()
TOPICS = Topics("unit")
RULES = DeadlineSettings(lock_days=30, alert_horizon_hours=72)
EVERY_TYPE_CHASED = RULES.model_copy(
    update={"chased_report_types": "daily,weekly,monthly,quarterly,yearly"}
)
HANOI = "01"
HANOI_COMMUNES = REFERENCE.communes_by_province[HANOI]
AUGUST = parse_period("2025-08")
#: 2025-08 is due 2025-09-05 23:59:59.999 (UTC+7).
DUE = deadline(AUGUST, RULES)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def schedule(now: datetime, rules: DeadlineSettings = RULES) -> tuple[Schedule, Clock]:
    clock = Clock(now)
    return Schedule(topics=TOPICS, reference=REFERENCE, deadlines=rules, clock=clock), clock


def alerts(tick: Tick) -> dict[str, dict[str, Any]]:
    codec = codec_for("missing_reports_alert.v1")
    found = {}
    for output in tick.outputs:
        if output.topic == TOPICS.missing_report_alerts:
            payload = codec.decode(output.value)
            assert output.key == payload["province_code"]
            found[payload["alert_id"]] = payload
    return found


def announcements(tick: Tick) -> dict[str, dict[str, Any]]:
    codec = codec_for("reporting_period.v1")
    return {
        o.key: codec.decode(o.value) for o in tick.outputs if o.topic == TOPICS.reporting_periods
    }


class _Cluster:
    """The two calls kafka-python's partitioner makes on its cluster metadata."""

    def __init__(self, partitions: int) -> None:
        self.partitions = set(range(partitions))

    def topics(self) -> set[str]:
        return {"t"}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return self.partitions

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return self.partitions


@pytest.mark.parametrize("partitions", [1, 3, 4, 12])
def test_a_province_s_partition_is_the_one_kafka_python_producers_choose(partitions: int) -> None:
    partitioner = DefaultPartitioner()
    cluster = _Cluster(partitions)
    for province in REFERENCE.provinces:
        key = province.encode()
        chosen = partitioner.partition("t", province, key, None, None, cluster)
        assert province_partition(province, partitions) == chosen


def test_provinces_of_owned_partitions() -> None:
    plan, _ = schedule(DUE)

    owned = plan.provinces_of({0, 2}, partition_count=4)

    assert owned == [p for p in REFERENCE.provinces if province_partition(p, 4) in {0, 2}]
    assert 0 < len(owned) < len(REFERENCE.provinces)
    assert plan.provinces_of({0, 1, 2, 3}, partition_count=4) == list(REFERENCE.provinces)


def test_due_periods_are_announced_once_per_process() -> None:
    now = DUE - timedelta(hours=1)
    plan, _ = schedule(now)

    first = plan.plan([], {})
    plan.done(first)
    second = plan.plan([], {})

    announced = announcements(first)
    assert set(announced) == {f"{p.report_type}|{p.text}" for p in periods_due(now, RULES)}
    assert announced["monthly|2025-08"] == {
        "report_type": "monthly",
        "period": "2025-08",
        "starts_at": AUGUST.starts_at,
        "ends_at": AUGUST.ends_at,
        "deadline": DUE,
        "locks_at": locks_at(AUGUST, RULES),
        "announced_at": now,
    }
    assert announcements(second) == {}


def test_an_announcement_not_marked_done_is_made_again() -> None:
    plan, _ = schedule(DUE)

    first = plan.plan([], {})  # delivery failed: done() never called
    again = plan.plan([], {})

    assert announcements(again) == announcements(first) != {}


def test_missing_communes_are_alerted_as_the_deadline_approaches_then_once_overdue() -> None:
    plan, clock = schedule(DUE - timedelta(hours=72))  # the start of the horizon
    latest = {f"{c}|2025-08": {"revision": 1} for c in HANOI_COMMUNES[:3]}

    approaching = plan.plan([HANOI], latest)
    plan.done(approaching)

    alert = alerts(approaching)[f"{HANOI}|monthly|2025-08|approaching"]
    assert alert == {
        "alert_id": f"{HANOI}|monthly|2025-08|approaching",
        "province_code": HANOI,
        "report_type": "monthly",
        "period": "2025-08",
        "deadline": DUE,
        "phase": "approaching",
        "commune_codes": list(HANOI_COMMUNES[3:]),
        "communes_expected": len(HANOI_COMMUNES),
        "generated_at": DUE - timedelta(hours=72),
    }

    clock.now = DUE - timedelta(hours=1)
    latest.update({f"{c}|2025-08": {"revision": 1} for c in HANOI_COMMUNES[3:5]})
    assert "01|monthly|2025-08|approaching" not in alerts(plan.plan([HANOI], latest))

    clock.now = DUE + timedelta(milliseconds=1)
    overdue = plan.plan([HANOI], latest)

    assert alerts(overdue)[f"{HANOI}|monthly|2025-08|overdue"]["commune_codes"] == list(
        HANOI_COMMUNES[5:]
    )


def test_no_alert_before_the_horizon_when_everybody_reported_or_after_the_lock() -> None:
    everybody: dict[str, Any] = {f"{c}|2025-08": {} for c in HANOI_COMMUNES}

    early, _ = schedule(DUE - timedelta(hours=72, milliseconds=1))
    assert not any("|2025-08|" in a for a in alerts(early.plan([HANOI], {})))

    complete, _ = schedule(DUE + timedelta(days=1))
    assert not any("|2025-08|" in a for a in alerts(complete.plan([HANOI], everybody)))

    locked, _ = schedule(locks_at(AUGUST, RULES) + timedelta(milliseconds=1))
    assert not any("|2025-08|" in a for a in alerts(locked.plan([HANOI], {})))


def test_only_the_provinces_given_are_checked() -> None:
    plan, _ = schedule(DUE, EVERY_TYPE_CHASED)

    tick = plan.plan([HANOI], {})

    assert {a["province_code"] for a in alerts(tick).values()} == {HANOI}
    # every type due at that time: daily and weekly periods as well as the month
    assert {a["report_type"] for a in alerts(tick).values()} == {"daily", "weekly", "monthly"}


def test_only_the_chased_report_types_are_alerted_but_every_type_is_announced() -> None:
    plan, _ = schedule(DUE)  # the default: monthly, quarterly and yearly are chased

    tick = plan.plan([HANOI], {})

    assert {a["report_type"] for a in alerts(tick).values()} == {"monthly"}
    # (no quarter or year is due in early September)
    assert {a["report_type"] for a in announcements(tick).values()} == {
        "daily",
        "weekly",
        "monthly",
    }


def test_the_clock_decides_not_the_wall_clock() -> None:
    plan, _ = schedule(datetime(2031, 1, 13, 12, tzinfo=UTC))

    tick = plan.plan([], {})

    assert "yearly|2030" in announcements(tick)
    assert all(p["period"].startswith(("2030", "2031")) for p in announcements(tick).values())


def _drain(plan: Schedule, provinces: list[str], latest: dict[str, Any]) -> list[Tick]:
    """Ticks at one moment until one has nothing left to do (each marked done)."""
    ticks: list[Tick] = []
    while True:
        tick = plan.plan(provinces, latest)
        plan.done(tick)
        if not tick.outputs and tick.budget == RULES_LONG_BUDGETED.schedule_max_per_tick:
            return ticks
        ticks.append(tick)
        assert len(ticks) < 10_000


RULES_LONG = DeadlineSettings(
    lock_days=365,
    alert_horizon_hours=72,
    chased_report_types="daily,weekly,monthly,quarterly,yearly",
    schedule_max_per_tick=100_000,
)
RULES_LONG_BUDGETED = RULES_LONG.model_copy(update={"schedule_max_per_tick": 40})


def test_a_small_budget_spreads_the_same_records_over_more_ticks() -> None:
    provinces = [HANOI, "79"]
    latest: dict[str, Any] = {f"{c}|2025-08": {} for c in HANOI_COMMUNES[:3]}
    whole, _ = schedule(DUE, RULES_LONG)
    at_once = whole.plan(provinces, latest)
    budgeted, _ = schedule(DUE, RULES_LONG_BUDGETED)

    ticks = _drain(budgeted, provinces, latest)

    spread = [o for t in ticks for o in t.outputs]
    assert sorted((o.topic, o.key, o.value) for o in spread) == sorted(
        (o.topic, o.key, o.value) for o in at_once.outputs
    )
    assert len(ticks) > 20  # 365 days of daily periods and more, 40 at a time
    assert all(t.budget >= 0 for t in ticks)
    assert set(announcements(at_once)) == {
        f"{p.report_type}|{p.text}" for p in periods_due(DUE, RULES_LONG)
    }


def test_the_newest_periods_come_first_whatever_the_window() -> None:
    rules = RULES_LONG_BUDGETED.model_copy(
        update={"chased_report_types": "monthly,quarterly,yearly"}
    )
    plan, _ = schedule(DUE - timedelta(hours=1), rules)

    first = plan.plan([HANOI], {})

    assert f"{HANOI}|monthly|2025-08|approaching" in alerts(first)
    assert "monthly|2025-08" in announcements(first)
    assert "daily|2025-09-06" in announcements(first)  # due 09-07, the newest in the horizon


def test_the_schedule_remembers_one_sweep_per_type_province_and_phase() -> None:
    rules = RULES_LONG.model_copy(update={"lock_days": 100_000, "schedule_max_per_tick": 300})
    plan, clock = schedule(DUE, rules)

    for hour in range(30):
        clock.now = DUE + timedelta(hours=hour)
        plan.done(plan.plan([HANOI], {}))

    assert len(plan._sweeps) <= 5 + 5 * 2  # announcements per type; alerts per type and phase


def test_a_worker_down_past_the_window_starts_its_sweeps_afresh() -> None:
    plan, clock = schedule(DUE - timedelta(hours=1))
    plan.done(plan.plan([HANOI], {}))

    clock.now = DUE + timedelta(days=400)  # everything seen before has locked
    later = plan.plan([HANOI], {})

    assert not any("2025-08" in key for key in announcements(later))
    assert not any("|2025-08|" in a for a in alerts(later))
    assert announcements(later)  # the periods due now


def test_a_unit_without_an_obligation_is_never_alerted_as_missing() -> None:
    """Đặc khu Hoàng Sa has no administration on site: Đà Nẵng's alerts leave it out."""
    da_nang = REFERENCE.communes_by_province["48"]
    (hoang_sa,) = (c for c in da_nang if REFERENCE.communes[c].name == "Đặc khu Hoàng Sa")
    plan, _ = schedule(DUE + timedelta(milliseconds=1))
    latest = {f"{c}|2025-08": {"revision": 1} for c in da_nang[:5] if c != hoang_sa}
    alert = alerts(plan.plan(["48"], latest))["48|monthly|2025-08|overdue"]
    due = [c for c in da_nang if c != hoang_sa]
    assert alert["communes_expected"] == len(due) == len(da_nang) - 1
    assert alert["commune_codes"] == [c for c in due if f"{c}|2025-08" not in latest]
    assert hoang_sa not in alert["commune_codes"]

    # With everyone else reported, Đà Nẵng has no missing commune left.
    latest = {f"{c}|2025-08": {"revision": 1} for c in due}
    assert "48|monthly|2025-08|overdue" not in alerts(plan.plan(["48"], latest))
