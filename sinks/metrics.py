"""What the sink did, counted: a plain stats object, mirrored to Prometheus when asked.

:class:`SinkStats` is what tests and the final log line read; :class:`SinkMetrics` exposes the
same counts (``baocao sink --metrics-port``) from a registry of its own, so two sinks in one
process do not collide and nothing is registered at import time. What the freshness metric
means is in docs/clickhouse.md ("Freshness").
"""

from __future__ import annotations

import threading
from collections import Counter as TallyCounter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from baocao.core.health import Check, HealthServer, serve_health
from baocao.core.settings import ClickHouseSettings

__all__ = ["SinkMetrics", "SinkStats", "sink_checks"]


class SinkMetrics:
    """Prometheus counters and histograms of one sink."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.records = Counter(
            "baocao_sink_records_consumed",
            "Kafka records the sink consumed, per topic.",
            ["topic"],
            registry=self.registry,
        )
        self.rows = Counter(
            "baocao_sink_rows_written",
            "Rows inserted into ClickHouse, per table.",
            ["table"],
            registry=self.registry,
        )
        self.batches = Counter(
            "baocao_sink_batches", "Batches flushed and committed.", registry=self.registry
        )
        self.retries = Counter(
            "baocao_sink_insert_retries",
            "Flushes retried after ClickHouse refused an insert.",
            registry=self.registry,
        )
        self.poison = Counter(
            "baocao_sink_poison_messages",
            "Messages stored in sink_poison_messages instead of their table.",
            registry=self.registry,
        )
        self.commit_failures = Counter(
            "baocao_sink_commit_failures",
            "Offset commits Kafka refused (the batch is consumed again, harmlessly).",
            registry=self.registry,
        )
        self.flush_seconds = Histogram(
            "baocao_sink_flush_seconds",
            "Time to write one batch to ClickHouse, retries included.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "baocao_sink_consumer_lag",
            "Records behind the end of each partition after the last poll (high watermark"
            " minus the consumer's position).",
            ["topic", "partition"],
            registry=self.registry,
        )
        self.report_freshness = Histogram(
            "baocao_report_freshness_seconds",
            "Per accepted report stored: seconds from its submission (submitted_at) to the"
            " completion of the ClickHouse insert that stored it.",
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400),
            registry=self.registry,
        )
        self.assignments = Counter(
            "baocao_sink_partition_assignments",
            "Times the consumer group assigned this sink its partitions: a rise without a"
            " sink joining or leaving means it fell out of its group.",
            registry=self.registry,
        )
        self.paused = Gauge(
            "baocao_sink_paused",
            "1 while the sink's partitions are paused, waiting for ClickHouse to take a batch.",
            registry=self.registry,
        )

    def serve(
        self, port: int, *, address: str = "127.0.0.1", checks: Mapping[str, Check] | None = None
    ) -> HealthServer:
        """Serve ``/metrics`` (and ``/healthz`` running ``checks``) on ``port`` from a daemon
        thread."""
        return serve_health(port, registry=self.registry, checks=checks or {}, address=address)


@dataclass
class SinkStats:
    """Running totals of one sink; safe to read from another thread."""

    records: int = 0
    rows_written: TallyCounter[str] = field(default_factory=TallyCounter)
    batches: int = 0
    retries: int = 0
    poison: int = 0
    commit_failures: int = 0
    #: Accepted reports whose freshness was observed, and the largest freshness seen.
    fresh_reports: int = 0
    max_freshness_seconds: float = 0.0
    metrics: SinkMetrics | None = None
    #: Partitions assigned at the last poll (None before the first), and why the last flush
    #: failed (None once a flush succeeded): what ``/healthz`` reports.
    assigned_partitions: int | None = None
    last_flush_error: str | None = None
    #: Times the group assigned this sink its partitions (1 for a sink that never fell out
    #: of its group), times it paused them to wait for ClickHouse, and whether they are now.
    assignments: int = 0
    pauses: int = 0
    paused: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record_consumed(self, topic: str, count: int) -> None:
        with self._lock:
            self.records += count
        if self.metrics is not None:
            self.metrics.records.labels(topic=topic).inc(count)

    def record_poison(self) -> None:
        with self._lock:
            self.poison += 1
        if self.metrics is not None:
            self.metrics.poison.inc()

    def record_retry(self) -> None:
        with self._lock:
            self.retries += 1
        if self.metrics is not None:
            self.metrics.retries.inc()

    def record_commit_failure(self) -> None:
        with self._lock:
            self.commit_failures += 1
        if self.metrics is not None:
            self.metrics.commit_failures.inc()

    def record_assignment(self, partitions: int) -> None:
        self.assigned_partitions = partitions

    def record_partitions_assigned(self, partitions: int) -> None:
        with self._lock:
            self.assignments += 1
        if self.metrics is not None:
            self.metrics.assignments.inc()

    def record_paused(self, paused: bool) -> None:
        with self._lock:
            self.paused = paused
            if paused:
                self.pauses += 1
        if self.metrics is not None:
            self.metrics.paused.set(1 if paused else 0)

    def record_lag(self, lags: Mapping[tuple[str, int], int]) -> None:
        """Per (topic, partition): how far the sink is behind; what operators alert on."""
        if self.metrics is None:
            return
        for (topic, partition), lag in lags.items():
            self.metrics.consumer_lag.labels(topic=topic, partition=str(partition)).set(lag)

    def record_flush_failure(self, error: str) -> None:
        self.last_flush_error = error

    def record_batch(self, rows: Mapping[str, int], seconds: float) -> None:
        with self._lock:
            self.last_flush_error = None
            self.batches += 1
            self.rows_written.update(rows)
        if self.metrics is not None:
            self.metrics.batches.inc()
            self.metrics.flush_seconds.observe(seconds)
            for table, count in rows.items():
                self.metrics.rows.labels(table=table).inc(count)

    def record_freshness(self, seconds: Sequence[float]) -> None:
        """One observation per accepted report stored (negative ages, from clocks that
        disagree, count as 0)."""
        if not seconds:
            return
        ages = [max(0.0, age) for age in seconds]
        with self._lock:
            self.fresh_reports += len(ages)
            self.max_freshness_seconds = max(self.max_freshness_seconds, *ages)
        if self.metrics is not None:
            for age in ages:
                self.metrics.report_freshness.observe(age)

    def snapshot(self) -> dict[str, object]:
        """A consistent copy of the totals (for logs and tests)."""
        with self._lock:
            return {
                "records": self.records,
                "rows_written": dict(self.rows_written),
                "batches": self.batches,
                "retries": self.retries,
                "poison": self.poison,
                "commit_failures": self.commit_failures,
                "fresh_reports": self.fresh_reports,
                "max_freshness_seconds": self.max_freshness_seconds,
            }


def sink_checks(stats: SinkStats, clickhouse: ClickHouseSettings) -> dict[str, Check]:
    """What ``/healthz`` of a sink checks: ClickHouse answers ``SELECT 1`` now, the Kafka
    consumer holds partitions, and the last flush did not fail (a sink retrying a refused
    batch is alive but not healthy)."""
    from baocao.core.clickhouse import connect

    def clickhouse_answers() -> str:
        client = connect(clickhouse, connect_timeout=2, send_receive_timeout=5)
        try:
            client.execute("SELECT 1")
        finally:
            client.disconnect()
        return f"{clickhouse.host}:{clickhouse.port}"

    def partitions_assigned() -> int:
        assigned = stats.assigned_partitions
        if not assigned:
            raise RuntimeError(
                "not polled yet" if assigned is None else "no partition assigned to the consumer"
            )
        return assigned

    def last_flush() -> str:
        if stats.last_flush_error is not None:
            raise RuntimeError(stats.last_flush_error)
        return "ok"

    return {
        "clickhouse": clickhouse_answers,
        "kafka_assignment": partitions_assigned,
        "last_flush": last_flush,
    }
