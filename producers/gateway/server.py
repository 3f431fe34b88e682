"""Serving the gateway with uvicorn, in the process's logging set-up."""

from __future__ import annotations

import logging

import uvicorn
from prometheus_client import REGISTRY

from baocao.core.settings import Settings
from baocao.producers.gateway.app import create_app

__all__ = ["serve"]

logger = logging.getLogger(__name__)


def serve(settings: Settings, *, host: str, port: int, access_log: bool = False) -> bool:
    """Serve until SIGINT/SIGTERM; ``False`` when the app could not start (e.g. Kafka is
    unreachable or the database cannot be opened: the reason is logged)."""
    app = create_app(settings, registry=REGISTRY)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,  # keep baocao's logging format
        access_log=access_log,
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=15,
    )
    server = uvicorn.Server(config)
    server.run()
    return bool(server.started)
