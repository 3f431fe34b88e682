"""``/healthz``: can the gateway do its job right now?

A real check of both servers it depends on, through their protocols: a Kafka metadata request
(:func:`baocao.core.kafka.wait_for_kafka`) and ClickHouse's ``SELECT version()``
(:func:`baocao.core.clickhouse.wait_for_clickhouse`). Each check opens a client, so the
answer is reused for ``ttl`` seconds, and at most one check runs at a time: a load balancer
polling every instance cannot turn health checks into load on the servers, and an answer is
at most ``ttl`` plus one check's duration old.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio

from baocao.core.clickhouse import ClickHouseError, wait_for_clickhouse
from baocao.core.kafka import KafkaUnavailableError, wait_for_kafka
from baocao.core.settings import Settings

__all__ = ["HealthChecker", "HealthReport"]

logger = logging.getLogger(__name__)

#: Seconds a single probe may take before the server counts as unreachable.
PROBE_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class HealthReport:
    #: ``None`` when the server answered, else why not.
    kafka_error: str | None
    clickhouse_error: str | None
    checked_at: float

    @property
    def ok(self) -> bool:
        return self.kafka_error is None and self.clickhouse_error is None

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "unavailable",
            "kafka": self.kafka_error or "ok",
            "clickhouse": self.clickhouse_error or "ok",
        }


class HealthChecker:
    def __init__(
        self,
        settings: Settings,
        *,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._ttl = ttl
        self._clock = clock
        self._last: HealthReport | None = None
        self._lock = asyncio.Lock()

    async def check(self) -> HealthReport:
        """The last answer while it is fresh; else a new check. While a check runs, callers
        get the previous answer rather than queueing behind it (only the very first check
        is waited for)."""
        last = self._last
        if last is not None and (
            self._clock() - last.checked_at < self._ttl or self._lock.locked()
        ):
            return last
        async with self._lock:
            last = self._last  # another caller may have checked while we waited
            if last is not None and self._clock() - last.checked_at < self._ttl:
                return last
            results: dict[str, str | None] = {}

            async def run(name: str, probe: Callable[[], str | None]) -> None:
                results[name] = await anyio.to_thread.run_sync(probe)

            async with anyio.create_task_group() as group:
                group.start_soon(run, "kafka", self._probe_kafka)
                group.start_soon(run, "clickhouse", self._probe_clickhouse)
            report = HealthReport(
                kafka_error=results["kafka"],
                clickhouse_error=results["clickhouse"],
                checked_at=self._clock(),
            )
            if not report.ok:
                logger.warning("unhealthy: %s", report.as_json())
            self._last = report
            return report

    def _probe_kafka(self) -> str | None:
        try:
            wait_for_kafka(self._settings.kafka, timeout=PROBE_TIMEOUT)
        except KafkaUnavailableError as exc:
            return str(exc)
        return None

    def _probe_clickhouse(self) -> str | None:
        try:
            wait_for_clickhouse(self._settings.clickhouse, timeout=0)
        except ClickHouseError as exc:
            return str(exc)
        return None
