"""Writing a template: an .xlsx with labelled, commented headers, or a .csv.

The .xlsx keeps codes as text (a spreadsheet would otherwise turn commune ``00070`` into
``70``), freezes the two header rows and puts each indicator's English name and unit in its
header's comment. The .csv is UTF-8 with a byte-order mark, which spreadsheet software needs
to show Vietnamese correctly.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from baocao.producers.exceptions import ReportFileError
from baocao.producers.spreadsheet.layout import Column

__all__ = ["TEMPLATE_SUFFIXES", "write_template"]

logger = logging.getLogger(__name__)

TEMPLATE_SUFFIXES = (".xlsx", ".csv")
#: Rows formatted as text in the code columns, ready to be filled in.
_PREPARED_ROWS = 1000
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")


def write_template(path: Path, columns: list[Column], *, title: str) -> None:
    suffix = path.suffix.lower()
    if suffix not in TEMPLATE_SUFFIXES:
        raise ReportFileError(f"{path}: a template is .xlsx or .csv, not {suffix or 'nothing'}")
    try:
        if suffix == ".csv":
            _write_csv(path, columns)
        else:
            _write_xlsx(path, columns, title=title)
    except OSError as exc:
        raise ReportFileError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _write_csv(path: Path, columns: list[Column]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow([c.key for c in columns])
        writer.writerow([c.label_vi for c in columns])


def _write_xlsx(path: Path, columns: list[Column], *, title: str) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]  # the longest sheet name spreadsheets accept
    for index, column in enumerate(columns, start=1):
        header = sheet.cell(row=1, column=index, value=column.key)
        header.font = Font(bold=True)
        header.fill = _HEADER_FILL
        header.comment = Comment(f"{column.label_vi}\n{column.note}", "baocao")
        label = sheet.cell(row=2, column=index, value=column.label_vi)
        label.font = Font(italic=True)
        label.alignment = Alignment(wrap_text=True, vertical="top")
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = max(14, min(40, len(column.key) + 4))
        if column.text:
            for row in range(3, 3 + _PREPARED_ROWS):
                sheet.cell(row=row, column=index).number_format = "@"
    sheet.freeze_panes = "B3"
    book.save(path)
