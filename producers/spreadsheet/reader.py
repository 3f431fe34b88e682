"""Reading a filled-in spreadsheet (.xlsx or .csv) into verdicts, one per row.

Each row becomes the canonical report document and is judged by the same rules as every other
way in (:func:`baocao.producers.verdicts.judge_document`); a refused row carries every reason, each
pointing at the column of its field, so the person who typed it knows which cell to fix.

What a spreadsheet does to values, and how it is undone:

* codes typed as numbers lose their leading zeros (``70``): they are padded back (``00070``);
* a blank ``report_id`` is generated from commune, period and revision (UUID 5), so importing
  the same sheet twice sends the same reports, which the stream ignores as exact duplicates;
* a blank ``submitted_at`` is the time of the import; a time without a UTC offset (a
  spreadsheet cell has none) is Vietnam time;
* a blank indicator cell is an indicator not reported; a cell that is not a number is refused.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from baocao.core.catalogue import Catalogue
from baocao.core.models import LOCAL_TIMEZONE, CommuneReport
from baocao.core.reasons import Reason, ReasonCode, reason
from baocao.core.reference import COMMUNE_CODE_WIDTH, PROVINCE_CODE_WIDTH, ReferenceData
from baocao.producers.exceptions import ReportFileError
from baocao.producers.jsonl import ParsedLine
from baocao.producers.spreadsheet.layout import FIXED_COLUMNS, REQUIRED_COLUMNS, is_label_row
from baocao.producers.verdicts import judge_document

__all__ = [
    "SHEET_SUFFIXES",
    "ImportScope",
    "SheetHeader",
    "SheetLimits",
    "SheetReader",
    "open_sheet",
    "row_document",
]

logger = logging.getLogger(__name__)

SHEET_SUFFIXES = (".xlsx", ".csv")
#: Namespace of the report ids generated for rows without one.
REPORT_ID_NAMESPACE = uuid.UUID("0b7f6a43-2f4e-5c1d-9a53-6d1f3c0e8b21")
_CODE_WIDTHS = {"commune_code": COMMUNE_CODE_WIDTH, "province_code": PROVINCE_CODE_WIDTH}


class SheetHeader:
    """Row 1: which column holds which field or indicator."""

    def __init__(self, cells: Sequence[object], *, source: str) -> None:
        names = [_header_name(cell) for cell in cells]
        seen: dict[str, int] = {}
        for index, name in enumerate(names):
            if name is None:
                continue
            if name in seen:
                raise ReportFileError(
                    f"{source}: column {name!r} appears twice "
                    f"({get_column_letter(seen[name] + 1)} and {get_column_letter(index + 1)})"
                )
            seen[name] = index
        missing = [name for name in REQUIRED_COLUMNS if name not in seen]
        if missing:
            raise ReportFileError(
                f"{source}: row 1 must name the columns {', '.join(missing)} "
                "(start from `baocao template`)"
            )
        self.names = names
        self.index = seen
        #: Every other named column is an indicator (an unknown code is refused per row).
        self.indicators = [
            (index, name) for index, name in enumerate(names) if name and name not in FIXED_COLUMNS
        ]

    def column_of(self, field: str | None) -> str | None:
        """``"H (tthc_received)"`` for the field of a reason, ``None`` when it has none."""
        if field is None:
            return None
        name = field.removeprefix("indicators.")
        index = self.index.get(name)
        return None if index is None else f"{get_column_letter(index + 1)} ({name})"


def row_document(
    header: SheetHeader, cells: Sequence[object], *, now: datetime
) -> tuple[dict[str, Any], list[Reason]]:
    """The report document of one row, and what cannot be read from its cells (a reason
    for its field; the raw value stays in the document, so the shared rules see it too)."""
    problems: list[Reason] = []

    def cell(name: str) -> object:
        index = header.index.get(name)
        return _blank_to_none(cells[index]) if index is not None and index < len(cells) else None

    document: dict[str, Any] = {}
    for name in ("commune_code", "province_code"):
        document[name] = _code(cell(name), _CODE_WIDTHS[name])
    period = cell("period")
    if isinstance(period, datetime | date):
        problems.append(
            reason(
                ReasonCode.INVALID_PERIOD,
                f"{period!s} (the cell holds a date: type the period as text, e.g. 2025-08)",
                detail_vi=f"{period!s} (ô chứa ngày tháng: hãy gõ kỳ báo cáo dạng văn bản, "
                "vd. 2025-08)",
                field="period",
            )
        )
    document["period"] = _period_text(period)
    document["revision"] = _integer(cell("revision"))
    document["submitted_at"] = _instant(cell("submitted_at"), now=now)
    report_id = cell("report_id")
    document["report_id"] = (
        _text(report_id)
        if report_id is not None
        else str(
            uuid.uuid5(
                REPORT_ID_NAMESPACE,
                f"{document['commune_code']}|{document['period']}|{document['revision']}",
            )
        )
    )
    indicators: dict[str, object] = {}
    for index, code in header.indicators:
        value = _blank_to_none(cells[index]) if index < len(cells) else None
        if value is not None:
            indicators[code] = _number(value)
    document["indicators"] = indicators
    return document, problems


@dataclass(frozen=True, slots=True)
class ImportScope:
    """The communes an import may publish for (``--commune`` or ``--province``)."""

    commune_code: str | None = None
    province_code: str | None = None

    def refusal(self, report: CommuneReport) -> Reason | None:
        """Why ``report`` is outside the scope, or ``None``."""
        if self.commune_code is not None and report.commune_code != self.commune_code:
            return reason(
                ReasonCode.OUTSIDE_IMPORT_SCOPE,
                f"commune {self.commune_code}, not {report.commune_code}",
                detail_vi=f"xã {self.commune_code}, không phải {report.commune_code}",
                field="commune_code",
            )
        if self.province_code is not None and report.province_code != self.province_code:
            return reason(
                ReasonCode.OUTSIDE_IMPORT_SCOPE,
                f"province {self.province_code}, not commune {report.commune_code} of "
                f"province {report.province_code}",
                detail_vi=f"tỉnh {self.province_code}, không phải xã {report.commune_code} "
                f"của tỉnh {report.province_code}",
                field="commune_code",
            )
        return None


@dataclass(frozen=True, slots=True)
class SheetLimits:
    """The largest sheet an import reads: bytes on disk and data rows."""

    max_bytes: int = 20 * 1024 * 1024
    max_rows: int = 10_000

    def check_size(self, path: Path) -> None:
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise ReportFileError(f"cannot read {path}: {exc}") from exc
        if size > self.max_bytes:
            raise ReportFileError(
                f"{path} is {size:,} bytes, over the import limit of {self.max_bytes:,} "
                "(BAOCAO_GATEWAY_IMPORT_MAX_BYTES); split the sheet"
            )

    def check_rows(self, path: Path, rows: int) -> None:
        """``rows`` counts the header row (and the label row, if any) too."""
        if rows - 1 > self.max_rows:
            raise ReportFileError(
                f"{path} has more than {self.max_rows:,} data rows, the import limit "
                "(BAOCAO_GATEWAY_IMPORT_MAX_ROWS); split the sheet"
            )


class SheetReader:
    """Iterates the verdicts on the data rows of a sheet (blank rows and the label row are
    skipped); ``rows_read`` and ``total_rows`` are for a progress bar."""

    def __init__(
        self,
        rows: Iterator[Sequence[object]],
        *,
        source: str,
        total_rows: int | None,
        reference: ReferenceData,
        catalogue: Catalogue,
        now: datetime,
        scope: ImportScope | None = None,
    ) -> None:
        first = next(rows, None)
        if first is None:
            raise ReportFileError(f"{source}: the sheet is empty")
        self.header = SheetHeader(first, source=source)
        self._rows = rows
        self._reference = reference
        self._catalogue = catalogue
        self._now = now
        self._scope = scope
        self.total_rows = total_rows
        self.rows_read = 1

    def __iter__(self) -> Iterator[ParsedLine]:
        commune_index = self.header.index["commune_code"]
        for number, cells in enumerate(self._rows, start=2):
            self.rows_read = number
            if all(_blank_to_none(c) is None for c in cells):
                continue
            if number == 2 and commune_index < len(cells) and is_label_row(cells[commune_index]):
                continue
            yield self._judge(number, cells)

    def _judge(self, number: int, cells: Sequence[object]) -> ParsedLine:
        document, problems = row_document(self.header, cells, now=self._now)
        raw = json.dumps(
            {
                name: _shown(cells[i])
                for i, name in enumerate(self.header.names)
                if name and i < len(cells) and _blank_to_none(cells[i]) is not None
            },
            ensure_ascii=False,
        )
        verdict = judge_document(document, reference=self._reference, catalogue=self._catalogue)
        troubled = {p.field for p in problems}
        reasons = problems + [r for r in verdict.reasons if r.field not in troubled]
        if verdict.report is None or reasons:
            return ParsedLine(number=number, raw=raw, report=None, reasons=tuple(reasons))
        outside = self._scope.refusal(verdict.report) if self._scope is not None else None
        if outside is not None:
            return ParsedLine(number=number, raw=raw, report=None, reasons=(outside,))
        return ParsedLine(number=number, raw=raw, report=verdict.report)


@contextmanager
def open_sheet(
    path: Path,
    *,
    reference: ReferenceData,
    catalogue: Catalogue,
    now: datetime,
    sheet: str | None = None,
    scope: ImportScope | None = None,
    limits: SheetLimits | None = None,
) -> Iterator[SheetReader]:
    """A reader of the .xlsx (its first sheet, or ``sheet``) or .csv file; a file over
    ``limits`` is refused before any row is judged (nothing of it is published)."""
    suffix = path.suffix.lower()
    if suffix not in SHEET_SUFFIXES:
        raise ReportFileError(f"{path}: import reads .xlsx or .csv files, not {suffix or '?'}")
    limits = limits or SheetLimits()
    limits.check_size(path)
    options: dict[str, Any] = {
        "reference": reference,
        "catalogue": catalogue,
        "now": now,
        "scope": scope,
    }
    if suffix == ".csv":
        rows = _csv_rows(path)
        limits.check_rows(path, len(rows))
        yield SheetReader(iter(rows), source=str(path), total_rows=len(rows), **options)
        return
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (OSError, InvalidFileException, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ReportFileError(f"cannot read {path} as a spreadsheet: {exc}") from exc
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise ReportFileError(f"{path} has no sheet {sheet!r} (it has {book.sheetnames})")
        worksheet = book[sheet] if sheet is not None else book.worksheets[0]
        # Counted, not taken from the sheet's declared dimension (which a file may lie about).
        filled = (
            row
            for row in worksheet.iter_rows(values_only=True)
            if any(_blank_to_none(cell) is not None for cell in row)
        )
        counted = sum(1 for _ in itertools.islice(filled, limits.max_rows + 2))
        limits.check_rows(path, counted)
        rows_iter = worksheet.iter_rows(values_only=True)
        yield SheetReader(rows_iter, source=str(path), total_rows=worksheet.max_row, **options)
    finally:
        book.close()


def _csv_rows(path: Path) -> list[list[str]]:
    """Every row of a CSV file (a reports sheet is small); ``,`` ``;`` or tab separated, as
    spreadsheet software writes it in Vietnamese or English settings."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportFileError(f"cannot read {path} as UTF-8 CSV: {exc}") from exc
    try:
        dialect: Any = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        return list(csv.reader(io.StringIO(text, newline=""), dialect))
    except csv.Error as exc:
        raise ReportFileError(f"{path} is not valid CSV: {exc}") from exc


def _header_name(cell: object) -> str | None:
    return None if cell is None or not str(cell).strip() else str(cell).strip()


def _blank_to_none(value: object) -> object:
    return None if value is None or (isinstance(value, str) and not value.strip()) else value


def _text(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _code(value: object, width: int) -> object:
    """Codes typed as numbers (``70`` or ``70.0``) lose their zeros: pad them back."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value).zfill(width)
    if isinstance(value, str) and value.strip().isdigit():
        return value.strip().zfill(width)
    return _text(value)


def _period_text(value: object) -> object:
    """A year typed as a number (``2025``) is the yearly period ``"2025"``."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _text(value)


def _integer(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
    return value


def _number(value: object) -> object:
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value.strip()
    return value


def _instant(value: object, *, now: datetime) -> object:
    if value is None:
        return now
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return text  # refused by the shared rules, in its column
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=LOCAL_TIMEZONE)
    return value


def _shown(value: object) -> object:
    """A cell as kept in a rejects file (dates as ISO text)."""
    return value.isoformat() if isinstance(value, datetime | date) else value
