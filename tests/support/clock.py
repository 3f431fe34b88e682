"""A fake clock for code that takes ``clock`` and ``sleep`` callables (the simulator's pacer,
the run timer): sleeping advances the clock at once, so a test asserts the exact schedule and
elapsed time instead of measuring the wall clock."""

from __future__ import annotations

__all__ = ["FakeTime"]


class FakeTime:
    """``clock()`` and ``monotonic()`` read the fake time; ``sleep(s)`` records and advances."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    monotonic = clock

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds
