"""The dashboard's web application: a JSON API over :class:`DashboardQueries` and the static
page that polls it.

Everything the browser loads comes from this package (``static/``): no CDN, so the dashboard
works on an offline provincial network. ClickHouse being down is a 503 with a reason the
page shows, never a stack trace.
"""

from __future__ import annotations

import logging
import re
from importlib import resources
from typing import Any

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from baocao.app.dashboard.exceptions import DashboardQueryError
from baocao.app.dashboard.queries import DashboardQueries
from baocao.app.export.exceptions import ExportQueryError, NothingToExportError
from baocao.app.export.service import (
    XLSX_MEDIA_TYPE,
    check_request,
    export_filename,
    export_workbook,
)

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

_PROVINCE = re.compile(r"^\d{2}$")
_COMMUNE = re.compile(r"^\d{5}$")
_REPORT_TYPES = ("daily", "weekly", "monthly", "quarterly", "yearly")


def _static_dir() -> str:
    return str(resources.files("baocao.app.dashboard").joinpath("static"))


def create_app(queries: DashboardQueries) -> FastAPI:
    """The dashboard over ``queries`` (built by the command from the injected settings)."""
    app = FastAPI(title="baocao dashboard", docs_url=None, redoc_url=None)
    static = _static_dir()

    @app.exception_handler(DashboardQueryError)
    @app.exception_handler(ExportQueryError)
    async def _unavailable(_request: Any, exc: Exception) -> JSONResponse:
        logger.warning("dashboard query failed: %s", exc)
        return JSONResponse({"error": "clickhouse_unavailable", "detail": str(exc)}, 503)

    @app.exception_handler(NothingToExportError)
    async def _nothing(_request: Any, exc: NothingToExportError) -> JSONResponse:
        return JSONResponse({"error": "no_such_period", "detail": str(exc)}, 404)

    def _xlsx(province: str | None, report_type: str, period: str, lang: str) -> Response:
        """The workbook ``baocao export`` writes, as a download."""
        try:
            language = check_request(
                province=province, report_type=report_type, period=period, lang=lang
            )
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        data = export_workbook(
            queries.settings,
            province=province,
            report_type=report_type,
            period=period,
            lang=language,
        )
        name = export_filename(province=province, report_type=report_type, period=period)
        return Response(
            data,
            media_type=XLSX_MEDIA_TYPE,
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "no-store",
            },
        )

    def _report_type(value: str) -> str:
        if value not in _REPORT_TYPES:
            raise HTTPException(422, f"report_type must be one of {', '.join(_REPORT_TYPES)}")
        return value

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(f"{static}/index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/api/periods")
    def periods() -> list[dict[str, Any]]:
        return queries.periods()

    @app.get("/api/periods/default")
    def default_period() -> dict[str, str]:
        """Where the page opens when its URL names no period (see
        :meth:`DashboardQueries.default_period`)."""
        return queries.default_period()

    @app.get("/api/overview")
    def overview(report_type: str = Query(...), period: str = Query(...)) -> dict[str, Any]:
        return queries.overview(report_type=_report_type(report_type), period=period)

    @app.get("/api/provinces/{code}")
    def province(
        code: str, report_type: str = Query(...), period: str = Query(...)
    ) -> dict[str, Any]:
        if not _PROVINCE.match(code):
            raise HTTPException(422, "a province code is two digits")
        return queries.province(code, report_type=_report_type(report_type), period=period)

    @app.get("/api/provinces/{code}/export.xlsx")
    def province_export(
        code: str, report_type: str = Query(...), period: str = Query(...), lang: str = "vi"
    ) -> Response:
        """The province's report of the period as an Excel workbook (see ``baocao export``)."""
        if not _PROVINCE.match(code):
            raise HTTPException(422, "a province code is two digits")
        return _xlsx(code, report_type, period, lang)

    @app.get("/api/national/export.xlsx")
    def national_export(
        report_type: str = Query(...), period: str = Query(...), lang: str = "vi"
    ) -> Response:
        """The national report of the period, one row per province (``--national``)."""
        return _xlsx(None, report_type, period, lang)

    @app.get("/api/communes/{code}")
    def commune(code: str, period: str = Query(...)) -> dict[str, Any]:
        if not _COMMUNE.match(code):
            raise HTTPException(422, "a commune code is five digits")
        return queries.commune(code, period=period)

    app.mount("/static", StaticFiles(directory=static), name="static")
    return app
