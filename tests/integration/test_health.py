"""``/healthz`` of the sink on the real servers: 200 when ClickHouse answers and the consumer
holds partitions, 503 naming ClickHouse when its port is closed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import cli
from support.net import free_port
from support.settings import environment
from support.wait import eventually

from baocao.core.settings import ClickHouseSettings, Settings
from baocao.sinks.clickhouse.migrate import migrate

pytestmark = pytest.mark.integration


@contextmanager
def running(command: str, settings: Settings, log_path: Path) -> Iterator[str]:
    """``baocao <command> --metrics-port P`` with ``settings``; yields its health URL."""
    port = free_port()
    args = (command, "--metrics-port", str(port))
    with cli.running(*args, env=environment(settings), log_path=log_path):
        yield f"http://127.0.0.1:{port}/healthz"


def wait_for_status(url: str, status: int, timeout: float = 45.0) -> dict[str, Any]:
    def answer() -> dict[str, Any]:
        response = httpx.get(url, timeout=10.0)
        assert response.status_code == status, (response.status_code, response.text)
        return dict(response.json())

    return eventually(
        answer, what=f"{url} to answer {status}", timeout=timeout, ignoring=(httpx.HTTPError,)
    )


def test_sink_healthz_is_200_with_servers_up(
    test_settings: Settings, clickhouse_db: str, tmp_path: Path
) -> None:
    migrate(test_settings.clickhouse)
    with running("sink", test_settings, tmp_path / "sink.log") as url:
        body = wait_for_status(url, 200)
        assert body["status"] == "ok"
        assert body["checks"]["clickhouse"]["ok"] is True
        assert body["checks"]["kafka_assignment"]["detail"] >= 1
        assert body["checks"]["last_flush"] == {"ok": True, "detail": "ok"}
        metrics = httpx.get(url.replace("/healthz", "/metrics"), timeout=10.0)
        assert "baocao_sink_batches" in metrics.text


def test_sink_healthz_is_503_when_clickhouse_is_unreachable(
    test_settings: Settings, tmp_path: Path
) -> None:
    closed = ClickHouseSettings(**{**test_settings.clickhouse.model_dump(), "port": free_port()})
    settings = test_settings.model_copy(update={"clickhouse": closed})
    with running("sink", settings, tmp_path / "sink.log") as url:
        body = wait_for_status(url, 503)
        assert body["status"] == "unavailable"
        assert body["checks"]["clickhouse"]["ok"] is False
        assert body["checks"]["kafka_assignment"]["ok"] is False


def test_worker_healthz_is_200_once_partitions_are_assigned(
    test_settings: Settings, tmp_path: Path
) -> None:
    with running("worker", test_settings, tmp_path / "worker.log") as url:
        body = wait_for_status(url, 200, timeout=90.0)
        assert body["checks"]["kafka_metadata"]["detail"] >= 1
        assert body["checks"]["kafka_assignment"]["detail"] >= 1


def test_worker_healthz_is_503_when_kafka_metadata_is_unreachable(
    test_settings: Settings, tmp_path: Path
) -> None:
    """The worker's own Kafka is up (it must start), but the check asks a closed port: the
    check runs the real metadata request each time, so it fails and says so."""
    from prometheus_client import CollectorRegistry

    from baocao.core.health import serve_health
    from baocao.core.settings import KafkaSettings
    from baocao.streams.metrics import worker_checks

    closed = KafkaSettings(
        **{**test_settings.kafka.model_dump(), "bootstrap_servers": f"127.0.0.1:{free_port()}"}
    )
    server = serve_health(
        0,
        registry=CollectorRegistry(),
        checks=worker_checks(object(), closed),
        address="127.0.0.1",
    )
    try:
        response = httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=30.0)
    finally:
        server.close()
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["kafka_metadata"]["ok"] is False
    assert "did not answer" in checks["kafka_metadata"]["error"]
    assert checks["kafka_assignment"] == {
        "ok": False,
        "error": "RuntimeError: the worker's consumer has not started",
    }
