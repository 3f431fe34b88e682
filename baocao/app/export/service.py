"""One export, from a request to the bytes of a workbook: what the CLI and the dashboard's
download route both call, so the two never differ."""

from __future__ import annotations

import logging

from baocao.app.export.data import ExportReader
from baocao.app.export.labels import Lang
from baocao.app.export.workbook import national_workbook, province_workbook, workbook_bytes
from baocao.app.views.reader import ProvinceLogin
from baocao.app.views.scope import EVERYTHING, Scope
from baocao.core.catalogue import load_catalogue
from baocao.core.periods import PeriodError, ReportType, parse_period
from baocao.core.reference import load_reference
from baocao.core.settings import ClickHouseSettings

__all__ = [
    "XLSX_MEDIA_TYPE",
    "check_request",
    "export_filename",
    "export_workbook",
    "validate_request",
]

logger = logging.getLogger(__name__)

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def validate_request(*, province: str | None, report_type: str, period: str) -> None:
    """Raise :class:`ValueError` with a clear message for an unknown province, report type
    or a period that is not one of ``report_type``."""
    types = [str(kind) for kind in ReportType]
    if report_type not in types:
        raise ValueError(f"report type {report_type!r} is not one of {', '.join(types)}")
    try:
        parsed = parse_period(period)
    except PeriodError as exc:
        raise ValueError(str(exc)) from exc
    if parsed.report_type != report_type:
        raise ValueError(f"{period!r} is a {parsed.report_type} period, not a {report_type} one")
    if province is not None and province not in load_reference().provinces:
        raise ValueError(f"{province!r} is not a province code (two digits, e.g. 01 for Hà Nội)")


def check_request(*, province: str | None, report_type: str, period: str, lang: str) -> Lang:
    """:func:`validate_request` and the language, as the CLI and the download route get
    them (strings); the language to use, or :class:`ValueError` saying what is wrong."""
    if lang not in {item.value for item in Lang}:
        raise ValueError(f"language {lang!r}: give vi or en")
    validate_request(province=province, report_type=report_type, period=period)
    return Lang(lang)


def export_filename(*, province: str | None, report_type: str, period: str) -> str:
    return f"baocao-{province or 'national'}-{report_type}-{period}.xlsx"


def export_workbook(
    settings: ClickHouseSettings,
    *,
    province: str | None,
    report_type: str,
    period: str,
    lang: Lang,
    scope: Scope = EVERYTHING,
    province_login: ProvinceLogin | None = None,
) -> bytes:
    """The .xlsx of province ``province``'s report (``None``: the national one) of
    ``period``, read from the views now."""
    validate_request(province=province, report_type=report_type, period=period)
    reader = ExportReader(settings, scope=scope, province_login=province_login)
    catalogue = load_catalogue()
    if province is None:
        book = national_workbook(
            reader.national(report_type=report_type, period=period), catalogue, lang
        )
    else:
        book = province_workbook(
            reader.province(province, report_type=report_type, period=period), catalogue, lang
        )
    data = workbook_bytes(book)
    logger.info(
        "exported %s %s %s (%s): %d bytes",
        province or "national",
        report_type,
        period,
        lang,
        len(data),
    )
    return data
