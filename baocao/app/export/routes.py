"""The export's download routes: the workbook ``baocao export`` writes, served over HTTP
(mounted beside the dashboard's page by :mod:`baocao.app.web`).

Rule: a download is :func:`~baocao.app.export.service.export_workbook`, nothing more, so the
file from the page and the file from the CLI never differ.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from baocao.app.export.service import (
    XLSX_MEDIA_TYPE,
    check_request,
    export_filename,
    export_workbook,
)
from baocao.app.views.exceptions import OutOfScopeError
from baocao.app.views.reader import ProvinceLogin
from baocao.app.views.scope import Scope
from baocao.core.settings import ClickHouseSettings

__all__ = ["export_routes"]

_PROVINCE = re.compile(r"^\d{2}$")


def export_routes(
    settings: ClickHouseSettings,
    *,
    scope_of: Callable[[Request], Scope],
    province_login: ProvinceLogin | None = None,
) -> APIRouter:
    """The province and national downloads, read from the views over ``settings`` under the
    scope ``scope_of`` gives a request (the signed-in officer's: it refuses before reading)."""
    router = APIRouter()
    scope = Depends(scope_of)

    def _xlsx(
        province: str | None, report_type: str, period: str, lang: str, reader: Scope
    ) -> Response:
        """The workbook ``baocao export`` writes, as a download."""
        try:
            language = check_request(
                province=province, report_type=report_type, period=period, lang=lang
            )
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        data = export_workbook(
            settings,
            province=province,
            report_type=report_type,
            period=period,
            lang=language,
            scope=reader,
            province_login=province_login,
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

    @router.get("/api/provinces/{code}/export.xlsx")
    def province_export(
        code: str,
        report_type: str = Query(...),
        period: str = Query(...),
        lang: str = "vi",
        reader: Scope = scope,
    ) -> Response:
        """The province's report of the period as an Excel workbook (see ``baocao export``)."""
        if not _PROVINCE.match(code):
            raise HTTPException(422, "a province code is two digits")
        return _xlsx(code, report_type, period, lang, reader)

    @router.get("/api/national/export.xlsx")
    def national_export(
        report_type: str = Query(...),
        period: str = Query(...),
        lang: str = "vi",
        reader: Scope = scope,
    ) -> Response:
        """The national report of the period, one row per province (``--national``): every
        province's figures, so a national officer's only."""
        if not reader.everything:
            raise OutOfScopeError("the national workbook lists every province")
        return _xlsx(None, report_type, period, lang, reader)

    return router
