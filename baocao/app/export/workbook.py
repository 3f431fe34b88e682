"""The exported report's sheets, laid out to be read on screen and printed as they are.

Pure: a report (:mod:`.data`) and a language in, an openpyxl workbook out. Each table sheet
has the title in row 1, the source and export time in row 2 and its header in row
:data:`HEADER_ROW` (frozen, repeated on every printed page, with a filter), then one row per
item and a bold total row: the province's or the nation's own figures and counts as the
views give them (never a sum of the rows above), and the number of warnings listed. Pages are
landscape and fit to the paper's width; numbers keep their full value in the cell and show
with a format (thousands, percentages, dates).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from baocao.app.export.data import (
    Approval,
    CommuneRow,
    Completeness,
    Figure,
    NationalReport,
    ProvinceReport,
    UnitTypeRow,
)
from baocao.app.export.labels import Lang, label, unit_label
from baocao.core.catalogue import Catalogue, Indicator
from baocao.core.models import LOCAL_TIMEZONE

__all__ = [
    "COUNT",
    "HEADER_ROW",
    "PERCENT_0_100",
    "national_workbook",
    "province_workbook",
    "workbook_bytes",
]

HEADER_ROW = 4
COUNT = "#,##0"
#: A view's percentage (0..100, already rounded): shown with a % sign, not scaled.
PERCENT_0_100 = '0.0"%"'
#: A ratio indicator (0..1): Excel's percent format scales it.
RATIO = "0.0%"
_DECIMAL = "#,##0.0"
_DATE = {Lang.VI: "dd/mm/yyyy hh:mm", Lang.EN: "yyyy-mm-dd hh:mm"}
_STRFTIME = {Lang.VI: "%d/%m/%Y %H:%M", Lang.EN: "%Y-%m-%d %H:%M"}

_TITLE = Font(bold=True, size=14, color="12355B")
_SUBTITLE = Font(italic=True, size=9, color="4A5866")
_HEADER = Font(bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill("solid", fgColor="12355B")
_TOTAL = Font(bold=True)
_TOTAL_FILL = PatternFill("solid", fgColor="E3E8EE")
_THIN = Side(style="thin", color="B8C2CC")
_GRID = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)


@dataclass(frozen=True)
class Column:
    """A table column: its header, width (characters) and number format."""

    header: str
    width: float
    number_format: str = "General"
    wrap: bool = False


def value_format(indicator: Indicator | None) -> str:
    """How an indicator's value shows: ratios as percentages, money with one decimal,
    counts with thousands separators."""
    if indicator is None:
        return "General"
    if indicator.unit == "ratio":
        return RATIO
    if indicator.unit == "percent":
        return '0.0"%"'
    if indicator.unit == "million VND":
        return _DECIMAL
    return COUNT


def _local(moment: datetime | None) -> datetime | None:
    """An aware instant as Vietnam's wall-clock time (Excel cells have no time zone)."""
    return None if moment is None else moment.astimezone(LOCAL_TIMEZONE).replace(tzinfo=None)


def _indicator_name(catalogue: Catalogue, code: str, lang: Lang) -> str:
    indicator = catalogue.indicators.get(code)
    if indicator is None:
        return code
    return indicator.name_vi if lang is Lang.VI else indicator.name_en


def _unit(catalogue: Catalogue, code: str, lang: Lang) -> str:
    indicator = catalogue.indicators.get(code)
    return "" if indicator is None else unit_label(lang, indicator.unit)


def _ordered(catalogue: Catalogue, codes: Iterable[str]) -> list[str]:
    """``codes`` in catalogue order (domain by domain), unknown codes last."""
    wanted = set(codes)
    order = [code for code in catalogue.indicators if code in wanted]
    return order + sorted(wanted - set(order))


def _title(lang: Lang, report_type: str, period: str, *, name: str = "", code: str = "") -> str:
    kind = label(lang, report_type)
    key = "title_province" if code else "title_national"
    return label(lang, key).format(
        type=kind, Type=kind.capitalize(), period=period, name=name, code=code
    )


def _heading(ws: Worksheet, title: str, subtitle: str) -> None:
    ws["A1"] = title
    ws["A1"].font = _TITLE
    ws["A2"] = subtitle
    ws["A2"].font = _SUBTITLE
    ws.row_dimensions[1].height = 22


