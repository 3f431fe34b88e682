"""Prometheus metrics of the gateway, served at ``/metrics``.

In an injected registry (as the worker's and the sink's), so each app, and each test, counts
on its own. The route label is the route's *template* (``/v1/reports/{report_id}``), never the
raw path, so a client cannot create a series per URL it invents.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from baocao.core.reasons import Reason, ReasonCode

__all__ = ["GatewayMetrics", "MetricsMiddleware", "ReportOutcome"]

logger = logging.getLogger(__name__)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ReportOutcome:
    """Label values of ``baocao_gateway_reports_total``."""

    ACCEPTED = "accepted"
    REPLAYED = "replayed"
    REJECTED = "rejected"
    CONFLICT = "conflict"
    FORBIDDEN = "forbidden"
    UNAVAILABLE = "unavailable"
    ALL = (ACCEPTED, REPLAYED, REJECTED, CONFLICT, FORBIDDEN, UNAVAILABLE)


class GatewayMetrics:
    def __init__(self, *, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "baocao_gateway_requests",
            "HTTP requests answered, by route template, method and status code.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "baocao_gateway_request_duration_seconds",
            "Time to answer a request, by route template and method.",
            ["route", "method"],
            buckets=_SECONDS_BUCKETS,
            registry=registry,
        )
        self.reports = Counter(
            "baocao_gateway_reports",
            "Submitted reports, by outcome (accepted, replayed, rejected, conflict, forbidden, "
            "unavailable).",
            ["outcome"],
            registry=registry,
        )
        self.rejections = Counter(
            "baocao_gateway_rejection_reasons",
            "Reasons reports were refused with 422 (one report may have several).",
            ["reason"],
            registry=registry,
        )
        self.publish_seconds = Histogram(
            "baocao_gateway_publish_duration_seconds",
            "Time from handing a report to the Kafka producer to its acknowledgement (acks=all).",
            buckets=_SECONDS_BUCKETS,
            registry=registry,
        )
        for outcome in ReportOutcome.ALL:
            self.reports.labels(outcome)
        for code in ReasonCode:
            self.rejections.labels(str(code))

    def rejected(self, reasons: tuple[Reason, ...]) -> None:
        self.reports.labels(ReportOutcome.REJECTED).inc()
        for code in {str(r.code) for r in reasons}:
            self.rejections.labels(code).inc()


class MetricsMiddleware:
    """Counts and times every HTTP request (pure ASGI: no per-request task or copy)."""

    def __init__(self, app: ASGIApp, *, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = _route_template(scope)
            method = str(scope.get("method", ""))
            method = method if method in _METHODS else "other"
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.request_seconds.labels(route, method).observe(
                time.perf_counter() - started
            )


def _route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"
