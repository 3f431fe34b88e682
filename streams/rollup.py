"""The roll-up rules, as pure functions: which revision counts, and what a province adds up to.

A province's figure is always recomputed from the latest accepted revision of each of its
communes, never maintained by adding and subtracting deltas. That makes a correction replace
the old figures by construction (no double counting), lets ``max`` and ``min`` survive a
correction that lowers the extreme value, and makes every emitted figure absolute: replaying
one after a crash is harmless.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from baocao.catalogue import Catalogue
from baocao.models import CommuneReport

__all__ = [
    "Decision",
    "LatestReport",
    "ProvinceFigure",
    "aggregate_province",
    "decide",
]


class Decision(StrEnum):
    #: First report of this commune and period, or a higher revision: it replaces the old one.
    ACCEPT = "accept"
    #: The same revision with the same figures again (a resend): changes nothing.
    DUPLICATE = "duplicate"
    #: A lower revision than the one held: changes nothing, and the commune is told.
    STALE = "stale"
    #: The same revision number with different figures: refused, the commune must send a
    #: higher revision to correct.
    CONFLICT = "conflict"


@dataclass(frozen=True, slots=True)
class LatestReport:
    """What the worker keeps of the latest accepted revision of one commune and period."""

    report_id: str
    revision: int
    submitted_at_ms: int
    digest: str
    indicators: Mapping[str, float]

    @classmethod
    def of(cls, report: CommuneReport) -> LatestReport:
        return cls(
            report_id=report.report_id,
            revision=report.revision,
            submitted_at_ms=int(report.submitted_at.timestamp() * 1000),
            digest=report.content_digest(),
            indicators=dict(report.indicators),
        )

    def to_state(self) -> dict[str, Any]:
        """JSON-safe form for the Faust table."""
        return {
            "report_id": self.report_id,
            "revision": self.revision,
            "submitted_at_ms": self.submitted_at_ms,
            "digest": self.digest,
            "indicators": dict(self.indicators),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> LatestReport:
        return cls(
            report_id=state["report_id"],
            revision=int(state["revision"]),
            submitted_at_ms=int(state["submitted_at_ms"]),
            digest=state["digest"],
            indicators=dict(state["indicators"]),
        )


def decide(held: LatestReport | None, report: CommuneReport) -> Decision:
    """Whether ``report`` replaces the revision held for its commune and period."""
    if held is None or report.revision > held.revision:
        return Decision.ACCEPT
    if report.revision < held.revision:
        return Decision.STALE
    if report.report_id == held.report_id or report.content_digest() == held.digest:
        return Decision.DUPLICATE
    return Decision.CONFLICT


@dataclass(frozen=True, slots=True)
class ProvinceFigure:
    """One indicator of one province and period, as it currently stands."""

    province_code: str
    period: str
    indicator_code: str
    #: ``None`` for a ratio whose denominator sums to zero.
    value: float | None
    communes_reported: int
    numerator: float | None = None
    denominator: float | None = None


def aggregate_province(
    province_code: str,
    period: str,
    latest: Iterable[LatestReport],
    catalogue: Catalogue,
) -> list[ProvinceFigure]:
    """Every indicator of the province from the latest report of each commune.

    Sums use ``math.fsum``: exactly rounded whatever the order communes arrive in, so a
    replay or an independent recomputation gives the same figure to the last bit.
    ``sum``, ``max`` and ``min`` run over the communes that reported the indicator; a ratio is
    the summed numerator over the summed denominator of the communes that reported both.
    Indicators nobody reported produce no figure.
    """
    reports = list(latest)
    figures: list[ProvinceFigure] = []
    for indicator in catalogue.reported:
        values = [r.indicators[indicator.code] for r in reports if indicator.code in r.indicators]
        if not values:
            continue
        if indicator.aggregation == "max":
            value = max(values)
        elif indicator.aggregation == "min":
            value = min(values)
        else:
            value = math.fsum(values)
        figures.append(ProvinceFigure(province_code, period, indicator.code, value, len(values)))
    for ratio in catalogue.ratios:
        assert ratio.numerator is not None and ratio.denominator is not None
        pairs = [
            (r.indicators[ratio.numerator], r.indicators[ratio.denominator])
            for r in reports
            if ratio.numerator in r.indicators and ratio.denominator in r.indicators
        ]
        if not pairs:
            continue
        numerator = math.fsum(n for n, _ in pairs)
        denominator = math.fsum(d for _, d in pairs)
        figures.append(
            ProvinceFigure(
                province_code,
                period,
                ratio.code,
                numerator / denominator if denominator else None,
                len(pairs),
                numerator=numerator,
                denominator=denominator,
            )
        )
    return figures
