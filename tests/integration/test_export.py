"""``baocao export`` on the real ClickHouse: a per-test database, migrated, holding a known
month written through the sink's row builders (Hà Nội: one commune on time, one late after a
correction, one warned, one refused, the rest missing, and the period approved; Hồ Chí Minh
City: one commune on time). The workbook is opened with openpyxl and every total is compared
with what the BI views answer, and with the numbers the seed makes."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from clickhouse_driver import Client
from openpyxl import load_workbook
from support import records
from support.cli import invoke
from support.dashboard import HANOI, NOW, PERIOD, Seeded, insert, seed
from support.export import facts, table
from support.officers import make_officers, signed_in
from support.recompute import expected_comparisons

from baocao.app.export.labels import LABELS, Lang
from baocao.app.export.workbook import HEADER_ROW
from baocao.app.web import create_app
from baocao.core.clickhouse import select_rows
from baocao.core.models import LOCAL_TIMEZONE
from baocao.core.reference import load_reference
from baocao.core.settings import Settings
from baocao.sinks.clickhouse.rows.tables import (
    APPROVAL_DECISIONS,
    COMMUNE_REPORTS,
    PROVINCE_COMPLETENESS_VALUES,
    PROVINCE_INDICATOR_VALUES,
)

pytestmark = pytest.mark.integration

HCMC = "79"
#: The views' columns and the export's labels of the counts and percentages.
COUNTS = (
    ("communes_expected", "expected"),
    ("communes_reported", "reported"),
    ("communes_on_time", "on_time"),
    ("communes_late", "late"),
    ("communes_missing", "missing"),
)
PERCENTAGES = (("completeness_pct", "completeness"), ("timeliness_pct", "timeliness"))
APPROVED_AT = (NOW - timedelta(days=3)).replace(microsecond=0)


@pytest.fixture
def seeded(db: Client) -> Seeded:
    seeded = seed(db)
    insert(
        db,
        APPROVAL_DECISIONS,
        records.decision(HANOI, PERIOD, APPROVED_AT, actor="so-noi-vu-01", note="ok"),
    )
    commune = load_reference().communes_by_province[HCMC][0]
    report = records.accepted_report(
        commune, PERIOD, 1, indicators={"tthc_received": 7.0, "traffic_accidents": 2.0}
    )
    insert(db, COMMUNE_REPORTS, report)
    insert(
        db,
        PROVINCE_COMPLETENESS_VALUES,
        records.completeness(HCMC, PERIOD, 1, reported=1, on_time=1),
    )
    insert(
        db,
        PROVINCE_INDICATOR_VALUES,
        records.figure(HCMC, PERIOD, "tthc_received", 1, 7.0),
        records.figure(HCMC, PERIOD, "traffic_accidents", 1, 2.0),
    )
    return seeded


def export(settings: Settings, tmp_path: Path, *args: str) -> Path:
    target = tmp_path / "report.xlsx"
    result = invoke(
        "export", "--report-type", "monthly", "--period", PERIOD, "-o", str(target), *args,
        settings=settings,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return target


def view(db: Client, sql: str, **params: Any) -> list[dict[str, Any]]:
    return select_rows(db, sql, {"t": "monthly", "p": PERIOD, **params})


def dossiers_column(columns: dict[str, int]) -> str:
    """The header of ``tthc_received``'s column (its catalogue name and unit)."""
    return next(
        name for name in columns if name.startswith(("Administrative dossiers", "Số hồ sơ"))
    )


def local(moment: datetime) -> datetime:
    return moment.astimezone(LOCAL_TIMEZONE).replace(tzinfo=None)


