"""The worker's Prometheus metrics count what a batch did."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from baocao.core.reasons import ReasonCode
from baocao.streams.metrics import WorkerMetrics
from baocao.streams.records import BatchResult, Outcome


def test_a_batch_is_counted_by_outcome_reason_size_and_duration() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry=registry)
    result = BatchResult()
    result.outcomes.update({Outcome.ACCEPTED: 5, Outcome.DUPLICATE: 1, Outcome.REJECTED: 2})
    result.rejections.update({ReasonCode.STALE_REVISION: 1, ReasonCode.UNKNOWN_COMMUNE: 2})
    result.figures = 46

    metrics.observe_batch(result, seconds=0.2)
    metrics.observe_batch(BatchResult(), seconds=0.01)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("baocao_worker_events_total", outcome="accepted") == 5
    assert value("baocao_worker_events_total", outcome="duplicate") == 1
    assert value("baocao_worker_events_total", outcome="rejected") == 2
    assert value("baocao_worker_rejections_total", reason="stale_revision") == 1
    assert value("baocao_worker_rejections_total", reason="unknown_commune") == 2
    assert value("baocao_worker_rejections_total", reason="malformed_event") == 0
    assert value("baocao_worker_figures_emitted_total") == 46
    assert value("baocao_worker_batch_events_count") == 2
    assert value("baocao_worker_batch_events_sum") == 8
    assert value("baocao_worker_batch_duration_seconds_bucket", le="0.25") == 2
    assert value("baocao_worker_batch_duration_seconds_bucket", le="0.1") == 1


def test_warnings_approvals_changes_and_the_schedule_are_counted() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry=registry)
    result = BatchResult()
    result.warnings.update({"far_from_history": 2})
    result.approvals.update({"stored": 1, "invalid": 3})
    result.changes = 7

    metrics.observe_batch(result, seconds=0.1)
    metrics.observe_tick(announced=5, alerts=2)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("baocao_worker_warnings_total", rule="far_from_history") == 2
    assert value("baocao_worker_warnings_total", rule="resolved_exceeds_received") == 0
    assert value("baocao_worker_approvals_total", outcome="stored") == 1
    assert value("baocao_worker_approvals_total", outcome="invalid") == 3
    assert value("baocao_worker_figure_changes_total") == 7
    assert value("baocao_worker_periods_announced_total") == 5
    assert value("baocao_worker_missing_report_alerts_total") == 2
    assert value("baocao_worker_batch_events_sum") == 4  # approvals are events of the batch
    assert value("baocao_worker_rejections_total", reason="period_locked") == 0
