"""/healthz plumbing: every check runs, a failing one makes the answer 503 with its reason,
and the sink's flags move with its flushes."""

from __future__ import annotations

import httpx
from prometheus_client import CollectorRegistry, Counter

from baocao.core.health import run_checks, serve_health
from baocao.sinks.metrics import SinkStats


def fail() -> None:
    raise ConnectionRefusedError("port 9 closed")


def test_every_check_runs_and_one_failure_is_unhealthy() -> None:
    report = run_checks({"a": lambda: 3, "b": fail})
    assert not report.healthy
    assert report.as_json() == {
        "status": "unavailable",
        "checks": {
            "a": {"ok": True, "detail": 3},
            "b": {"ok": False, "error": "ConnectionRefusedError: port 9 closed"},
        },
    }
    assert run_checks({"a": lambda: "x"}).healthy


def test_server_answers_200_503_metrics_and_404() -> None:
    registry = CollectorRegistry()
    Counter("demo_things", "Things.", registry=registry).inc(2)
    healthy = {"ok": True}
    server = serve_health(
        0,
        registry=registry,
        checks={"dep": lambda: "up" if healthy["ok"] else fail()},
        address="127.0.0.1",
        cache_seconds=0,
    )
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert httpx.get(f"{base}/healthz").json() == {
            "status": "ok",
            "checks": {"dep": {"ok": True, "detail": "up"}},
        }
        healthy["ok"] = False
        response = httpx.get(f"{base}/healthz")
        assert response.status_code == 503
        assert response.json()["checks"]["dep"]["ok"] is False
        assert "demo_things_total 2.0" in httpx.get(f"{base}/metrics").text
        assert httpx.get(f"{base}/nothing").status_code == 404
    finally:
        server.close()


def test_sink_stats_remember_the_last_flush_and_assignment() -> None:
    stats = SinkStats()
    assert (stats.assigned_partitions, stats.last_flush_error) == (None, None)
    stats.record_assignment(3)
    stats.record_flush_failure("insert into commune_reports failed")
    assert stats.last_flush_error == "insert into commune_reports failed"
    stats.record_batch({"commune_reports": 1}, 0.1)
    assert (stats.assigned_partitions, stats.last_flush_error) == (3, None)


def test_health_answers_are_cached_so_requests_open_no_connections() -> None:
    calls: list[int] = []

    def dependency() -> str:  # stands for a new Kafka or ClickHouse connection
        calls.append(1)
        return "up"

    # a long TTL: a loaded machine may take longer than the 2 s default for 20 requests
    server = serve_health(
        0, registry=CollectorRegistry(), checks={"dep": dependency}, cache_seconds=60
    )
    try:
        assert server._server.server_address[0] == "127.0.0.1"  # loopback by default
        for _ in range(20):
            assert httpx.get(f"http://127.0.0.1:{server.port}/healthz").status_code == 200
        assert len(calls) == 1
    finally:
        server.close()
