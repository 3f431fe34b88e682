"""Who must report what, from when: reporting obligations per unit and report type.

By default every 2025 commune must report every report type, always, except the units with no
administration on site (:data:`NO_ADMINISTRATION_ON_SITE`: Đặc khu Hoàng Sa). An obligation
(:class:`Obligation`) replaces that default for one unit and report type with a window of
dates; a unit with an empty set of windows for a type is exempt from it. Completeness counts,
missing lists and alerts ask :meth:`Obligations.is_due`; a report of a unit that is not due is
kept and flagged (a soft warning), never refused.

A period is due when an obligation is in force on the period's last day: a unit whose duty
starts on 20 August reports August.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from baocao.core.periods import REPORT_TYPES, Period, ReportType
from baocao.core.reasons import Reason, ReasonCode, reason
from baocao.core.reference import ReferenceData

__all__ = [
    "NO_ADMINISTRATION_ON_SITE",
    "Obligation",
    "Obligations",
    "default_obligations",
    "obligation_reasons",
]

#: Units with no administration on site, by their name in ``vietnam-provinces``: nobody
#: there can report (Hoàng Sa's administration sits in Đà Nẵng).
NO_ADMINISTRATION_ON_SITE = ("Đặc khu Hoàng Sa",)


@dataclass(frozen=True, slots=True)
class Obligation:
    """A unit must report ``report_type`` from ``starts_on`` to ``ends_on`` (inclusive;
    ``None``: without limit on that side)."""

    commune_code: str
    report_type: ReportType
    starts_on: date | None = None
    ends_on: date | None = None

    def in_force_on(self, day: date) -> bool:
        return (self.starts_on is None or self.starts_on <= day) and (
            self.ends_on is None or day <= self.ends_on
        )


@dataclass(frozen=True)
class Obligations:
    """The obligations that differ from the default (every unit, every type, always)."""

    #: (commune, report type) -> its obligations; an empty tuple: exempt.
    overrides: Mapping[tuple[str, str], tuple[Obligation, ...]] = field(default_factory=dict)

    def is_due(self, commune_code: str, period: Period) -> bool:
        """Whether ``commune_code`` must report ``period``."""
        windows = self.overrides.get((commune_code, str(period.report_type)))
        if windows is None:
            return True
        last_day = (period.ends_at - timedelta(milliseconds=1)).date()
        return any(o.in_force_on(last_day) for o in windows)

    def due(self, communes: Iterable[str], period: Period) -> list[str]:
        return [c for c in communes if self.is_due(c, period)]


def default_obligations(reference: ReferenceData) -> Obligations:
    """Every unit reports everything, except those with no administration on site."""
    exempt = [c.code for c in reference.communes.values() if c.name in NO_ADMINISTRATION_ON_SITE]
    if len(exempt) != len(NO_ADMINISTRATION_ON_SITE):
        raise ValueError(f"units without administration not all found: {exempt}")
    return Obligations({(code, str(t)): () for code in exempt for t in REPORT_TYPES})


def obligation_reasons(obligation: Obligation, reference: ReferenceData) -> list[Reason]:
    """Why an obligation cannot be recorded: an unknown unit, or an end before its start."""
    reasons: list[Reason] = []
    if obligation.commune_code not in reference.communes:
        reasons.append(
            reason(ReasonCode.UNKNOWN_COMMUNE, repr(obligation.commune_code), field="commune_code")
        )
    if (
        obligation.starts_on is not None
        and obligation.ends_on is not None
        and obligation.ends_on < obligation.starts_on
    ):
        reasons.append(
            reason(
                ReasonCode.OBLIGATION_ENDS_BEFORE_START,
                f"{obligation.ends_on.isoformat()} is before its start"
                f" {obligation.starts_on.isoformat()}",
                detail_vi=f"{obligation.ends_on.isoformat()} trước ngày bắt đầu"
                f" {obligation.starts_on.isoformat()}",
                field="ends_on",
            )
        )
    return reasons
