"""Steady pacing of a loop at a given rate, for load that looks like communes submitting.

The schedule is absolute (the n-th call is due ``n / rate`` seconds after the first), so small
delays of the loop body do not accumulate into a lower rate. A long stall (a full producer
buffer, a paused laptop) is not made up by a burst: after falling more than ``max_lag``
behind, the schedule restarts from now.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Pacer"]


class Pacer:
    """Call :meth:`wait` before each event; a rate of 0 (or less) means no pacing at all."""

    def __init__(
        self,
        rate: float,
        *,
        max_lag: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self._max_lag = max_lag
        self._clock = clock
        self._sleep = sleep
        self._start: float | None = None
        self._count = 0

    def wait(self) -> None:
        if self.rate <= 0:
            return
        now = self._clock()
        if self._start is None:
            self._start = now
        due = self._start + self._count / self.rate
        if due > now:
            self._sleep(due - now)
        elif now - due > self._max_lag:
            self._start = now - self._count / self.rate
        self._count += 1
