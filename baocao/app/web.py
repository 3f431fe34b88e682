"""The web app ``baocao dashboard`` serves: the dashboard's page and API with the export's
downloads, over one read-only ClickHouse login.

Rule: this module only composes; a route lives with its part (:mod:`baocao.app.dashboard`,
:mod:`baocao.app.export`). ClickHouse being down is a 503 with a reason the page shows,
never a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from baocao.app.dashboard.app import dashboard_routes, static_files
from baocao.app.dashboard.queries import DashboardQueries
from baocao.app.export.exceptions import NothingToExportError
from baocao.app.export.routes import export_routes
from baocao.app.views.exceptions import ViewQueryError
from baocao.core.settings import ClickHouseSettings

__all__ = ["create_app"]

logger = logging.getLogger(__name__)


async def _unavailable(_request: Any, exc: Exception) -> JSONResponse:
    logger.warning("dashboard query failed: %s", exc)
    return JSONResponse({"error": "clickhouse_unavailable", "detail": str(exc)}, 503)


async def _nothing(_request: Any, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": "no_such_period", "detail": str(exc)}, 404)


def create_app(settings: ClickHouseSettings) -> FastAPI:
    """The dashboard with its downloads, reading the views over ``settings``."""
    app = FastAPI(title="baocao dashboard", docs_url=None, redoc_url=None)
    app.add_exception_handler(ViewQueryError, _unavailable)
    app.add_exception_handler(NothingToExportError, _nothing)
    app.include_router(dashboard_routes(DashboardQueries(settings)))
    app.include_router(export_routes(settings))
    app.mount("/static", static_files(), name="static")
    return app
