"""Templates and the import of filled-in sheets: columns per report type, cells read back as
reports, every refused row with its row and column."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from baocao.core.catalogue import load_catalogue
from baocao.core.models import LOCAL_TIMEZONE
from baocao.core.periods import ReportType
from baocao.core.reference import load_reference
from baocao.producers.exceptions import ReportFileError
from baocao.producers.jsonl import ParsedLine
from baocao.producers.spreadsheet.layout import FIXED_COLUMNS, template_columns
from baocao.producers.spreadsheet.reader import (
    REPORT_ID_NAMESPACE,
    ImportScope,
    SheetLimits,
    SheetReader,
    open_sheet,
)
from baocao.producers.spreadsheet.template import write_template

NOW = datetime(2025, 9, 3, 10, 0, tzinfo=LOCAL_TIMEZONE)


def read(path: Path) -> tuple[SheetReader, list[ParsedLine]]:
    with open_sheet(
        path, reference=load_reference(), catalogue=load_catalogue(), now=NOW
    ) as reader:
        return reader, list(reader)


def test_template_columns_follow_the_report_type() -> None:
    catalogue = load_catalogue()
    for report_type in ReportType:
        columns = template_columns(catalogue, report_type)
        assert tuple(c.key for c in columns[: len(FIXED_COLUMNS)]) == FIXED_COLUMNS
        indicators = [c.key for c in columns[len(FIXED_COLUMNS) :]]
        expected = [i.code for i in catalogue.for_report_type(report_type) if not i.is_derived]
        assert indicators == expected and indicators
        assert not any(catalogue[code].is_derived for code in indicators)
    daily = [c.key for c in template_columns(catalogue, ReportType.DAILY)]
    assert "security_incidents" in daily and "tthc_received" not in daily


def test_xlsx_template_has_names_labels_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "monthly.xlsx"
    columns = template_columns(load_catalogue(), ReportType.MONTHLY)
    write_template(path, columns, title="baocao monthly")
    sheet = load_workbook(path).active
    assert sheet is not None
    assert [c.value for c in sheet[1]] == [c.key for c in columns]
    assert sheet.cell(row=2, column=2).value == "Mã xã (5 chữ số)"
    received = [c.key for c in columns].index("tthc_received") + 1
    assert sheet.cell(row=2, column=received).value.startswith(
        "Số hồ sơ thủ tục hành chính tiếp nhận"
    )
    assert "Administrative dossiers received" in sheet.cell(row=1, column=received).comment.text
    assert sheet.cell(row=3, column=2).number_format == "@"  # codes stay text
    # An empty template imports as nothing at all.
    _, rows = read(path)
    assert rows == []


def fill(path: Path, rows: list[dict[str, object]]) -> None:
    write_template(
        path, template_columns(load_catalogue(), ReportType.MONTHLY), title="baocao monthly"
    )
    book = load_workbook(path)
    sheet = book.active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    for number, values in enumerate(rows, start=3):
        for key, value in values.items():
            sheet.cell(row=number, column=header.index(key) + 1, value=value)
    book.save(path)


def test_filled_rows_become_reports(tmp_path: Path) -> None:
    path = tmp_path / "filled.xlsx"
    fill(
        path,
        [
            # Codes typed as numbers, no report id, no submission time.
            {"commune_code": 70, "province_code": 1, "period": "2025-08", "revision": 1,
             "tthc_received": 120, "tthc_resolved_on_time": 101.5},
            # Everything given, the time without offset (Vietnam time).
            {"report_id": "6f1c2b0e-3d1f-4b7a-9a8e-1f2e3d4c5b6a", "commune_code": "00073",
             "province_code": "01", "period": "2025-08", "revision": "2",
             "submitted_at": datetime(2025, 9, 2, 9, 30), "tthc_received": "7"},
        ],
    )  # fmt: skip
    _, rows = read(path)
    assert [r.number for r in rows] == [3, 4]
    first, second = (r.report for r in rows)
    assert first is not None and second is not None
    assert (first.commune_code, first.province_code, first.revision) == ("00070", "01", 1)
    assert first.report_id == str(uuid.uuid5(REPORT_ID_NAMESPACE, "00070|2025-08|1"))
    assert first.submitted_at == NOW.astimezone(UTC)
    assert dict(first.indicators) == {"tthc_received": 120.0, "tthc_resolved_on_time": 101.5}
    assert second.report_id == "6f1c2b0e-3d1f-4b7a-9a8e-1f2e3d4c5b6a"
    assert second.revision == 2
    assert second.submitted_at == datetime(2025, 9, 2, 2, 30, tzinfo=UTC)
    assert dict(second.indicators) == {"tthc_received": 7.0}
    # The same sheet read again gives the same report ids.
    _, again = read(path)
    assert [r.report.report_id for r in again if r.report] == [first.report_id, second.report_id]


def test_refused_rows_point_at_their_columns(tmp_path: Path) -> None:
    path = tmp_path / "bad.xlsx"
    fill(
        path,
        [
            {"commune_code": "00070", "province_code": "01", "period": datetime(2025, 8, 1),
             "revision": 1, "tthc_received": "nhiều"},
            {"commune_code": "99999", "province_code": "01", "period": "2025-08",
             "revision": 1, "tthc_pending": -5},
            {"commune_code": "00070", "province_code": "01", "period": "2025-08",
             "revision": 1, "tthc_received": 3},
        ],
    )  # fmt: skip
    reader, rows = read(path)
    assert [r.rejected for r in rows] == [True, True, False]
    where = {
        (row.number, reader.header.column_of(r.field), str(r.code))
        for row in rows
        for r in row.reasons
    }
    assert where == {
        (3, "D (period)", "invalid_period"),
        (3, "G (tthc_received)", "schema_error"),
        (4, "B (commune_code)", "unknown_commune"),
        (4, "J (tthc_pending)", "value_out_of_range"),
    }
    period_reason = next(r for r in rows[0].reasons if r.field == "period")
    assert "type the period as text" in period_reason.message_en
    assert "dạng văn bản" in period_reason.message_vi
    assert '"tthc_received": "nhiều"' in rows[0].raw


def test_csv_with_semicolons_and_an_unknown_column(tmp_path: Path) -> None:
    path = tmp_path / "reports.csv"
    path.write_text(
        "commune_code;province_code;period;revision;tthc_received;tthc_recieved\n"
        "Mã xã (5 chữ số);Mã tỉnh;Kỳ;Lần;x;y\n"
        "\n"
        "70;01;2025-08;1;12;\n"
        "00070;01;2025-09;1;;4\n",
        encoding="utf-8-sig",
    )
    reader, rows = read(path)
    assert reader.total_rows == 5
    assert [r.number for r in rows] == [4, 5]
    assert rows[0].report is not None and dict(rows[0].report.indicators) == {"tthc_received": 12.0}
    assert [(str(r.code), reader.header.column_of(r.field)) for r in rows[1].reasons] == [
        ("unknown_indicator", "F (tthc_recieved)")
    ]


def test_a_sheet_without_the_required_columns_is_a_file_error(tmp_path: Path) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("commune,period\n00070,2025-08\n", encoding="utf-8")
    with pytest.raises(ReportFileError, match="columns commune_code, province_code, revision "):
        read(path)
    dup = tmp_path / "dup.csv"
    dup.write_text("commune_code,province_code,period,revision,revision\n", encoding="utf-8")
    with pytest.raises(ReportFileError, match="appears twice"):
        read(dup)
    with pytest.raises(ReportFileError, match=r"\.xlsx or \.csv"):
        read(tmp_path / "reports.ods")
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ReportFileError, match="cannot read"):
        read(broken)


def _two_communes(path: Path) -> None:
    fill(
        path,
        [
            {"commune_code": "00070", "province_code": "01", "period": "2025-08",
             "revision": 1, "tthc_received": 1},
            {"commune_code": "25747", "province_code": "79", "period": "2025-08",
             "revision": 1, "tthc_received": 2},
        ],
    )  # fmt: skip


@pytest.mark.parametrize(
    "scope", [ImportScope(commune_code="00070"), ImportScope(province_code="01")]
)
def test_rows_outside_the_import_scope_are_refused_with_a_reason(
    tmp_path: Path, scope: ImportScope
) -> None:
    path = tmp_path / "two.xlsx"
    _two_communes(path)
    with open_sheet(
        path, reference=load_reference(), catalogue=load_catalogue(), now=NOW, scope=scope
    ) as reader:
        inside, outside = list(reader)
    assert inside.report is not None and inside.report.commune_code == "00070"
    assert outside.report is None
    [refusal] = outside.reasons
    assert (refusal.code, refusal.field) == ("outside_import_scope", "commune_code")
    assert "25747" in refusal.message_en and "This import is limited to" in refusal.message_en


def test_a_sheet_over_the_size_limits_is_refused_before_any_row(tmp_path: Path) -> None:
    path = tmp_path / "two.xlsx"
    _two_communes(path)
    options = {"reference": load_reference(), "catalogue": load_catalogue(), "now": NOW}
    size = path.stat().st_size
    with (
        pytest.raises(ReportFileError, match="over the import limit"),
        open_sheet(path, limits=SheetLimits(max_bytes=size - 1), **options),  # type: ignore[arg-type]
    ):
        pass
    with (
        pytest.raises(ReportFileError, match="more than 1 data rows"),
        open_sheet(path, limits=SheetLimits(max_rows=1), **options),  # type: ignore[arg-type]
    ):
        pass
    # the label row counts: 2 data rows + labels fit a limit of 3
    with open_sheet(path, limits=SheetLimits(max_rows=3), **options) as reader:  # type: ignore[arg-type]
        assert len(list(reader)) == 2
    csv_path = tmp_path / "big.csv"
    csv_path.write_text("commune_code,province_code,period,revision\n" + "00070,01,2025-08,1\n" * 5)
    with (
        pytest.raises(ReportFileError, match="more than 4 data rows"),
        open_sheet(csv_path, limits=SheetLimits(max_rows=4), **options),  # type: ignore[arg-type]
    ):
        pass
