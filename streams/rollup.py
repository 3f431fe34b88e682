"""The roll-up rules, as pure functions: which revision counts, and what a province adds up to.

Rule: :class:`ProvinceAggregate` must stay *exactly* :func:`aggregate_province` over the
revisions it counts, to the last bit, whatever order they came in (exact partials, see
docs/worker.md, "The aggregate"); every figure emitted is absolute.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from baocao.core.catalogue import Catalogue
from baocao.core.instants import from_millis, millis
from baocao.core.lineage import Crosswalk, legacy_parts
from baocao.core.models import CommuneReport

__all__ = [
    "Decision",
    "LatestReport",
    "ProvinceAggregate",
    "ProvinceFigure",
    "aggregate_province",
    "carried_over",
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
    #: Not a report of this commune: the sum of its predecessors' reports under pre-2025
    #: codes (:meth:`~baocao.streams.step.RollupStep` carries them over); a report under the
    #: commune's own code replaces it whatever its revision.
    legacy: bool = False
    #: Carried over from at least one split predecessor: an estimate (docs/legacy-units.md).
    approximate: bool = False

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
            # Only when set: states of reports under 2025 codes stay as they were.
            **({"legacy": True} if self.legacy else {}),
            **({"approximate": True} if self.approximate else {}),
        }

    def as_report(self, report: CommuneReport) -> CommuneReport:
        """This revision as a full report of ``report``'s commune, province and period (the
        state keeps none of them: they are those of the report that shares its key)."""
        return CommuneReport(
            report_id=self.report_id,
            commune_code=report.commune_code,
            province_code=report.province_code,
            period=report.period,
            revision=self.revision,
            submitted_at=from_millis(self.submitted_at_ms),
            indicators=dict(self.indicators),
        )

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> LatestReport:
        """Read a stored state, also one written by an older worker, which kept
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
            legacy=bool(state.get("legacy", False)),
            approximate=bool(state.get("approximate", False)),
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


def carried_over(
    new_code: str,
    province_code: str,
    period: str,
    held_old: Mapping[str, LatestReport],
    crosswalk: Crosswalk,
    catalogue: Catalogue,
    *,
    revision: int,
    accepted_at_ms: int,
) -> LatestReport:
    """What a new commune counts for a pre-merger period from its predecessors' reports under
    old codes (``held_old``, by old code, at least one): each one's part
    (:func:`~baocao.core.lineage.legacy_parts`), summed, or the max or min of them."""
    values: dict[str, list[float]] = {}
    approximate = False
    for old_code, held in sorted(held_old.items()):
        (part,) = (
            p
            for p in legacy_parts(held.indicators, crosswalk.lineage[old_code], catalogue)
            if p.new_code == new_code
        )
        approximate = approximate or part.approximate
        for code, value in part.indicators.items():
            values.setdefault(code, []).append(value)
    indicators: dict[str, float] = {}
    for code, parts in values.items():
        aggregation = catalogue.indicators[code].aggregation
        if aggregation == "max":
            indicators[code] = max(parts)
        elif aggregation == "min":
            indicators[code] = min(parts)
        else:
            indicators[code] = math.fsum(parts)
    sources = list(held_old.values())
    report = CommuneReport(
        report_id=f"legacy:{new_code}:{period}",
        commune_code=new_code,
        province_code=province_code,
        period=period,
        revision=revision,
        submitted_at=from_millis(max(h.submitted_at_ms for h in sources)),
        indicators=indicators,
    )
    carried = LatestReport.of(
        report,
        first_submitted_at_ms=min(h.first_submitted_at_ms for h in sources),
        accepted_at_ms=accepted_at_ms,
        amended=any(h.amended for h in sources),
    )
    return replace(carried, legacy=True, approximate=approximate)


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


