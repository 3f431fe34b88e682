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


def schedule(now: datetime) -> tuple[Schedule, Clock]:
    clock = Clock(now)
    return Schedule(topics=TOPICS, reference=REFERENCE, deadlines=RULES, clock=clock), clock


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
    plan, _ = schedule(DUE)

    tick = plan.plan([HANOI], {})

    assert {a["province_code"] for a in alerts(tick).values()} == {HANOI}
    # every type due at that time: daily and weekly periods as well as the month
    assert {a["report_type"] for a in alerts(tick).values()} == {"daily", "weekly", "monthly"}


def test_the_clock_decides_not_the_wall_clock() -> None:
    plan, _ = schedule(datetime(2031, 1, 13, 12, tzinfo=UTC))

    tick = plan.plan([], {})

    assert "yearly|2030" in announcements(tick)
    assert all(p["period"].startswith(("2030", "2031")) for p in announcements(tick).values())