def _print_setup(ws: Worksheet, *, title: str, wide: bool) -> None:
    """Landscape, fit to the paper's width (A3 for wide tables), header rows on every page."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A3 if wide else ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.6
    ws.oddHeader.center.text = title.replace("&", "&&")
    ws.oddHeader.center.size = 9
    ws.oddFooter.right.text = "&P / &N"
    ws.oddFooter.right.size = 9


def _table(
    ws: Worksheet,
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    *,
    total: Sequence[Any] | None = None,
    freeze_columns: int = 0,
) -> int:
    """Write a table whose header is on :data:`HEADER_ROW`; return the last row written."""
    for index, column in enumerate(columns, start=1):
        cell = ws.cell(row=HEADER_ROW, column=index, value=column.header)
        cell.font, cell.fill, cell.border = _HEADER, _HEADER_FILL, _GRID
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
        ws.column_dimensions[get_column_letter(index)].width = column.width
    ws.row_dimensions[HEADER_ROW].height = 32
    row_number = HEADER_ROW
    for row in rows:
        row_number += 1
        _row(ws, row_number, columns, row)
    last_data_row = row_number
    if total is not None:
        row_number += 1
        _row(ws, row_number, columns, total)
        for index in range(1, len(columns) + 1):
            cell = ws.cell(row=row_number, column=index)
            cell.font, cell.fill = _TOTAL, _TOTAL_FILL
    last = get_column_letter(len(columns))
    ws.auto_filter.ref = f"A{HEADER_ROW}:{last}{max(last_data_row, HEADER_ROW + 1)}"
    ws.freeze_panes = f"{get_column_letter(freeze_columns + 1)}{HEADER_ROW + 1}"
    ws.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    if freeze_columns:
        ws.print_title_cols = f"A:{get_column_letter(freeze_columns)}"
    return row_number


def _row(ws: Worksheet, number: int, columns: Sequence[Column], values: Sequence[Any]) -> None:
    for index, (column, value) in enumerate(zip(columns, values, strict=True), start=1):
        cell = ws.cell(row=number, column=index, value=value)
        cell.border = _GRID
        cell.number_format = column.number_format
        if column.wrap:
            cell.alignment = Alignment(wrap_text=True, vertical="top")


def _summary(
    ws: Worksheet, lang: Lang, items: Sequence[tuple[str, Any, str]], *, title: str, subtitle: str
) -> None:
    """A two-column sheet of labelled facts (label, value, number format) under the title."""
    _heading(ws, title, subtitle)
    ws.column_dimensions["A"].width = 32
    ws.column_dimensions["B"].width = 44
    for offset, (key, value, number_format) in enumerate(items):
        row = HEADER_ROW + offset
        name = ws.cell(row=row, column=1, value=label(lang, key))
        name.font = Font(bold=True)
        name.border = _GRID
        cell = ws.cell(row=row, column=2, value=value)
        cell.number_format = number_format
        cell.border = _GRID
        cell.alignment = Alignment(horizontal="left", wrap_text=True)
    ws.freeze_panes = f"A{HEADER_ROW}"
    _print_setup(ws, title=title, wide=False)
    ws.page_setup.orientation = "portrait"


def _completeness_items(lang: Lang, completeness: Completeness) -> list[tuple[str, Any, str]]:
    return [
        ("deadline", _local(completeness.deadline), _DATE[lang]),
        ("status", label(lang, completeness.status), "General"),
        ("expected", completeness.expected, COUNT),
        ("reported", completeness.reported, COUNT),
        ("on_time", completeness.on_time, COUNT),
        ("late", completeness.late, COUNT),
        ("missing", completeness.missing, COUNT),
        ("completeness", completeness.completeness_pct, PERCENT_0_100),
        ("timeliness", completeness.timeliness_pct, PERCENT_0_100),
    ]


def _approval_items(lang: Lang, approval: Approval | None) -> list[tuple[str, Any, str]]:
    if approval is None:
        return [("approval", label(lang, "not_approved"), "General")]
    return [
        ("approval", label(lang, "approved"), "General"),
        ("approved_by", approval.approved_by, "General"),
        ("approved_at", _local(approval.approved_at), _DATE[lang]),
        ("approval_note", approval.note or "", "General"),
    ]


def _subtitle(lang: Lang, generated_at: datetime) -> str:
    moment = _local(generated_at)
    assert moment is not None
    return label(lang, "subtitle").format(at=moment.strftime(_STRFTIME[lang]))


def _figures_sheet(
    ws: Worksheet,
    lang: Lang,
    catalogue: Catalogue,
    figures: Sequence[Figure],
    *,
    title: str,
    subtitle: str,
    national: bool,
) -> None:
    _heading(ws, title, subtitle)
    columns = [
        Column(label(lang, "code"), 30),
        Column(label(lang, "indicator"), 46, wrap=True),
        Column(label(lang, "unit"), 12),
        Column(label(lang, "value"), 16),
        Column(label(lang, "same_period_last_year"), 16),
        Column(label(lang, "year_to_date"), 16),
    ]
    if national:
        columns.append(Column(label(lang, "provinces_reported"), 12, COUNT))
    columns += [
        Column(label(lang, "communes_reported"), 12, COUNT),
        Column(label(lang, "communes_expected"), 12, COUNT),
        Column(label(lang, "status"), 14),
    ]
    by_code = {figure.code: figure for figure in figures}
    rows = []
    for code in _ordered(catalogue, by_code):
        figure = by_code[code]
        row: list[Any] = [
            code,
            _indicator_name(catalogue, code, lang),
            _unit(catalogue, code, lang),
            figure.value,
            figure.same_period_last_year,
            figure.year_to_date,
        ]
        if national:
            row.append(figure.provinces_reported)
        row += [figure.communes_reported, figure.communes_expected, label(lang, figure.status)]
        rows.append(row)
    _table(ws, columns, rows, freeze_columns=2)
    for offset, code in enumerate(_ordered(catalogue, by_code), start=HEADER_ROW + 1):
        # The value, the same period last year and the year to date share the format.
        for column in (4, 5, 6):
            ws.cell(row=offset, column=column).number_format = value_format(
                catalogue.indicators.get(code)
            )
    _print_setup(ws, title=title, wide=False)


def _value_columns(lang: Lang, catalogue: Catalogue, codes: Sequence[str]) -> list[Column]:
    columns = []
    for code in codes:
        unit = _unit(catalogue, code, lang)
        header = _indicator_name(catalogue, code, lang) + (f" ({unit})" if unit else "")
        columns.append(Column(header, 14, value_format(catalogue.indicators.get(code))))
    return columns


def _unit_types_sheet(
    ws: Worksheet,
    lang: Lang,
    catalogue: Catalogue,
    unit_types: Sequence[UnitTypeRow],
    *,
    title: str,
    subtitle: str,
) -> None:
    """Completeness and figures by unit type (xã, phường, đặc khu)."""
    _heading(ws, title, subtitle)
    codes = _ordered(catalogue, {code for row in unit_types for code in row.figures})
    columns = [
        Column(label(lang, "division_type"), 16),
        Column(label(lang, "expected"), 11, COUNT),
        Column(label(lang, "reported"), 11, COUNT),
        Column(label(lang, "completeness"), 11, PERCENT_0_100),
        *_value_columns(lang, catalogue, codes),
    ]
    rows = [
        [
            row.division_type,
            row.expected,
            row.reported,
            row.completeness_pct,
            *(row.figures.get(code) for code in codes),
        ]
        for row in unit_types
    ]
    _table(ws, columns, rows, freeze_columns=1)
    _print_setup(ws, title=title, wide=len(columns) > 12)


def _warning_text(lang: Lang, commune: CommuneRow) -> str:
    return "; ".join(w.message_vi if lang is Lang.VI else w.message_en for w in commune.warnings)


def _period_items(lang: Lang, report_type: str, period: str) -> list[tuple[str, Any, str]]:
    return [
        ("report_type", label(lang, report_type).capitalize(), "General"),
        ("period", period, "@"),
    ]


def _book(
    lang: Lang,
    catalogue: Catalogue,
    *,
    title: str,
    generated_at: datetime,
    facts: Sequence[tuple[str, Any, str]],
    figures: Sequence[Figure],
    national: bool,
) -> tuple[Workbook, Worksheet]:
    """A workbook with the summary of ``facts`` and the figures' sheet, and the headed third
    sheet (communes, or provinces nationally) for the caller to fill."""
    subtitle = _subtitle(lang, generated_at)
    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = label(lang, "sheet_summary")
    _summary(
        summary,
        lang,
        [*facts, ("generated_at", _local(generated_at), _DATE[lang])],
        title=title,
        subtitle=subtitle,
    )
    _figures_sheet(
        book.create_sheet(label(lang, "sheet_indicators")),
        lang,
        catalogue,
        figures,
        title=title,
        subtitle=subtitle,
        national=national,
    )
    ws = book.create_sheet(label(lang, "sheet_provinces" if national else "sheet_communes"))
    _heading(ws, title, subtitle)
    return book, ws


def province_workbook(report: ProvinceReport, catalogue: Catalogue, lang: Lang) -> Workbook:
    """The province's report: summary, its figures, and every commune."""
    title = _title(lang, report.report_type, report.period, name=report.name, code=report.code)
    book, ws = _book(
        lang,
        catalogue,
        title=title,
        generated_at=report.generated_at,
        facts=[
            ("province", f"{report.name} ({report.code})", "General"),
            *_period_items(lang, report.report_type, report.period),
            *_completeness_items(lang, report.completeness),
            *_approval_items(lang, report.approval),
        ],
        figures=report.figures,
        national=False,
    )
    reported_codes = {code for commune in report.communes for code in commune.figures}
    codes = _ordered(catalogue, reported_codes)
    status_words = {
        "on_time": label(lang, "on_time"),
        "late": label(lang, "late"),
        "reported": label(lang, "reported_status"),
        "missing": label(lang, "missing"),
    }
    columns = [
        Column(label(lang, "commune_code"), 9),
        Column(label(lang, "commune_name"), 26),
        Column(label(lang, "report_status"), 14),
        Column(label(lang, "revision"), 8, COUNT),
        Column(label(lang, "submitted_at"), 17, _DATE[lang]),
        Column(label(lang, "amended"), 10),
        Column(label(lang, "warnings"), 9, COUNT),
        Column(label(lang, "warning_details"), 40, wrap=True),
        *_value_columns(lang, catalogue, codes),
    ]
    province_values = {figure.code: figure.value for figure in report.figures}
    rows = [
        [
            commune.code,
            commune.name,
            status_words[commune.status],
            commune.revision,
            _local(commune.submitted_at),
            label(lang, "yes") if commune.amended else "",
            len(commune.warnings),
            _warning_text(lang, commune),
            *(commune.figures.get(code) for code in codes),
        ]
        for commune in report.communes
    ]
    completeness = report.completeness
    total = [
        report.code,
        label(lang, "province_total"),
        f"{completeness.reported} / {completeness.expected}",
        None,
        None,
        None,
        sum(len(commune.warnings) for commune in report.communes),
        None,
        *(province_values.get(code) for code in codes),
    ]
    _table(ws, columns, rows, total=total, freeze_columns=2)
    _print_setup(ws, title=title, wide=len(columns) > 12)
    _unit_types_sheet(
        book.create_sheet(label(lang, "sheet_unit_types")),
        lang,
        catalogue,
        report.unit_types,
        title=title,
        subtitle=_subtitle(lang, report.generated_at),
    )
    return book