def add_partial(partials: list[float], value: float) -> None:
    """Add ``value`` to the exact sum held as non-overlapping ``partials`` (in place).

    Shewchuk's algorithm, as in ``math.fsum`` (and the Python recipe 393090): after it,
    the partials still add up *exactly* to the previous sum plus ``value``; adding ``-value``
    retracts it exactly.
    """
    i = 0
    for y in partials:
        if abs(value) < abs(y):
            value, y = y, value
        high = value + y
        low = y - (high - value)
        if low:
            partials[i] = low
            i += 1
        value = high
    partials[i:] = [value]


def _add(partials: list[float], value: float) -> None:
    """:func:`add_partial`, with the common case inline: a sum held in one partial (whole
    numbers, or any exact sum) gets one two-sum step, no loop and no call."""
    if len(partials) == 1:
        other = partials[0]
        if abs(value) < abs(other):
            value, other = other, value
        high = value + other
        low = other - (high - value)
        if low:
            partials[0] = low
            partials.append(high)
        else:
            partials[0] = high
        return
    add_partial(partials, value)


#: One indicator in an aggregate: communes counted, of them with a warning on it, amended.
_COUNT, _WARNED, _AMENDED = 0, 1, 2


@dataclass(frozen=True, slots=True)
class _Plan:
    """A catalogue as the aggregate walks it, looked up once instead of per value."""

    #: Reported indicator code -> whether it keeps each commune's value (``max``/``min``).
    extreme: Mapping[str, bool]
    #: (ratio code, numerator code, denominator code).
    ratios: tuple[tuple[str, str, str], ...]


_PLANS: dict[int, tuple[Catalogue, _Plan]] = {}


def _plan(catalogue: Catalogue) -> _Plan:
    cached = _PLANS.get(id(catalogue))
    if cached is not None and cached[0] is catalogue:
        return cached[1]
    plan = _Plan(
        extreme={i.code: i.aggregation in ("max", "min") for i in catalogue.reported},
        ratios=tuple((r.code, str(r.numerator), str(r.denominator)) for r in catalogue.ratios),
    )
    _PLANS[id(catalogue)] = (catalogue, plan)
    return plan


