"""One small HTTP server per long-running process: Prometheus ``/metrics`` and ``/healthz``.

``/healthz`` runs the process's checks (a real ``SELECT 1``, a real look at the consumer's
assignment; never a cached "I started once") at most once per ``cache_seconds`` (2 s): a
burst of requests shares one answer instead of opening a Kafka or ClickHouse connection each,
so the endpoint cannot be used to hammer the servers. It answers 200 with the results as
JSON when every check passed, 503 with the same JSON otherwise, so an orchestrator or a load
balancer can tell a sink that lost ClickHouse from one that works. The server runs in a daemon
thread so it never keeps a stopping process alive.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = [
    "CachedChecks",
    "Check",
    "HealthReport",
    "HealthServer",
    "run_checks",
    "serve_health",
]

logger = logging.getLogger(__name__)

#: A named check: returns a detail for the report, raises (any exception) when unhealthy.
Check = Callable[[], Any]


@dataclass(frozen=True)
class HealthReport:
    healthy: bool
    checks: Mapping[str, dict[str, Any]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"status": "ok" if self.healthy else "unavailable", "checks": dict(self.checks)}


def run_checks(checks: Mapping[str, Check]) -> HealthReport:
    """Run every check (all of them, so the report names every failing dependency)."""
    results: dict[str, dict[str, Any]] = {}
    for name, check in checks.items():
        try:
            results[name] = {"ok": True, "detail": check()}
        except Exception as exc:  # a failing check is an answer, not a crash
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return HealthReport(all(r["ok"] for r in results.values()), results)


class CachedChecks:
    """Runs ``checks`` at most once per ``ttl`` seconds; concurrent callers share the run."""

    def __init__(self, checks: Mapping[str, Check], *, ttl: float) -> None:
        self._checks = checks
        self._ttl = ttl
        self._lock = threading.Lock()
        self._report: HealthReport | None = None
        self._at = 0.0

    def __call__(self) -> HealthReport:
        with self._lock:
            now = time.monotonic()
            if self._report is None or now - self._at >= self._ttl:
                self._report = run_checks(self._checks)
                self._at = time.monotonic()
            return self._report


class HealthServer:
    """The running server; :meth:`close` stops it (tests; a process just exits)."""

    def __init__(self, server: ThreadingHTTPServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_health(
    port: int,
    *,
    registry: CollectorRegistry,
    checks: Mapping[str, Check],
    address: str = "127.0.0.1",
    cache_seconds: float = 2.0,
) -> HealthServer:
    """Serve ``/metrics`` (``registry``) and ``/healthz`` (``checks``, answers reused for
    ``cache_seconds``) on ``address:port`` (loopback by default)."""
    cached = CachedChecks(checks, ttl=cache_seconds)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                report = cached()
                self._send(
                    200 if report.healthy else 503,
                    "application/json",
                    json.dumps(report.as_json()).encode(),
                )
            elif path in ("/metrics", "/"):
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
            else:
                self._send(404, "text/plain", b"not found\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("health server: " + format, *args)

    server = ThreadingHTTPServer((address, port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="health-server", daemon=True)
    thread.start()
    logger.info("serving /metrics and /healthz on http://%s:%d/", address, port)
    return HealthServer(server, thread)
