"""One small HTTP server per long-running process: Prometheus ``/metrics`` and ``/healthz``.

``/healthz`` runs the process's checks when asked (a real ``SELECT 1``, a real look at the
consumer's assignment; never a cached "I started once") and answers 200 with the results as
JSON when every check passed, 503 with the same JSON otherwise, so an orchestrator or a load
balancer can tell a sink that lost ClickHouse from one that works. The server runs in a daemon
thread so it never keeps a stopping process alive.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["Check", "HealthReport", "HealthServer", "run_checks", "serve_health"]

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
    address: str = "0.0.0.0",
) -> HealthServer:
    """Serve ``/metrics`` (``registry``) and ``/healthz`` (``checks``) on ``port``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                report = run_checks(checks)
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