def national_workbook(report: NationalReport, catalogue: Catalogue, lang: Lang) -> Workbook:
    """The national report: summary, the national figures, and every province."""
    title = _title(lang, report.report_type, report.period)
    book, ws = _book(
        lang,
        catalogue,
        title=title,
        generated_at=report.generated_at,
        facts=[
            *_period_items(lang, report.report_type, report.period),
            *_completeness_items(lang, report.completeness),
            ("provinces_complete", report.provinces_complete, COUNT),
            ("provinces_approved", report.provinces_approved, COUNT),
        ],
        figures=report.figures,
        national=True,
    )
    codes = _ordered(catalogue, {code for p in report.provinces for code in p.figures})
    columns = [
        Column(label(lang, "province_code"), 8),
        Column(label(lang, "province_name"), 24),
        Column(label(lang, "expected"), 11, COUNT),
        Column(label(lang, "reported"), 11, COUNT),
        Column(label(lang, "on_time"), 10, COUNT),
        Column(label(lang, "late"), 10, COUNT),
        Column(label(lang, "missing"), 10, COUNT),
        Column(label(lang, "completeness"), 11, PERCENT_0_100),
        Column(label(lang, "timeliness"), 11, PERCENT_0_100),
        Column(label(lang, "status"), 13),
        Column(label(lang, "approved_by"), 18),
        Column(label(lang, "approved_at"), 17, _DATE[lang]),
        Column(label(lang, "warnings"), 9, COUNT),
        Column(label(lang, "communes_with_warnings"), 11, COUNT),
        *_value_columns(lang, catalogue, codes),
    ]
    rows = [
        [
            province.code,
            province.name,
            province.completeness.expected,
            province.completeness.reported,
            province.completeness.on_time,
            province.completeness.late,
            province.completeness.missing,
            province.completeness.completeness_pct,
            province.completeness.timeliness_pct,
            label(lang, province.completeness.status),
            province.approval.approved_by if province.approval else label(lang, "not_approved"),
            _local(province.approval.approved_at) if province.approval else None,
            province.warnings,
            province.communes_with_warnings,
            *(province.figures.get(code) for code in codes),
        ]
        for province in report.provinces
    ]
    national = report.completeness
    national_values = {figure.code: figure.value for figure in report.figures}
    total = [
        "",
        label(lang, "national_total"),
        national.expected,
        national.reported,
        national.on_time,
        national.late,
        national.missing,
        national.completeness_pct,
        national.timeliness_pct,
        label(lang, national.status),
        f"{report.provinces_approved} / {len(report.provinces)}",
        None,
        sum(p.warnings for p in report.provinces),
        sum(p.communes_with_warnings for p in report.provinces),
        *(national_values.get(code) for code in codes),
    ]
    _table(ws, columns, rows, total=total, freeze_columns=2)
    _print_setup(ws, title=title, wide=True)
    _unit_types_sheet(
        book.create_sheet(label(lang, "sheet_unit_types")),
        lang,
        catalogue,
        report.unit_types,
        title=title,
        subtitle=_subtitle(lang, report.generated_at),
    )
    return book


def workbook_bytes(book: Workbook) -> bytes:
    """The workbook as the bytes of an .xlsx file (for a download or a file)."""
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