@pytest.mark.parametrize("lang", [Lang.VI, Lang.EN])
def test_province_workbook_equals_the_views(
    test_settings: Settings, db: Client, seeded: Seeded, tmp_path: Path, lang: Lang
) -> None:
    words = LABELS[lang]
    path = export(test_settings, tmp_path, "--province", HANOI, "--lang", lang.value)
    book = load_workbook(path)
    assert book.sheetnames == [
        words["sheet_summary"],
        words["sheet_indicators"],
        words["sheet_communes"],
        words["sheet_unit_types"],
    ]
    [completeness] = view(
        db,
        "SELECT * FROM province_completeness"
        " WHERE province_code = %(c)s AND report_type = %(t)s AND period = %(p)s",
        c=HANOI,
    )
    [approval] = view(
        db,
        "SELECT * FROM period_approvals"
        " WHERE province_code = %(c)s AND report_type = %(t)s AND period = %(p)s",
        c=HANOI,
    )

    summary = facts(book[words["sheet_summary"]])
    assert summary[words["expected"]] == completeness["communes_expected"] == seeded.expected
    assert summary[words["reported"]] == completeness["communes_reported"] == 2
    assert summary[words["on_time"]] == completeness["communes_on_time"] == 1
    assert summary[words["late"]] == completeness["communes_late"] == 1
    assert summary[words["missing"]] == completeness["communes_missing"] == seeded.expected - 2
    assert summary[words["completeness"]] == completeness["completeness_pct"]
    assert summary[words["timeliness"]] == completeness["timeliness_pct"]
    assert summary[words["deadline"]] == local(completeness["deadline"])
    assert summary[words["status"]] == words["approved"] == words[completeness["status"]]
    assert summary[words["approved_by"]] == approval["approved_by"] == "so-noi-vu-01"
    assert summary[words["approved_at"]] == local(approval["approved_at"]) == local(APPROVED_AT)
    assert summary[words["approval_note"]] == "ok"

    columns, rows = table(book[words["sheet_indicators"]])
    figures = view(
        db,
        "SELECT * FROM province_indicators"
        " WHERE province_code = %(c)s AND report_type = %(t)s AND period = %(p)s",
        c=HANOI,
    )
    assert len(rows) == len(figures) == 1
    sheet_figures = {row[columns[words["code"]]]: row for row in rows}
    for figure in figures:
        row = sheet_figures[figure["indicator_code"]]
        assert row[columns[words["value"]]] == figure["value"]
        assert row[columns[words["communes_reported"]]] == figure["communes_reported"]
        assert row[columns[words["communes_expected"]]] == figure["communes_expected"]
        assert row[columns[words["status"]]] == words[figure["status"]]
    assert sheet_figures["tthc_received"][columns[words["value"]]] == 30.0

    ws = book[words["sheet_communes"]]
    columns, rows = table(ws)
    *communes, total = rows
    assert len(communes) == seeded.expected
    statuses = Counter(row[columns[words["report_status"]]] for row in communes)
    assert statuses == {
        words["on_time"]: completeness["communes_on_time"],
        words["late"]: completeness["communes_late"],
        words["missing"]: completeness["communes_missing"],
    }
    by_code = {row[columns[words["commune_code"]]]: row for row in communes}
    received = dossiers_column(columns)
    values = view(
        db,
        "SELECT commune_code, indicator_code, value, revision FROM commune_indicators"
        " WHERE province_code = %(c)s AND report_type = %(t)s AND period = %(p)s",
        c=HANOI,
    )
    assert {(v["commune_code"], v["value"]) for v in values} == {
        (seeded.on_time, 10.0),
        (seeded.late, 20.0),
    }
    for value in values:
        row = by_code[value["commune_code"]]
        assert row[columns[received]] == value["value"]
        assert row[columns[words["revision"]]] == value["revision"]
    assert by_code[seeded.late][columns[words["revision"]]] == 2
    assert by_code[seeded.refused][columns[words["report_status"]]] == words["missing"]
    warnings = view(
        db,
        "SELECT commune_code, message_vi, message_en FROM report_warnings"
        " WHERE province_code = %(c)s AND report_type = %(t)s AND period = %(p)s",
        c=HANOI,
    )
    assert len(warnings) == 1
    warned = by_code[warnings[0]["commune_code"]]
    assert warned[columns[words["warnings"]]] == 1
    assert warned[columns[words["warning_details"]]] == warnings[0][f"message_{lang.value}"]
    assert sum(row[columns[words["warnings"]]] for row in communes) == len(warnings)
    assert total[columns[words["commune_name"]]] == words["province_total"]
    assert total[columns[received]] == 30.0 == figures[0]["value"]
    assert total[columns[words["warnings"]]] == len(warnings)

    # Ready to print: frozen header and name columns, repeated on every page, landscape,
    # fit to the width; dates and counts formatted.
    assert ws.freeze_panes == f"C{HEADER_ROW + 1}"
    assert ws.print_title_rows == f"${HEADER_ROW}:${HEADER_ROW}"
    assert ws.page_setup.orientation == "landscape"
    assert ws.page_setup.fitToWidth == 1 and ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.column_dimensions["B"].width >= 20
    late_row = HEADER_ROW + 1 + [r[0] for r in communes].index(seeded.late)
    assert ws.cell(late_row, columns[words["submitted_at"]] + 1).is_date
    assert ws.cell(late_row, columns[received] + 1).number_format == "#,##0"
    assert str(ws["A1"].value).endswith(f"{PERIOD} — Thành phố Hà Nội (01)")


