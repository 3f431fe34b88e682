"""The indicator catalogue: what communes report and how each figure rolls up.

The catalogue is a data file (``schemas/indicators.json``) so that analysts can read it and
``baocao indicators --json`` can publish it unchanged. A ratio indicator is never reported by a
commune: it is computed at every tier from its summed numerator and denominator, never by
averaging the communes' rates.

Each reported indicator lists the report types that carry it (``report_types``: daily,
weekly, monthly, quarterly, yearly); a report may only contain indicators of its period's
type. A ratio is not listed: it belongs to every report type both of its parts belong to,
since it can only be computed where both are reported.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from baocao.core.periods import REPORT_TYPES, ReportType
from baocao.schemas import indicator_catalogue_path

__all__ = ["UNITS_VI", "Aggregation", "Catalogue", "Indicator", "load_catalogue"]

Aggregation = Literal["sum", "max", "min", "ratio"]
AGGREGATIONS: frozenset[str] = frozenset({"sum", "max", "min", "ratio"})


@dataclass(frozen=True, slots=True)
class Indicator:
    code: str
    name_vi: str
    name_en: str
    unit: str
    domain: str
    aggregation: Aggregation
    numerator: str | None = None
    denominator: str | None = None
    #: Counts, money and people cannot be negative; the validator rejects a negative value.
    non_negative: bool = True
    #: The report types whose reports carry this indicator, in :data:`REPORT_TYPES` order.
    report_types: tuple[ReportType, ...] = (ReportType.MONTHLY,)

    @property
    def is_derived(self) -> bool:
        """Ratios are derived from other indicators; communes do not report them."""
        return self.aggregation == "ratio"

    def as_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "code": self.code,
            "name_vi": self.name_vi,
            "name_en": self.name_en,
            "unit": self.unit,
            "domain": self.domain,
            "aggregation": self.aggregation,
            "report_types": [str(t) for t in self.report_types],
        }
        if self.is_derived:
            entry["numerator"] = self.numerator
            entry["denominator"] = self.denominator
        return entry


@dataclass(frozen=True)
class Catalogue:
    indicators: Mapping[str, Indicator]

    def __iter__(self) -> Iterator[Indicator]:
        return iter(self.indicators.values())

    def __contains__(self, code: object) -> bool:
        return code in self.indicators

    def __getitem__(self, code: str) -> Indicator:
        return self.indicators[code]

    @property
    def reported(self) -> tuple[Indicator, ...]:
        """Indicators a commune reports (everything but ratios)."""
        return tuple(i for i in self if not i.is_derived)

    @property
    def ratios(self) -> tuple[Indicator, ...]:
        return tuple(i for i in self if i.is_derived)

    def for_report_type(self, report_type: ReportType | str) -> tuple[Indicator, ...]:
        """The indicators (reported and ratios) that reports of ``report_type`` carry."""
        return tuple(i for i in self if report_type in i.report_types)


class CatalogueError(ValueError):
    """The catalogue file contradicts itself; raised at load time, never mid-stream."""


def _report_types(code: str, listed: object) -> tuple[ReportType, ...]:
    """The listed report types, checked and in canonical order."""
    if not isinstance(listed, list | tuple) or not listed:
        raise CatalogueError(f"{code}: report_types must be a non-empty list")
    unknown = sorted(str(t) for t in listed if t not in REPORT_TYPES)
    if unknown:
        raise CatalogueError(
            f"{code}: unknown report types {unknown}; known: {[str(t) for t in REPORT_TYPES]}"
        )
    if len(set(listed)) != len(listed):
        raise CatalogueError(f"{code}: a report type is listed twice")
    return tuple(t for t in REPORT_TYPES if t in listed)


def parse_catalogue(document: Mapping[str, Any]) -> Catalogue:
    entries: dict[str, dict[str, Any]] = {}
    for entry in document["indicators"]:
        code = entry["code"]
        if code in entries:
            raise CatalogueError(f"indicator {code!r} is defined twice")
        if entry["aggregation"] not in AGGREGATIONS:
            raise CatalogueError(f"{code}: unknown aggregation {entry['aggregation']!r}")
        if entry["aggregation"] != "ratio":
            entry = {**entry, "report_types": _report_types(code, entry.get("report_types"))}
        entries[code] = dict(entry)
    for code, entry in entries.items():
        if entry["aggregation"] != "ratio":
            continue
        parts = (entry.get("numerator"), entry.get("denominator"))
        for part in parts:
            if part not in entries or entries[part]["aggregation"] == "ratio":
                raise CatalogueError(f"{code}: ratio part {part!r} must be a reported indicator")
            if entries[part]["aggregation"] != "sum":
                raise CatalogueError(f"{code}: ratio part {part!r} must be summed")
        shared = tuple(
            t for t in REPORT_TYPES if all(t in entries[str(p)]["report_types"] for p in parts)
        )
        if not shared:
            raise CatalogueError(f"{code}: its parts {list(parts)} share no report type")
        if "report_types" in entry and _report_types(code, entry["report_types"]) != shared:
            raise CatalogueError(
                f"{code}: a ratio belongs to the report types its parts share "
                f"({[str(t) for t in shared]}), not {entry['report_types']}"
            )
        entry["report_types"] = shared
    return Catalogue(indicators={code: Indicator(**entry) for code, entry in entries.items()})


#: The catalogue's units (English) in Vietnamese: the one list the dashboard and the export
#: both show.
UNITS_VI: dict[str, str] = {
    "case": "vụ",
    "cell": "chi bộ",
    "day": "ngày",
    "document": "văn bản",
    "dossier": "hồ sơ",
    "flag": "có/không",
    "household": "hộ",
    "million VND": "triệu đồng",
    "percent": "%",
    "person": "người",
    "ratio": "tỷ lệ",
    "service": "dịch vụ",
}


@cache
def load_catalogue() -> Catalogue:
    """The catalogue shipped with the package, parsed and checked once per process."""
    return parse_catalogue(json.loads(indicator_catalogue_path().read_text(encoding="utf-8")))
