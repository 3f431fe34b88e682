"""How fast sign-ins may be tried: per client address, and per account with backoff.

Three limits, none of them a lockout (an attacker who could lock an account could lock
every clerk out on the eve of a deadline):

* per client address, a token bucket: one address cannot spray guesses over many accounts;
* per account *and* address, a backoff doubling after a few failures, up to minutes: a
  guesser from one address slows to a crawl, while the clerk on their own phone is not hit;
* per account over every address, a backoff capped at ``account_max_delay`` seconds (30 by
  default): guessing from many addresses slows too, yet the clerk can always try again
  within half a minute.

A success clears the account's counts; failures are forgotten after ``window`` seconds
without one. The counts live in the process (like the gateway's token buckets): with several
gateway processes each enforces them on its share of the requests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["SignInLimiter"]


@dataclass(slots=True)
class _Failures:
    count: int
    last: float


class SignInLimiter:
    def __init__(
        self,
        *,
        address_rate: float = 0.5,
        address_burst: int = 20,
        free_failures: int = 3,
        pair_max_delay: float = 300.0,
        account_free_failures: int = 20,
        account_max_delay: float = 30.0,
        window: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self._address_rate = address_rate
        self._address_burst = float(address_burst)
        self._free = free_failures
        self._pair_max = pair_max_delay
        self._account_free = account_free_failures
        self._account_max = account_max_delay
        self._window = window
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._failures: dict[tuple[str, str], _Failures] = {}
        self._lock = threading.Lock()

    def check(self, account: str, address: str) -> float:
        """0 when this attempt may be tried now (it takes one from the address's bucket),
        else the seconds to wait."""
        now = self._clock()
        with self._lock:
            waits = [
                self._delay(
                    self._failures.get((account, address)), now, self._free, self._pair_max
                ),
                self._delay(
                    self._failures.get((account, "")), now, self._account_free, self._account_max
                ),
            ]
            tokens, updated = self._buckets.get(address, (self._address_burst, now))
            tokens = min(self._address_burst, tokens + (now - updated) * self._address_rate)
            if tokens < 1.0:
                waits.append((1.0 - tokens) / self._address_rate)
            wait = max(waits)
            if wait <= 0:
                tokens -= 1.0
            if len(self._buckets) >= self._max_keys and address not in self._buckets:
                self._forget_old(now)
            self._buckets[address] = (tokens, now)
            return max(0.0, wait)

    def failed(self, account: str, address: str) -> None:
        now = self._clock()
        with self._lock:
            if len(self._failures) >= self._max_keys:
                self._forget_old(now)
            for key in ((account, address), (account, "")):
                held = self._failures.get(key)
                if held is None or now - held.last > self._window:
                    self._failures[key] = _Failures(1, now)
                else:
                    held.count += 1
                    held.last = now

    def succeeded(self, account: str, address: str) -> None:
        with self._lock:
            self._failures.pop((account, address), None)
            self._failures.pop((account, ""), None)

    def forget(self, account: str) -> None:
        """An administrator's unlock: every backoff of ``account``, from every address, is
        cleared (the addresses' buckets stay: they are not the account's)."""
        account = account.strip().lower()
        with self._lock:
            for key in [k for k in self._failures if k[0] == account]:
                del self._failures[key]

    def _delay(self, held: _Failures | None, now: float, free: int, cap: float) -> float:
        if held is None or now - held.last > self._window or held.count < free:
            return 0.0
        delay = min(cap, 2.0 ** (held.count - free))
        return held.last + delay - now

    def _forget_old(self, now: float) -> None:
        self._failures = {k: v for k, v in self._failures.items() if now - v.last <= self._window}
        self._buckets = {
            k: v
            for k, v in self._buckets.items()
            if v[0] + (now - v[1]) * self._address_rate < self._address_burst
        }
