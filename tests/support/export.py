"""Reading an exported workbook back in a test: the summary sheet's facts and a table sheet's
header and rows (the layout of :mod:`baocao.app.export.workbook`)."""

from __future__ import annotations

from typing import Any

from openpyxl.worksheet.worksheet import Worksheet

from baocao.app.export.workbook import HEADER_ROW

__all__ = ["facts", "table"]


def table(ws: Worksheet) -> tuple[dict[str, int], list[tuple[Any, ...]]]:
    """The header (text -> column index) and the rows below it, the total row last."""
    header = [cell.value for cell in ws[HEADER_ROW]]
    rows = list(ws.iter_rows(min_row=HEADER_ROW + 1, values_only=True))
    return {str(text): index for index, text in enumerate(header)}, rows


def facts(ws: Worksheet) -> dict[str, Any]:
    """The summary sheet: label -> value."""
    return {
        str(name): value
        for name, value in ws.iter_rows(min_row=HEADER_ROW, max_col=2, values_only=True)
        if name
    }