@pytest.mark.parametrize("lang", [Lang.VI, Lang.EN])
def test_national_workbook_equals_the_views(
    test_settings: Settings, db: Client, seeded: Seeded, tmp_path: Path, lang: Lang
) -> None:
    words = LABELS[lang]
    book = load_workbook(export(test_settings, tmp_path, "--national", "--lang", lang.value))
    assert book.sheetnames == [
        words["sheet_summary"],
        words["sheet_indicators"],
        words["sheet_provinces"],
        words["sheet_unit_types"],
    ]
    [national] = view(
        db, "SELECT * FROM national_completeness WHERE report_type = %(t)s AND period = %(p)s"
    )
    summary = facts(book[words["sheet_summary"]])
    assert summary[words["expected"]] == national["communes_expected"]
    # Every unit but Đặc khu Hoàng Sa, which owes no report.
    assert summary[words["expected"]] == len(load_reference().communes) - 1
    assert summary[words["reported"]] == national["communes_reported"] == 3
    assert summary[words["on_time"]] == national["communes_on_time"] == 2
    assert summary[words["late"]] == national["communes_late"] == 1
    assert summary[words["missing"]] == national["communes_missing"]
    assert summary[words["completeness"]] == national["completeness_pct"]
    assert summary[words["timeliness"]] == national["timeliness_pct"]
    assert summary[words["provinces_approved"]] == national["provinces_approved"] == 1

    columns, rows = table(book[words["sheet_indicators"]])
    figures = {
        f["indicator_code"]: f
        for f in view(
            db, "SELECT * FROM national_indicators WHERE report_type = %(t)s AND period = %(p)s"
        )
    }
    assert (
        {row[columns[words["code"]]] for row in rows}
        == set(figures)
        == {
            "tthc_received",
            "traffic_accidents",
        }
    )
    for row in rows:
        figure = figures[row[columns[words["code"]]]]
        assert row[columns[words["value"]]] == figure["value"]
        assert row[columns[words["provinces_reported"]]] == figure["provinces_reported"]
        assert row[columns[words["communes_reported"]]] == figure["communes_reported"]
        assert row[columns[words["status"]]] == words[figure["status"]]
    assert figures["tthc_received"]["value"] == 37.0

    columns, rows = table(book[words["sheet_provinces"]])
    *provinces, total = rows
    assert len(provinces) == 34
    views = {
        p["province_code"]: p
        for p in view(
            db,
            "SELECT * FROM province_completeness WHERE report_type = %(t)s AND period = %(p)s",
        )
    }
    for row in provinces:
        expected = views[row[columns[words["province_code"]]]]
        for key, column in (*COUNTS, *PERCENTAGES):
            assert row[columns[words[column]]] == expected[key], (row, key)
    # The national row is the views' own, and the provinces add up to it.
    for key, column in COUNTS:
        assert total[columns[words[column]]] == national[key]
        assert sum(row[columns[words[column]]] for row in provinces) == national[key]
    by_code = {row[columns[words["province_code"]]]: row for row in provinces}
    hanoi, hcmc = by_code[HANOI], by_code[HCMC]
    assert hanoi[columns[words["approved_by"]]] == "so-noi-vu-01"
    assert hcmc[columns[words["approved_by"]]] == words["not_approved"]
    assert (hanoi[columns[words["warnings"]]], hcmc[columns[words["warnings"]]]) == (1, 0)
    received = dossiers_column(columns)
    assert (hanoi[columns[received]], hcmc[columns[received]], total[columns[received]]) == (
        30.0,
        7.0,
        37.0,
    )


def test_the_province_page_downloads_the_same_workbook(
    test_settings: Settings, db: Client, seeded: Seeded, tmp_path: Path
) -> None:
    officers = make_officers(tmp_path / "officers.db")
    api = signed_in(create_app(test_settings.clickhouse, door=officers.door()), officers.national)
    query = {"report_type": "monthly", "period": PERIOD, "lang": "en"}
    response = api.get(f"/api/provinces/{HANOI}/export.xlsx", params=query)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert f"baocao-01-monthly-{PERIOD}.xlsx" in response.headers["content-disposition"]
    download = tmp_path / "download.xlsx"
    download.write_bytes(response.content)
    cli = load_workbook(export(test_settings, tmp_path, "--province", HANOI, "--lang", "en"))
    served = load_workbook(download)
    for name in ("Indicators", "Communes"):
        assert list(served[name].iter_rows(min_row=HEADER_ROW, values_only=True)) == list(
            cli[name].iter_rows(min_row=HEADER_ROW, values_only=True)
        )
    national = api.get("/api/national/export.xlsx", params=query)
    assert national.status_code == 200
    assert "Provinces" in load_workbook_bytes(national.content, tmp_path).sheetnames

    url = f"/api/provinces/{HANOI}/export.xlsx"
    assert api.get(url, params={**query, "period": "2019-01"}).status_code == 404
    assert api.get(url, params={**query, "lang": "fr"}).status_code == 422
    assert api.get("/api/provinces/99/export.xlsx", params=query).status_code == 422


def load_workbook_bytes(data: bytes, tmp_path: Path) -> Any:
    path = tmp_path / "bytes.xlsx"
    path.write_bytes(data)
    return load_workbook(path)


def test_an_unknown_period_or_bad_option_is_a_clear_error(
    test_settings: Settings, seeded: Seeded, tmp_path: Path
) -> None:
    target = str(tmp_path / "x.xlsx")
    unknown = invoke(
        "export", "--province", HANOI, "--period", "2019-01", "-o", target, settings=test_settings
    )
    assert unknown.exit_code == 1
    assert "no monthly period 2019-01" in unknown.output and PERIOD in unknown.output
    assert not Path(target).exists()
    for args, message in (
        (["--period", PERIOD], "--province CODE or --national"),
        (["--province", "99", "--period", PERIOD], "not a province code"),
        (["--province", HANOI, "--period", "2025-Q3"], "is a quarterly period"),
        (["--national", "--period", PERIOD, "--lang", "fr"], "vi or en"),
    ):
        result = invoke("export", *args, "-o", target, settings=test_settings)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)


