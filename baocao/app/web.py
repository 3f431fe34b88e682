"""The web app ``baocao dashboard`` serves: the dashboard's page and API with the export's
downloads, behind the officers' sign-in.

Rule: this module only composes; a route lives with its part (:mod:`baocao.app.dashboard`,
:mod:`baocao.app.export`). ClickHouse being down is a 503 with a reason the page shows,
never a stack trace; a province outside the officer's scope is a 403 decided before any
query (:meth:`baocao.app.views.scope.Scope.admit`).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from baocao.app.dashboard.app import dashboard_routes, static_files
from baocao.app.dashboard.clerk_logins import ClerkLogins
from baocao.app.dashboard.contacts import ContactStore
from baocao.app.dashboard.door import OfficerDoor
from baocao.app.dashboard.queries import DashboardQueries
from baocao.app.dashboard.steps import StepPublisher
from baocao.app.export.exceptions import NothingToExportError
from baocao.app.export.routes import export_routes
from baocao.app.views.exceptions import OutOfScopeError, ViewQueryError
from baocao.app.views.reader import ProvinceLogin
from baocao.app.views.scope import Scope
from baocao.core.settings import ClickHouseSettings

__all__ = ["create_app"]

logger = logging.getLogger(__name__)


async def _unavailable(_request: Any, exc: Exception) -> JSONResponse:
    logger.warning("dashboard query failed: %s", exc)
    return JSONResponse({"error": "clickhouse_unavailable", "detail": str(exc)}, 503)


async def _nothing(_request: Any, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": "no_such_period", "detail": str(exc)}, 404)


async def _out_of_scope(_request: Any, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {
            "error": "out_of_scope",
            "detail": str(exc),
            "message_vi": "Tài khoản này chỉ xem được tỉnh của mình.",
            "message_en": "This login sees its own province only.",
        },
        403,
    )


def create_app(
    settings: ClickHouseSettings,
    *,
    door: OfficerDoor,
    province_login: ProvinceLogin | None = None,
    publish: StepPublisher | None = None,
    contacts: ContactStore | None = None,
    clerks: ClerkLogins | None = None,
) -> FastAPI:
    """The dashboard with its downloads: national reads over ``settings``, a province
    officer's over ``province_login`` (that province's own ClickHouse login); approval
    steps go out through ``publish`` (to Kafka, as the approver principal)."""
    app = FastAPI(title="baocao dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_exception_handler(ViewQueryError, _unavailable)
    app.add_exception_handler(NothingToExportError, _nothing)
    app.add_exception_handler(OutOfScopeError, _out_of_scope)
    queries = DashboardQueries(settings, province_login=province_login)

    def scope_of(request: Request) -> Scope:
        return door.officer(request).scope

    app.include_router(dashboard_routes(queries, door, publish, contacts, clerks))
    app.include_router(
        export_routes(
            settings,
            scope_of=scope_of,
            province_login=province_login,
        )
    )
    app.mount("/static", static_files(), name="static")
    return app
