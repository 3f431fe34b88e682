"""The export's download routes: the workbook ``baocao export`` writes, served over HTTP
(mounted beside the dashboard's page by :mod:`baocao.app.web`).

Rule: a download is :func:`~baocao.app.export.service.export_workbook`, nothing more, so the
file from the page and the file from the CLI never differ.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from baocao.app.export.service import (
    XLSX_MEDIA_TYPE,
    check_request,
    export_filename,
    export_workbook,
)
from baocao.core.settings import ClickHouseSettings

__all__ = ["export_routes"]

_PROVINCE = re.compile(r"^\d{2}$")


def export_routes(settings: ClickHouseSettings) -> APIRouter:
    """The province and national downloads, read from the views over ``settings``."""
    router = APIRouter()

    def _xlsx(province: str | None, report_type: str, period: str, lang: str) -> Response:
        """The workbook ``baocao export`` writes, as a download."""
        try:
            language = check_request(
                province=province, report_type=report_type, period=period, lang=lang
            )
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        data = export_workbook(
            settings, province=province, report_type=report_type, period=period, lang=language
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
        code: str, report_type: str = Query(...), period: str = Query(...), lang: str = "vi"
    ) -> Response:
        """The province's report of the period as an Excel workbook (see ``baocao export``)."""
        if not _PROVINCE.match(code):
            raise HTTPException(422, "a province code is two digits")
        return _xlsx(code, report_type, period, lang)

    @router.get("/api/national/export.xlsx")
    def national_export(
        report_type: str = Query(...), period: str = Query(...), lang: str = "vi"
    ) -> Response:
        """The national report of the period, one row per province (``--national``)."""
        return _xlsx(None, report_type, period, lang)

    return router
