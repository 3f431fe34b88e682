"""The columns of a report spreadsheet, shared by the template writer and the importer.

Row 1 holds the machine names (``commune_code``, ``tthc_received``, ...), which the importer
reads; row 2 the Vietnamese labels for the people filling it in, which the importer skips.
Then one report per row. The indicator columns of a template are those its report type
carries (``report_types`` in the catalogue), ratios excluded: they are computed, never reported.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from baocao.core.catalogue import Catalogue, Indicator
from baocao.core.periods import ReportType

__all__ = [
    "FIXED_COLUMNS",
    "PERIOD_EXAMPLES",
    "REQUIRED_COLUMNS",
    "Column",
    "is_label_row",
    "template_columns",
]

logger = logging.getLogger(__name__)

#: The report's own fields, in template order; the indicator columns follow.
FIXED_COLUMNS: tuple[str, ...] = (
    "report_id",
    "commune_code",
    "province_code",
    "period",
    "revision",
    "submitted_at",
)
#: ``report_id`` is generated when blank and ``submitted_at`` is the time of the import.
REQUIRED_COLUMNS: tuple[str, ...] = ("commune_code", "province_code", "period", "revision")

_FIXED_LABELS: dict[str, tuple[str, str]] = {
    "report_id": (
        "Mã báo cáo (UUID; để trống để tự sinh)",
        "Report id (UUID); blank: generated from commune, period and revision",
    ),
    "commune_code": ("Mã xã (5 chữ số)", "Commune code (5 digits)"),
    "province_code": ("Mã tỉnh (2 chữ số)", "Province code (2 digits)"),
    "period": ("Kỳ báo cáo", "Period"),
    "revision": ("Lần điều chỉnh (1 = lần đầu)", "Revision (1 = first report)"),
    "submitted_at": (
        "Thời điểm gửi (để trống: lúc nhập)",
        "Submission time; blank: the time of the import (Vietnam time unless an offset is given)",
    ),
}

PERIOD_EXAMPLES: dict[ReportType, str] = {
    ReportType.DAILY: "2025-08-15",
    ReportType.WEEKLY: "2025-W31",
    ReportType.MONTHLY: "2025-08",
    ReportType.QUARTERLY: "2025-Q3",
    ReportType.YEARLY: "2025",
}


@dataclass(frozen=True, slots=True)
class Column:
    #: The header of row 1, read by the importer.
    key: str
    #: The Vietnamese label of row 2.
    label_vi: str
    #: A note for the header's comment (English name, unit).
    note: str
    #: Codes written as text so a spreadsheet keeps their leading zeros.
    text: bool = False
    indicator: Indicator | None = None


def template_columns(catalogue: Catalogue, report_type: ReportType) -> list[Column]:
    """The template's columns for ``report_type``: the fixed ones, then its indicators."""
    example = PERIOD_EXAMPLES[report_type]
    columns = []
    for key in FIXED_COLUMNS:
        label_vi, note = _FIXED_LABELS[key]
        if key == "period":
            label_vi, note = f"{label_vi} (vd. {example})", f"{note}, e.g. {example}"
        columns.append(Column(key=key, label_vi=label_vi, note=note, text=key != "revision"))
    for indicator in catalogue.for_report_type(report_type):
        if indicator.is_derived:
            continue
        columns.append(
            Column(
                key=indicator.code,
                label_vi=f"{indicator.name_vi} ({indicator.unit})",
                note=f"{indicator.name_en}; unit: {indicator.unit}; {indicator.aggregation}",
                indicator=indicator,
            )
        )
    return columns


def is_label_row(commune_cell: object) -> bool:
    """Row 2 of a template (the Vietnamese labels) is recognised by its commune cell."""
    return (
        isinstance(commune_cell, str) and commune_cell.strip() == _FIXED_LABELS["commune_code"][0]
    )
