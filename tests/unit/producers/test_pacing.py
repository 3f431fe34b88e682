"""Steady pacing of the simulator."""

from __future__ import annotations

import pytest
from support.clock import FakeTime

from baocao.producers.pacing import Pacer


def test_calls_are_spaced_evenly() -> None:
    time = FakeTime()
    pacer = Pacer(4.0, clock=time.clock, sleep=time.sleep)
    for _ in range(5):
        pacer.wait()
    assert time.sleeps == [0.25, 0.25, 0.25, 0.25]
    assert time.now == pytest.approx(101.0)


def test_time_spent_between_calls_is_not_added_to_the_spacing() -> None:
    time = FakeTime()
    pacer = Pacer(10.0, clock=time.clock, sleep=time.sleep)
    pacer.wait()
    time.now += 0.04  # the loop body took 40 ms
    pacer.wait()
    assert time.sleeps == [0.06]


def test_a_long_stall_restarts_the_schedule_instead_of_bursting() -> None:
    time = FakeTime()
    pacer = Pacer(10.0, max_lag=1.0, clock=time.clock, sleep=time.sleep)
    pacer.wait()
    time.now += 5.0
    pacer.wait()  # 4.9 s late: no sleep, schedule restarts
    pacer.wait()
    pacer.wait()
    assert time.sleeps == [0.1, 0.1]


def test_rate_zero_never_sleeps() -> None:
    time = FakeTime()
    pacer = Pacer(0, clock=time.clock, sleep=time.sleep)
    for _ in range(1000):
        pacer.wait()
    assert time.sleeps == []
