"""A filled-in ``baocao template`` sheet sent through the gateway by a signed-in clerk.

The sheet is read by the same reader as ``baocao import`` (:mod:`baocao.producers.spreadsheet`)
with the same caps (``BAOCAO_GATEWAY_IMPORT_MAX_BYTES`` / ``_MAX_ROWS``) and the import's scope
limited to the clerk's commune; each valid row is then published like a report sent from the
form (:meth:`~baocao.producers.gateway.submit.SubmissionService.publish`), so the clerk needs no
Kafka credential and every row is deduplicated by its report id.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from baocao.core.catalogue import Catalogue
from baocao.core.models import LOCAL_TIMEZONE
from baocao.core.reference import ReferenceData
from baocao.core.settings import GatewaySettings
from baocao.producers.jsonl import ParsedLine
from baocao.producers.spreadsheet.reader import ImportScope, SheetLimits, open_sheet

__all__ = ["SHEET_TYPES", "ReadSheet", "read_sheet"]

#: Content types the upload takes, and the file kind each is read as.
SHEET_TYPES = {
    "text/csv": ".csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
}


@dataclass(frozen=True, slots=True)
class ReadSheet:
    rows: list[ParsedLine]
    #: ``column_of(field)`` of the sheet's header, per refused row's reasons.
    columns: dict[int, list[str | None]]


def read_sheet(
    data: bytes,
    *,
    suffix: str,
    commune_code: str,
    options: GatewaySettings,
    reference: ReferenceData,
    catalogue: Catalogue,
) -> ReadSheet:
    """Every row's verdict (blocking: run it in a thread). Raises
    :class:`~baocao.producers.exceptions.ReportFileError` for a sheet that cannot be read or is
    over the caps."""
    limits = SheetLimits(max_bytes=options.import_max_bytes, max_rows=options.import_max_rows)
    with tempfile.TemporaryDirectory(prefix="baocao-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        with open_sheet(
            path,
            reference=reference,
            catalogue=catalogue,
            now=datetime.now(LOCAL_TIMEZONE),
            scope=ImportScope(commune_code=commune_code),
            limits=limits,
        ) as reader:
            rows = list(reader)
            columns = {
                row.number: [reader.header.column_of(r.field) for r in row.reasons] for row in rows
            }
    return ReadSheet(rows=rows, columns=columns)
