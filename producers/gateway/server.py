"""Serving the gateway with uvicorn, in the process's logging set-up, in one or more processes.

uvicorn runs on uvloop with the httptools parser (both C extensions, dependencies of baocao):
on a two-core machine they halve what the HTTP round trip itself costs against the default
asyncio loop and pure-Python h11.

``workers > 1`` runs that many uvicorn worker processes on one listening socket, under
uvicorn's supervisor (it restarts a worker that dies, and stops everything when a worker fails
to start). Each worker has its own Kafka producer and its own SQLite connections to the *same*
WAL database file, whose ``BEGIN IMMEDIATE`` claim keeps a report id published once across
processes; the rate limit of a token is counted per process (see
:class:`~baocao.producers.gateway.ratelimit.TokenBucketLimiter`), so with N workers a token may
reach up to N times its rate. The Prometheus metrics at ``/metrics`` are those of the worker
that answers.
"""

from __future__ import annotations

import logging
import os

import uvicorn
from fastapi import FastAPI
from prometheus_client import REGISTRY
from uvicorn.supervisors import Multiprocess

from baocao.core.logs import configure_logging
from baocao.core.principals import Principal, with_principal
from baocao.core.registry import registry_client
from baocao.core.settings import Settings
from baocao.producers.exceptions import PublishError
from baocao.producers.gateway.app import create_app
from baocao.producers.gateway.exceptions import TokenStoreError
from baocao.producers.gateway.store import GatewayStore
from baocao.producers.publisher import ReportPublisher

__all__ = ["gateway_settings", "serve", "worker_app"]

logger = logging.getLogger(__name__)

#: uvicorn's exit code of a worker whose application could not start.
_STARTUP_FAILURE = 3
_LOG_LEVEL_ENV = "BAOCAO_LOG_LEVEL"


def gateway_settings() -> Settings:
    """The gateway's settings from the environment: its own Kafka principal and the
    ClickHouse reader login (the same in the command and in each spawned worker)."""
    return with_principal(Settings().with_clickhouse_login("reader"), Principal.GATEWAY)


def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    access_log: bool = False,
    workers: int = 1,
) -> bool:
    """Serve until SIGINT/SIGTERM; ``False`` when the app could not start (e.g. Kafka is
    unreachable or the database cannot be opened: the reason is logged)."""
    if workers <= 1:
        config = _config(create_app(settings, registry=REGISTRY), host, port, access_log)
        server = uvicorn.Server(config)
        server.run()
        return bool(server.started)
    if not _can_start(settings):
        return False
    # The workers are spawned: they build their own settings from the same environment
    # (gateway_settings; the host and port are the supervisor's socket) and set up logging
    # at this level.
    os.environ[_LOG_LEVEL_ENV] = logging.getLevelName(logging.getLogger().getEffectiveLevel())
    config = _config(
        "baocao.producers.gateway.server:worker_app", host, port, access_log, workers=workers
    )
    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    logger.info("gateway on %s:%d with %d worker processes", host, port, workers)
    supervisor.run()
    return not any(p.exitcode == _STARTUP_FAILURE for p in supervisor.processes)


def worker_app() -> FastAPI:
    """The app of one worker process (uvicorn's factory, imported in the spawned process)."""
    configure_logging(os.environ.get(_LOG_LEVEL_ENV, "INFO"))
    return create_app(gateway_settings(), registry=REGISTRY)


def _config(
    app: FastAPI | str, host: str, port: int, access_log: bool, *, workers: int = 1
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        factory=isinstance(app, str),
        workers=workers,
        loop="uvloop",
        http="httptools",
        log_config=None,  # keep baocao's logging format
        access_log=access_log,
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=15,
    )


def _can_start(settings: Settings) -> bool:
    """Open what every worker needs once before spawning them, so an unreachable Kafka or an
    unwritable database fails the command at once with its reason (uvicorn's supervisor
    would only say that a worker failed to start)."""
    publisher = ReportPublisher(
        settings.kafka, fail_fast=False, registry=registry_client(settings.schema_registry)
    )
    try:
        GatewayStore(settings.gateway.db_path).open().close()
        publisher.open()
    except (TokenStoreError, PublishError) as exc:
        logger.error("the gateway cannot start: %s", exc)
        return False
    finally:
        publisher.close(timeout=5.0)
    return True