@pytest.mark.parametrize("lang", [Lang.VI, Lang.EN])
def test_workbooks_carry_last_year_and_the_year_to_date_of_the_recomputation(
    test_settings: Settings, db: Client, seeded: Seeded, tmp_path: Path, lang: Lang
) -> None:
    """ "Cùng kỳ năm trước" and "Lũy kế từ đầu năm" in the province's and the nation's
    indicator sheets equal support.recompute over every figure the views hold."""
    year, month = PERIOD[:4], PERIOD[5:]
    last_year = f"{int(year) - 1}-{month}"
    earlier = [f"{year}-{m:02d}" for m in range(1, int(month)) if f"{year}-{m:02d}" != PERIOD][:2]
    insert(
        db,
        PROVINCE_INDICATOR_VALUES,
        records.figure(HANOI, last_year, "tthc_received", 1, 55.0),
        records.figure(HCMC, last_year, "tthc_received", 1, 12.5),
        records.figure(HANOI, last_year, "traffic_accidents", 1, 4.0),
        *(records.figure(HANOI, p, "tthc_received", 1, 10.0 + i) for i, p in enumerate(earlier)),
        *(records.figure(HCMC, p, "traffic_accidents", 1, 3.0) for p in earlier),
    )
    inputs = {
        (row["province_code"], row["period"], row["indicator_code"]): (
            row["value"],
            row["numerator"],
            row["denominator"],
        )
        for row in select_rows(
            db,
            "SELECT province_code, period, indicator_code, value, numerator, denominator"
            " FROM province_indicator_values FINAL"
            " WHERE report_type = 'monthly' AND communes_reported > 0",
        )
    }
    expected = expected_comparisons(inputs)
    assert expected[(HANOI, PERIOD, "tthc_received")][0] == 55.0
    words = LABELS[lang]
    for scope, args in ((HANOI, ("--province", HANOI)), ("", ("--national",))):
        book = load_workbook(export(test_settings, tmp_path, *args, "--lang", lang.value))
        columns, rows = table(book[words["sheet_indicators"]])
        assert rows, scope
        for row in rows:
            code = row[columns[words["code"]]]
            last, to_date = expected[(scope, PERIOD, code)]
            assert row[columns[words["same_period_last_year"]]] == pytest.approx(last), code
            assert row[columns[words["year_to_date"]]] == pytest.approx(to_date), code
        codes = {row[columns[words["code"]]] for row in rows}
        assert "tthc_received" in codes


@pytest.mark.parametrize("lang", [Lang.VI, Lang.EN])
def test_workbooks_group_completeness_and_figures_by_unit_type(
    test_settings: Settings, db: Client, seeded: Seeded, tmp_path: Path, lang: Lang
) -> None:
    """The unit-type sheet counts, from the reference data and the seeded reports."""
    words = LABELS[lang]
    reference = load_reference()
    hanoi = [reference.communes[c] for c in reference.communes_by_province[HANOI]]
    accepted = {
        row["commune_code"]
        for row in select_rows(
            db,
            "SELECT commune_code FROM commune_reports FINAL"
            " WHERE report_type = 'monthly' AND period = %(p)s AND province_code = %(c)s",
            {"p": PERIOD, "c": HANOI},
        )
    }
    assert accepted
    book = load_workbook(export(test_settings, tmp_path, "--province", HANOI, "--lang", lang.value))
    columns, rows = table(book[words["sheet_unit_types"]])
    got = {
        row[columns[words["division_type"]]]: (
            row[columns[words["expected"]]],
            row[columns[words["reported"]]],
        )
        for row in rows
    }
    assert got == {
        kind: (
            sum(c.division_type == kind for c in hanoi),
            sum(c.division_type == kind and c.code in accepted for c in hanoi),
        )
        for kind in {c.division_type for c in hanoi}
    }
    national = load_workbook(export(test_settings, tmp_path, "--national", "--lang", lang.value))
    columns, rows = table(national[words["sheet_unit_types"]])
    expected_by_type = {
        row[columns[words["division_type"]]]: row[columns[words["expected"]]] for row in rows
    }
    # Every unit of the 2025 map owes a report, except Đặc khu Hoàng Sa.
    assert expected_by_type == {"xã": 2621, "phường": 687, "đặc khu": 12}
