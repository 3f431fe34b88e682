"""The indicator catalogue: what communes report and how each figure rolls up.

The catalogue is a data file (``schemas/indicators.json``) so that analysts can read it and
``baocao indicators --json`` can publish it unchanged. A ratio indicator is never reported by a
commune: it is computed at every tier from its summed numerator and denominator, never by
averaging the communes' rates.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from schemas import indicator_catalogue_path

__all__ = ["Aggregation", "Catalogue", "Indicator", "load_catalogue"]

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


class CatalogueError(ValueError):
    """The catalogue file contradicts itself; raised at load time, never mid-stream."""


def parse_catalogue(document: Mapping[str, Any]) -> Catalogue:
    indicators: dict[str, Indicator] = {}
    for entry in document["indicators"]:
        indicator = Indicator(**entry)
        if indicator.code in indicators:
            raise CatalogueError(f"indicator {indicator.code!r} is defined twice")
        if indicator.aggregation not in AGGREGATIONS:
            raise CatalogueError(f"{indicator.code}: unknown aggregation {indicator.aggregation!r}")
        indicators[indicator.code] = indicator
    for indicator in indicators.values():
        if not indicator.is_derived:
            continue
        for part in (indicator.numerator, indicator.denominator):
            if part not in indicators or indicators[part].is_derived:
                raise CatalogueError(
                    f"{indicator.code}: ratio part {part!r} must be a reported indicator"
                )
            if indicators[part].aggregation != "sum":
                raise CatalogueError(f"{indicator.code}: ratio part {part!r} must be summed")
    return Catalogue(indicators=indicators)


@cache
def load_catalogue() -> Catalogue:
    """The catalogue shipped with the package, parsed and checked once per process."""
    return parse_catalogue(json.loads(indicator_catalogue_path().read_text(encoding="utf-8")))
