"""Prometheus metrics of the roll-up worker.

The metrics live in an injected registry rather than in module globals, so a test (or two
apps in one process) gets its own counters; ``baocao worker`` passes the default registry,
which also carries the process collectors (CPU, memory, open files).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from baocao.core.health import Check, HealthServer, serve_health
from baocao.core.kafka import wait_for_kafka
from baocao.core.reasons import ReasonCode
from baocao.core.settings import KafkaSettings
from baocao.core.soft_rules import (
    FAR_FROM_HISTORY,
    RESOLVED_EXCEEDS_RECEIVED,
    RESOLVED_PARTS_MISMATCH,
    SUBMITTED_AT_FAR_FROM_RECEIPT,
)
from baocao.streams.liveness import WorkerState
from baocao.streams.records import BatchResult, Outcome

__all__ = ["WorkerMetrics", "serve_metrics", "worker_checks"]

logger = logging.getLogger(__name__)

_BATCH_SIZE_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000)
_BATCH_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class WorkerMetrics:
    """Counters and histograms of the worker, updated once per batch."""

    def __init__(self, *, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.events = Counter(
            "baocao_worker_events",
            "Commune-report events processed, by outcome (accepted, duplicate, rejected).",
            ["outcome"],
            registry=registry,
        )
        self.rejections = Counter(
            "baocao_worker_rejections",
            "Reasons events were sent to the dead-letter topic (one event may have several).",
            ["reason"],
            registry=registry,
        )
        self.figures = Counter(
            "baocao_worker_figures_emitted",
            "Provincial figures published to the province-indicators topic.",
            registry=registry,
        )
        self.changes = Counter(
            "baocao_worker_figure_changes",
            "Provincial figures whose value changed (records on the figure-changes topic).",
            registry=registry,
        )
        self.warnings = Counter(
            "baocao_worker_warnings",
            "Soft rule breaks of accepted reports, by rule.",
            ["rule"],
            registry=registry,
        )
        self.approvals = Counter(
            "baocao_worker_approvals",
            "Approval steps, by outcome (applied, refused with a reason, invalid: logged,"
            " ignored).",
            ["outcome"],
            registry=registry,
        )
        self.alerts = Counter(
            "baocao_worker_missing_report_alerts",
            "Missing-report alerts raised by the schedule.",
            registry=registry,
        )
        self.announced = Counter(
            "baocao_worker_periods_announced",
            "Reporting periods announced by the schedule.",
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "baocao_worker_consumer_lag",
            "Records behind the end of each input partition after the last batch (high"
            " watermark minus the next offset to process).",
            ["topic", "partition"],
            registry=registry,
        )
        self.batch_size = Histogram(
            "baocao_worker_batch_events",
            "Events per processing batch.",
            buckets=_BATCH_SIZE_BUCKETS,
            registry=registry,
        )
        self.batch_duration = Histogram(
            "baocao_worker_batch_duration_seconds",
            "Time to process a batch, including waiting for Kafka to acknowledge its writes.",
            buckets=_BATCH_SECONDS_BUCKETS,
            registry=registry,
        )
        self.internal_errors = Counter(
            "baocao_worker_internal_errors",
            "Events the worker itself failed on (set aside as internal_error dead letters), by"
            " exception type.",
            ["exception"],
            registry=registry,
        )
        self.registry_retries = Counter(
            "baocao_worker_schema_registry_retries",
            "Schema-registry lookups retried because the registry was unreachable or failing.",
            registry=registry,
        )
        self.fatal = Gauge(
            "baocao_worker_fatal",
            "1 once the worker gave up (it is exiting; /healthz says why), else 0.",
            registry=registry,
        )
        # Publish every series at zero from the start, so rates and alerts see them.
        for outcome in Outcome:
            self.events.labels(outcome=outcome.value)
        for code in ReasonCode:
            self.rejections.labels(reason=code.value)
        for rule in (
            FAR_FROM_HISTORY,
            RESOLVED_EXCEEDS_RECEIVED,
            RESOLVED_PARTS_MISMATCH,
            SUBMITTED_AT_FAR_FROM_RECEIPT,
        ):
            self.warnings.labels(rule=rule)
        for approval in ("applied", "refused", "invalid"):
            self.approvals.labels(outcome=approval)

    def observe_batch(self, result: BatchResult, *, seconds: float) -> None:
        for outcome, count in result.outcomes.items():
            self.events.labels(outcome=outcome.value).inc(count)
        for code, count in result.rejections.items():
            self.rejections.labels(reason=code.value).inc(count)
        for rule, count in result.warnings.items():
            self.warnings.labels(rule=rule).inc(count)
        for approval, count in result.approvals.items():
            self.approvals.labels(outcome=approval).inc(count)
        self.figures.inc(result.figures)
        self.changes.inc(result.changes)
        self.batch_size.observe(result.events)
        self.batch_duration.observe(seconds)

    def observe_lag(self, lags: Mapping[tuple[str, int], int]) -> None:
        for (topic, partition), lag in lags.items():
            self.consumer_lag.labels(topic=topic, partition=str(partition)).set(lag)

    def observe_tick(self, *, announced: int, alerts: int) -> None:
        self.announced.inc(announced)
        self.alerts.inc(alerts)


def serve_metrics(
    port: int,
    *,
    registry: CollectorRegistry,
    host: str = "127.0.0.1",
    checks: Mapping[str, Check] | None = None,
) -> HealthServer:
    """Expose ``registry`` on ``http://<host>:<port>/metrics``, and ``/healthz`` running
    ``checks``, from a background thread."""
    return serve_health(port, registry=registry, checks=checks or {}, address=host)


def worker_checks(
    app: Any, kafka_settings: KafkaSettings, state: WorkerState | None = None
) -> dict[str, Check]:
    """What ``/healthz`` of the worker checks: the broker answers a metadata request now,
    and the worker's consumer holds partitions (a worker that lost its group, or has not
    joined it yet, processes nothing); with ``state``, that the roll-up has not given up
    (the reason it is exiting) and is not waiting for the schema registry."""

    def kafka_metadata() -> int:
        return len(wait_for_kafka(kafka_settings, timeout=5.0)["brokers"])

    def partitions_assigned() -> int:
        # The private attribute, not ``app.consumer``: that property creates a consumer as a
        # side effect, which must never happen from this thread.
        consumer = getattr(app, "_consumer", None)
        if consumer is None:
            raise RuntimeError("the worker's consumer has not started")
        assigned = len(consumer.assignment())
        if assigned == 0:
            raise RuntimeError("no partition assigned to the worker")
        return assigned

    checks: dict[str, Check] = {
        "kafka_metadata": kafka_metadata,
        "kafka_assignment": partitions_assigned,
    }
    if state is not None:
        checks["rollup"] = state.check_running
        checks["schema_registry"] = state.check_registry
    return checks
