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
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from baocao.core.catalogue import Catalogue
from baocao.core.models import CommuneReport

__all__ = [
    "Decision",
    "LatestReport",
    "ProvinceFigure",
    "aggregate_province",
    "decide",
    "from_millis",
    "millis",
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
    """What the worker keeps of the latest accepted revision of one commune and period.

    Besides the figures, it keeps what was decided when the revision was accepted, so that a
    resend re-emits the same accepted record and a recomputation can count timeliness,
    warnings and amendments without looking at older revisions.
    """

    report_id: str
    revision: int
    submitted_at_ms: int
    digest: str
    indicators: Mapping[str, float]
    #: When the first accepted revision of this commune and period was received (the
    #: broker's append time; its own ``submitted_at`` for a historic load): timeliness is
    #: judged on it, so a correction after the deadline does not make a commune that
    #: reported on time late.
    first_submitted_at_ms: int = 0
    #: Event time (Kafka timestamp) of the event that was accepted.
    accepted_at_ms: int = 0
    #: Accepted after the period locked (or was approved) as a flagged amendment.
    amended: bool = False
    #: Indicator codes a soft rule flagged in this revision.
    warned: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        report: CommuneReport,
        *,
        first_submitted_at_ms: int | None = None,
        accepted_at_ms: int | None = None,
        amended: bool = False,
        warned: Iterable[str] = (),
    ) -> LatestReport:
        submitted_at_ms = millis(report.submitted_at)
        return cls(
            report_id=report.report_id,
            revision=report.revision,
            submitted_at_ms=submitted_at_ms,
            digest=report.content_digest(),
            indicators=dict(report.indicators),
            first_submitted_at_ms=(
                submitted_at_ms if first_submitted_at_ms is None else first_submitted_at_ms
            ),
            accepted_at_ms=submitted_at_ms if accepted_at_ms is None else accepted_at_ms,
            amended=amended,
            warned=frozenset(warned),
        )

    def to_state(self) -> dict[str, Any]:
        """JSON-safe form for the Faust table."""
        return {
            "report_id": self.report_id,
            "revision": self.revision,
            "submitted_at_ms": self.submitted_at_ms,
            "digest": self.digest,
            "indicators": dict(self.indicators),
            "first_submitted_at_ms": self.first_submitted_at_ms,
            "accepted_at_ms": self.accepted_at_ms,
            "amended": self.amended,
            "warned": sorted(self.warned),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> LatestReport:
        """Read a stored state, also one written by an older worker (issue 2), which kept
        neither the first submission, the acceptance time, the amendment flag nor warnings:
        those default to this revision's submission time, no amendment and no warning."""
        submitted_at_ms = int(state["submitted_at_ms"])
        return cls(
            report_id=state["report_id"],
            revision=int(state["revision"]),
            submitted_at_ms=submitted_at_ms,
            digest=state["digest"],
            indicators=dict(state["indicators"]),
            first_submitted_at_ms=int(state.get("first_submitted_at_ms", submitted_at_ms)),
            accepted_at_ms=int(state.get("accepted_at_ms", submitted_at_ms)),
            amended=bool(state.get("amended", False)),
            warned=frozenset(state.get("warned", ())),
        )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def millis(moment: datetime) -> int:
    """Milliseconds since the epoch (aware ``moment``), as Avro ``timestamp-millis`` carries
    them; integer arithmetic, so no float rounding ever moves an instant by a millisecond."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def from_millis(value: int) -> datetime:
    """The aware UTC instant of ``millis``."""
    return _EPOCH + timedelta(milliseconds=value)


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
    #: Of the communes counted, those whose latest report carries a warning on this figure
    #: (on a part of it, for a ratio), and those whose latest report is an amendment.
    communes_with_warnings: int = 0
    communes_amended: int = 0


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
        code = indicator.code
        counted = [r for r in reports if code in r.indicators]
        if not counted:
            continue
        values = [r.indicators[code] for r in counted]
        if indicator.aggregation == "max":
            value = max(values)
        elif indicator.aggregation == "min":
            value = min(values)
        else:
            value = math.fsum(values)
        figures.append(
            ProvinceFigure(
                province_code,
                period,
                code,
                value,
                len(values),
                communes_with_warnings=sum(code in r.warned for r in counted),
                communes_amended=sum(r.amended for r in counted),
            )
        )
    for ratio in catalogue.ratios:
        numerator_code, denominator_code = ratio.numerator, ratio.denominator
        assert numerator_code is not None and denominator_code is not None
        counted = [
            r
            for r in reports
            if numerator_code in r.indicators and denominator_code in r.indicators
        ]
        if not counted:
            continue
        numerator = math.fsum(r.indicators[numerator_code] for r in counted)
        denominator = math.fsum(r.indicators[denominator_code] for r in counted)
        figures.append(
            ProvinceFigure(
                province_code,
                period,
                ratio.code,
                numerator / denominator if denominator else None,
                len(counted),
                numerator=numerator,
                denominator=denominator,
                communes_with_warnings=sum(
                    numerator_code in r.warned or denominator_code in r.warned for r in counted
                ),
                communes_amended=sum(r.amended for r in counted),
            )
        )
    return figures
