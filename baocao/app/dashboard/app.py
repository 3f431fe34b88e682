"""The dashboard's routes: a JSON API over :class:`DashboardQueries` and the static page that
polls it (served together with the export's downloads by :mod:`baocao.app.web`).

Rule: everything the browser loads comes from this package (``static/``), no CDN, so the
dashboard works on an offline provincial network.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from baocao.app.dashboard.queries import DIVISION_TYPES, DashboardQueries

__all__ = ["dashboard_routes", "static_files"]

_PROVINCE = re.compile(r"^\d{2}$")
_COMMUNE = re.compile(r"^\d{5}$")
_REPORT_TYPES = ("daily", "weekly", "monthly", "quarterly", "yearly")


def _static_dir() -> str:
    return str(resources.files("baocao.app.dashboard").joinpath("static"))


def static_files() -> StaticFiles:
    """The page's scripts and styles, mounted at ``/static``."""
    return StaticFiles(directory=_static_dir())


def dashboard_routes(queries: DashboardQueries) -> APIRouter:
    """The page and its API over ``queries`` (built by the command from injected settings)."""
    router = APIRouter()
    static = _static_dir()

    def _report_type(value: str) -> str:
        if value not in _REPORT_TYPES:
            raise HTTPException(422, f"report_type must be one of {', '.join(_REPORT_TYPES)}")
        return value

    @router.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(f"{static}/index.html", headers={"Cache-Control": "no-cache"})

    @router.get("/api/periods")
    def periods() -> list[dict[str, Any]]:
        return queries.periods()

    @router.get("/api/periods/default")
    def default_period() -> dict[str, str]:
        """Where the page opens when its URL names no period (see
        :meth:`DashboardQueries.default_period`)."""
        return queries.default_period()

    @router.get("/api/overview")
    def overview(report_type: str = Query(...), period: str = Query(...)) -> dict[str, Any]:
        return queries.overview(report_type=_report_type(report_type), period=period)

    @router.get("/api/provinces/{code}")
    def province(
        code: str,
        report_type: str = Query(...),
        period: str = Query(...),
        division_type: str | None = Query(None),
    ) -> dict[str, Any]:
        if not _PROVINCE.match(code):
            raise HTTPException(422, "a province code is two digits")
        if division_type is not None and division_type not in DIVISION_TYPES:
            raise HTTPException(422, f"a unit type is one of {', '.join(DIVISION_TYPES)}")
        return queries.province(
            code, report_type=_report_type(report_type), period=period, division_type=division_type
        )

    @router.get("/api/communes/{code}")
    def commune(code: str, period: str = Query(...)) -> dict[str, Any]:
        if not _COMMUNE.match(code):
            raise HTTPException(422, "a commune code is five digits")
        return queries.commune(code, period=period)

    return router
