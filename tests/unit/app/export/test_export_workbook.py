"""The exported workbook's layout from a report built here (no server): both languages say
the same things, formats follow the catalogue's units, the total row is the report's own."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from baocao.app.export.data import (
    Approval,
    CommuneRow,
    Completeness,
    Figure,
    ProvinceReport,
    Warning,
)
from baocao.app.export.labels import LABELS, UNITS_VI, Lang
from baocao.app.export.service import export_filename, validate_request
from baocao.app.export.workbook import (
    COUNT,
    HEADER_ROW,
    PERCENT_0_100,
    province_workbook,
    value_format,
)
from baocao.core.catalogue import load_catalogue

CATALOGUE = load_catalogue()
AT = datetime(2025, 9, 5, 16, 59, 59, tzinfo=UTC)  # 23:59:59 in Vietnam


def report(approval: Approval | None = None) -> ProvinceReport:
    return ProvinceReport(
        code="01",
        name="Thành phố Hà Nội",
        report_type="monthly",
        period="2025-08",
        completeness=Completeness(3, 2, 1, 1, 1, 66.7, 33.3, AT, "final"),
        approval=approval,
        figures=[
            Figure("tthc_received", 30.0, 2, 3, "final"),
            Figure("tthc_on_time_rate", 0.8125, 2, 3, "final"),
        ],
        communes=[
            CommuneRow("00004", "Phường Ba Đình", "on_time", 1, AT, False, {"tthc_received": 10.0}),
            CommuneRow(
                "00008",
                "Phường Ngọc Hà",
                "late",
                2,
                AT,
                True,
                {"tthc_received": 20.0},
                (Warning("far_from_history", "tthc_received", "khác xa lịch sử", "far off"),),
            ),
            CommuneRow("00025", "Phường Giảng Võ", "missing"),
        ],
        generated_at=AT,
    )


def test_both_languages_name_the_same_things() -> None:
    assert LABELS[Lang.VI].keys() == LABELS[Lang.EN].keys()
    assert {i.unit for i in CATALOGUE} <= UNITS_VI.keys()


def test_formats_follow_the_units() -> None:
    assert value_format(CATALOGUE.indicators["tthc_on_time_rate"]) == "0.0%"
    assert value_format(CATALOGUE.indicators["budget_revenue"]) == "#,##0.0"
    assert value_format(CATALOGUE.indicators["tthc_received"]) == COUNT


@pytest.mark.parametrize("lang", list(Lang))
def test_province_workbook_layout(lang: Lang) -> None:
    words = LABELS[lang]
    book = province_workbook(report(), CATALOGUE, lang)
    summary = {
        row[0]: row[1] for row in book[words["sheet_summary"]].iter_rows(values_only=True) if row[0]
    }
    assert summary[words["deadline"]] == datetime(2025, 9, 5, 23, 59, 59)
    assert summary[words["approval"]] == words["not_approved"]
    assert summary[words["completeness"]] == 66.7

    figures = book[words["sheet_indicators"]]
    assert [c.value for c in figures[HEADER_ROW + 2]][:4] == [
        "tthc_on_time_rate",
        CATALOGUE.indicators["tthc_on_time_rate"].name_vi
        if lang is Lang.VI
        else CATALOGUE.indicators["tthc_on_time_rate"].name_en,
        "tỷ lệ" if lang is Lang.VI else "ratio",
        0.8125,
    ]
    assert figures.cell(HEADER_ROW + 2, 4).number_format == "0.0%"

    communes = book[words["sheet_communes"]]
    rows = list(communes.iter_rows(min_row=HEADER_ROW + 1, values_only=True))
    assert [r[2] for r in rows[:3]] == [words["on_time"], words["late"], words["missing"]]
    assert rows[1][5] == words["yes"] and rows[1][6] == 1
    assert rows[1][7] == ("khác xa lịch sử" if lang is Lang.VI else "far off")
    assert rows[3][1] == words["province_total"] and rows[3][-1] == 30.0
    assert rows[3][2] == "2 / 3"
    assert communes.freeze_panes == f"C{HEADER_ROW + 1}"
    assert communes.page_setup.orientation == "landscape"
    assert communes.auto_filter.ref == f"A{HEADER_ROW}:I{HEADER_ROW + 3}"


def test_the_approval_is_named() -> None:
    approval = Approval("so-noi-vu-01", AT, "đã rà soát", 2)
    book = province_workbook(report(approval), CATALOGUE, Lang.VI)
    summary = {row[0]: row[1] for row in book["Tổng hợp"].iter_rows(values_only=True) if row[0]}
    assert summary["Phê duyệt"] == "Đã phê duyệt"
    assert summary["Người phê duyệt"] == "so-noi-vu-01"
    assert summary["Ghi chú phê duyệt"] == "đã rà soát"
    assert book["Tổng hợp"].cell(HEADER_ROW + 10, 2).number_format == PERCENT_0_100


def test_requests_are_checked_before_any_query() -> None:
    validate_request(province="01", report_type="monthly", period="2025-08")
    validate_request(province=None, report_type="quarterly", period="2025-Q3")
    for province, report_type, period, message in (
        ("99", "monthly", "2025-08", "not a province code"),
        ("01", "hourly", "2025-08", "not one of"),
        ("01", "monthly", "2025-13", "is not a period"),
        ("01", "weekly", "2025-08", "is a monthly period"),
    ):
        with pytest.raises(ValueError, match=message):
            validate_request(province=province, report_type=report_type, period=period)
    assert export_filename(province=None, report_type="yearly", period="2025") == (
        "baocao-national-yearly-2025.xlsx"
    )


def test_a_period_nobody_reported_in_still_lists_every_commune() -> None:
    empty = ProvinceReport(
        code="01",
        name="Thành phố Hà Nội",
        report_type="daily",
        period="2025-08-31",
        completeness=Completeness(2, 0, 0, 0, 2, 0.0, 0.0, AT, "provisional"),
        approval=None,
        figures=[],
        communes=[
            CommuneRow("00004", "Phường Ba Đình", "missing"),
            CommuneRow("00008", "B", "missing"),
        ],
        generated_at=AT,
    )
    book = province_workbook(empty, CATALOGUE, Lang.EN)
    assert book["Summary"]["A1"].value == "Daily report 2025-08-31 — Thành phố Hà Nội (01)"
    assert [r[0] for r in book["Indicators"].iter_rows(min_row=HEADER_ROW, values_only=True)] == [
        "Indicator code"
    ]
    rows = list(book["Communes"].iter_rows(min_row=HEADER_ROW + 1, values_only=True))
    assert [(r[0], r[2]) for r in rows] == [
        ("00004", "Missing"),
        ("00008", "Missing"),
        ("01", "0 / 2"),
    ]
