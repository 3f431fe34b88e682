"""The gateway's ASGI application (FastAPI): wiring, lifespan and the uniform error answers.

:func:`create_app` builds an app from settings; nothing is opened until the lifespan starts
(the Kafka publisher, the SQLite store), and everything is closed when it ends, after the
reports still being published are acknowledged. The routes live in
:mod:`baocao.producers.gateway.routes`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from starlette.exceptions import HTTPException as StarletteHTTPException

from baocao.core.catalogue import load_catalogue
from baocao.core.reference import load_reference
from baocao.core.registry import registry_client
from baocao.core.settings import Settings
from baocao.producers.gateway.answers import GatewayJSONResponse
from baocao.producers.gateway.app_routes import app_router, clerk_sign_in
from baocao.producers.gateway.clerk_door import ClerkDoor
from baocao.producers.gateway.exceptions import GatewayError
from baocao.producers.gateway.form import FormService
from baocao.producers.gateway.health import HealthChecker
from baocao.producers.gateway.lookup import StatusService
from baocao.producers.gateway.metrics import GatewayMetrics, MetricsMiddleware
from baocao.producers.gateway.publisher import AsyncReportPublisher
from baocao.producers.gateway.ratelimit import TokenBucketLimiter
from baocao.producers.gateway.routes import router
from baocao.producers.gateway.services import Gateway
from baocao.producers.gateway.status import PipelineReader
from baocao.producers.gateway.store import GatewayStore
from baocao.producers.gateway.submissions import SubmissionLog
from baocao.producers.gateway.submit import SubmissionService
from baocao.producers.gateway.tokens import TokenStore
from baocao.producers.gateway.webapp import webapp_router

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

#: Seconds a shutdown waits for Kafka to acknowledge the reports still in flight.
_SHUTDOWN_FLUSH_SECONDS = 10.0


def create_app(settings: Settings, *, registry: CollectorRegistry | None = None) -> FastAPI:
    """The gateway for ``settings``; metrics go to ``registry`` (a fresh one by default)."""
    metrics = GatewayMetrics(registry=registry if registry is not None else CollectorRegistry())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        options = settings.gateway
        store = GatewayStore(options.db_path).open()
        publisher = AsyncReportPublisher(
            settings.kafka,
            linger_ms=options.kafka_linger_ms,
            registry=registry_client(settings.schema_registry),
        )
        try:
            await publisher.open()
            reference, catalogue = load_reference(), load_catalogue()
            log = SubmissionLog(store)
            reader = PipelineReader(settings.clickhouse)
            submissions = SubmissionService(
                publisher=publisher,
                log=log,
                reference=reference,
                catalogue=catalogue,
                metrics=metrics,
                publish_timeout=options.publish_timeout_seconds,
            )
            app.state.gateway = Gateway(
                settings=settings,
                tokens=TokenStore(store),
                limiter=TokenBucketLimiter(
                    rate=options.rate_limit_per_second, burst=options.rate_limit_burst
                ),
                submissions=submissions,
                status=StatusService(
                    log=log, reader=reader, reference=reference, deadlines=settings.deadlines
                ),
                health=HealthChecker(settings, ttl=options.health_cache_seconds),
                metrics=metrics,
                door=ClerkDoor(clerk_sign_in(store, options), options),
                form=FormService(
                    settings=settings,
                    log=log,
                    reader=reader,
                    reference=reference,
                    catalogue=catalogue,
                ),
            )
            logger.info("gateway ready: publishing to %s", publisher.topic)
            yield
            await submissions.drain(timeout=_SHUTDOWN_FLUSH_SECONDS)
        finally:
            await publisher.close(timeout=_SHUTDOWN_FLUSH_SECONDS)
            store.close()

    app = FastAPI(
        title="baocao gateway",
        summary="Commune reports into the baocao pipeline over HTTP.",
        description=(
            "Communes submit their reports with their own API token (`Authorization: Bearer "
            "<token>`); every report is checked with the pipeline's rules and refused with "
            "every reason (stable codes, messages in Vietnamese and English), or published "
            "to Kafka before the answer. Provinces read the status of their communes' reports."
        ),
        version="1",
        lifespan=lifespan,
        default_response_class=GatewayJSONResponse,
    )
    app.include_router(router)
    app.include_router(app_router)
    app.include_router(webapp_router)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    # The commune app's JSON over a weak mobile link (the catalogue of a report type is ~10 KB
    # raw); small answers (a 202) are left as they are. The app's files come pre-compressed.
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _bad_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)
    return app


async def _gateway_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    return GatewayJSONResponse(exc.body(), status_code=exc.status, headers=exc.headers())


async def _bad_request(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(part) for part in error.get('loc', ()))}: {error.get('msg', '')}"
        for error in exc.errors()
    )
    return GatewayJSONResponse(
        {
            "error": "bad_request",
            "message": problems,
            "message_vi": "Yêu cầu không đúng dạng: " + problems,
        },
        status_code=400,
    )


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return GatewayJSONResponse(
        {"error": code, "message": str(exc.detail), "message_vi": "Không tìm thấy trang này."},
        status_code=exc.status_code,
        headers=dict(exc.headers or {}),
    )


async def _internal_error(_request: Request, exc: Exception) -> JSONResponse:
    logger.error("unexpected error answering a request", exc_info=exc)
    return GatewayJSONResponse(
        {
            "error": "internal_error",
            "message": "unexpected error; it has been logged",
            "message_vi": "Hệ thống gặp lỗi không mong muốn; lỗi đã được ghi lại.",
        },
        status_code=500,
    )
