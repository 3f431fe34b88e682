"""The per-token bucket: a burst, then one request per 1/rate seconds, per key."""

from __future__ import annotations

import pytest

from baocao.producers.gateway.ratelimit import TokenBucketLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill_at_the_rate() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(0.5)
    clock.now += 0.25
    assert limiter.acquire("a") == pytest.approx(0.25)  # half a token so far
    clock.now += 0.25
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") == pytest.approx(0.5)
    clock.now += 100  # refills to the burst, no more
    assert [limiter.acquire("a") for _ in range(4)][-1] == pytest.approx(0.5)


def test_keys_have_their_own_buckets() -> None:
    limiter = TokenBucketLimiter(rate=1.0, burst=1, clock=Clock())
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
    assert limiter.acquire("b") == 0.0


def test_a_rate_of_zero_disables_the_limit() -> None:
    limiter = TokenBucketLimiter(rate=0, burst=1, clock=Clock())
    assert all(limiter.acquire("a") == 0.0 for _ in range(1000))


def test_idle_buckets_are_dropped_past_the_key_limit() -> None:
    clock = Clock()
    limiter = TokenBucketLimiter(rate=1.0, burst=1, clock=clock, max_keys=2)
    limiter.acquire("a")
    limiter.acquire("b")
    clock.now += 10  # both full again
    assert limiter.acquire("c") == 0.0
    assert len(limiter._buckets) == 1


def test_burst_must_allow_a_request() -> None:
    with pytest.raises(ValueError):
        TokenBucketLimiter(rate=1.0, burst=0)