class ProvinceAggregate:
    """What a province and period adds up to, kept up to date report by report.

    State (JSON-safe, :meth:`to_state`): ``counted`` commune -> revision counted;
    ``due_ms`` the deadline the on-time count was judged against; ``on_time``; per reported
    indicator ``[communes, warned, amended, partials]`` (for ``max``/``min`` the last item
    is commune -> value); per ratio ``[communes, warned, amended, numerator partials,
    denominator partials]`` over the communes that reported both parts.
    """

    __slots__ = ("counted", "due_ms", "indicators", "on_time", "ratios")

    def __init__(
        self,
        *,
        due_ms: int,
        counted: dict[str, int] | None = None,
        on_time: int = 0,
        indicators: dict[str, list[Any]] | None = None,
        ratios: dict[str, list[Any]] | None = None,
    ) -> None:
        self.due_ms = due_ms
        self.counted = counted if counted is not None else {}
        self.on_time = on_time
        self.indicators = indicators if indicators is not None else {}
        self.ratios = ratios if ratios is not None else {}

    @classmethod
    def of(
        cls, latest: Mapping[str, LatestReport], catalogue: Catalogue, *, due_ms: int
    ) -> ProvinceAggregate:
        """From scratch: commune code -> its latest revision."""
        aggregate = cls(due_ms=due_ms)
        for commune, report in latest.items():
            aggregate.add(commune, report, catalogue)
        return aggregate

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ProvinceAggregate:
        return cls(
            due_ms=int(state["due_ms"]),
            counted=dict(state["counted"]),
            on_time=int(state["on_time"]),
            # Copies all the way down: the stored value must not change under a batch that
            # may be thrown away.
            indicators={
                code: [*entry[:3], dict(entry[3]) if isinstance(entry[3], dict) else [*entry[3]]]
                for code, entry in state["indicators"].items()
            },
            ratios={
                code: [*entry[:3], [*entry[3]], [*entry[4]]]
                for code, entry in state["ratios"].items()
            },
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "due_ms": self.due_ms,
            "counted": self.counted,
            "on_time": self.on_time,
            "indicators": self.indicators,
            "ratios": self.ratios,
        }

    def replace(
        self,
        commune: str,
        before: LatestReport | None,
        after: LatestReport,
        catalogue: Catalogue,
    ) -> bool:
        """Count ``after`` instead of ``before`` for ``commune``; ``False`` (and nothing
        changed) when the aggregate does not count ``before``: it is out of step with the
        state and must be rebuilt."""
        expected = before.revision if before is not None else None
        if self.counted.get(commune) != expected:
            return False
        if before is not None:
            self._apply(commune, before, catalogue, -1)
        self._apply(commune, after, catalogue, 1)
        return True

    def add(self, commune: str, report: LatestReport, catalogue: Catalogue) -> None:
        self._apply(commune, report, catalogue, 1)

    def _apply(self, commune: str, report: LatestReport, catalogue: Catalogue, sign: int) -> None:
        if sign > 0:
            self.counted[commune] = report.revision
        else:
            del self.counted[commune]
        if report.first_submitted_at_ms <= self.due_ms:
            self.on_time += sign
        plan = _plan(catalogue)
        values, warned, amended = report.indicators, report.warned, int(report.amended)
        for code, value in values.items():
            extreme = plan.extreme.get(code)
            if extreme is None:  # not a reported indicator of the catalogue
                continue
            entry = self.indicators.get(code)
            if entry is None:
                entry = self.indicators[code] = [0, 0, 0, {} if extreme else []]
            entry[_COUNT] += sign
            entry[_WARNED] += sign * (code in warned)
            entry[_AMENDED] += sign * amended
            if extreme:
                if sign > 0:
                    entry[3][commune] = value
                else:
                    del entry[3][commune]
            else:
                _add(entry[3], value if sign > 0 else -value)
            if not entry[_COUNT]:
                del self.indicators[code]
        for ratio, numerator, denominator in plan.ratios:
            if numerator not in values or denominator not in values:
                continue
            entry = self.ratios.get(ratio)
            if entry is None:
                entry = self.ratios[ratio] = [0, 0, 0, [], []]
            entry[_COUNT] += sign
            entry[_WARNED] += sign * (numerator in warned or denominator in warned)
            entry[_AMENDED] += sign * amended
            _add(entry[3], sign * values[numerator])
            _add(entry[4], sign * values[denominator])
            if not entry[_COUNT]:
                del self.ratios[ratio]

    def figures(
        self, province_code: str, period: str, catalogue: Catalogue
    ) -> list[ProvinceFigure]:
        """The figures, equal to :func:`aggregate_province` over the counted revisions."""
        figures: list[ProvinceFigure] = []
        for indicator in catalogue.reported:
            entry = self.indicators.get(indicator.code)
            if entry is None:
                continue
            if indicator.aggregation == "max":
                value = max(entry[3].values())
            elif indicator.aggregation == "min":
                value = min(entry[3].values())
            else:
                value = math.fsum(entry[3])
            figures.append(
                ProvinceFigure(
                    province_code,
                    period,
                    indicator.code,
                    value,
                    entry[_COUNT],
                    communes_with_warnings=entry[_WARNED],
                    communes_amended=entry[_AMENDED],
                )
            )
        for ratio in catalogue.ratios:
            entry = self.ratios.get(ratio.code)
            if entry is None:
                continue
            numerator, denominator = math.fsum(entry[3]), math.fsum(entry[4])
            figures.append(
                ProvinceFigure(
                    province_code,
                    period,
                    ratio.code,
                    numerator / denominator if denominator else None,
                    entry[_COUNT],
                    numerator=numerator,
                    denominator=denominator,
                    communes_with_warnings=entry[_WARNED],
                    communes_amended=entry[_AMENDED],
                )
            )
        return figures
