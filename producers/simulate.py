"""Realistic, reproducible monthly reports for every commune: the pipeline's test load and demo.

Figures are plausible for Vietnam after the 2025 reform (about 30,000 people per commune on
average, wards larger and busier than rural communes) and internally consistent, so the
provincial ratios come out sensible (on-time rate around 95 %, health insurance coverage around
92 %, ...). Each commune has a *profile* (size, population, staff, plans: what stays the same
from month to month) drawn from the seed and its code, and monthly figures drawn from the seed,
the period and the revision. Randomness comes from ``random.Random`` seeded with strings, which
is stable across processes and Python versions (unlike ``hash``), so a seed reproduces a run
exactly, and a commune's figures do not depend on which other communes were simulated.

Consistency kept in every report:

* ``tthc_resolved = tthc_resolved_on_time + tthc_resolved_late``;
  ``tthc_resolved + tthc_pending <= tthc_received``; ``tthc_online <= tthc_received``;
* ``budget_revenue_plan`` is the yearly plan, ``budget_revenue`` one month's collection
  (about a twelfth of the plan, with noise);
* ``public_investment_plan`` is the yearly allocation, ``public_investment_disbursed`` the
  year-to-date disbursement, never above the plan;
* ``military_recruits`` (year to date) ``<= military_recruitment_target`` (the year's);
* ``staff_in_post + staff_vacancies = staff_positions``; ``staff_trained_digital <= staff_in_post``;
* ``digital_signature_documents <= documents_issued``;
  ``health_insurance_enrolled <= population``;
  ``party_cells_congress_held <= party_cells``;
* ``party_congress_held`` is 0 or 1 (the 2025-2030 commune congresses were held in July and
  August 2025); ``party_congress_earliest_day`` is the day of month of the commune's congress,
  1-28; ``internet_coverage_pct_max`` is a percentage.
"""

from __future__ import annotations

import logging
import math
import random
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from baocao.core.catalogue import Catalogue
from baocao.core.models import LOCAL_TIMEZONE, CommuneReport
from baocao.core.reference import Commune, ReferenceData
from baocao.core.validation import MONTHLY_PERIOD
from baocao.producers.exceptions import SimulationError

__all__ = [
    "MODELLED_INDICATORS",
    "CommuneProfile",
    "default_period",
    "expected_report_count",
    "generate_reports",
    "select_communes",
]

logger = logging.getLogger(__name__)

_NAMESPACE = "baocao-simulate"


@dataclass(frozen=True, slots=True)
class _Scale:
    """Typical figures of one kind of commune, at the median size."""

    population: int
    #: Administrative dossiers received per inhabitant per month.
    dossiers_per_person: float
    online_share: tuple[float, float]
    #: Yearly budget revenue plan and public investment, million VND per inhabitant.
    revenue_per_person: float
    investment_per_person: float
    staff_positions: int
    #: Incidents relative to a rural commune of the same population.
    incident_factor: float
    internet_pct: tuple[float, float]
    poor_household_rate: tuple[float, float]
    documents_per_month: int
    digital_services: tuple[int, int]


#: Wards (phường) are urban: more people, more dossiers, more revenue; rural communes (xã)
#: have more poor households; special zones (đặc khu, island districts) rely on investment.
_SCALES: Mapping[str, _Scale] = {
    "phường": _Scale(
        population=42_000,
        dossiers_per_person=0.032,
        online_share=(0.60, 0.92),
        revenue_per_person=1.6,
        investment_per_person=0.9,
        staff_positions=45,
        incident_factor=1.4,
        internet_pct=(88.0, 99.5),
        poor_household_rate=(0.002, 0.015),
        documents_per_month=450,
        digital_services=(140, 260),
    ),
    "xã": _Scale(
        population=24_000,
        dossiers_per_person=0.014,
        online_share=(0.35, 0.80),
        revenue_per_person=0.35,
        investment_per_person=0.7,
        staff_positions=38,
        incident_factor=1.0,
        internet_pct=(62.0, 96.0),
        poor_household_rate=(0.01, 0.09),
        documents_per_month=260,
        digital_services=(90, 200),
    ),
    "đặc khu": _Scale(
        population=15_000,
        dossiers_per_person=0.020,
        online_share=(0.40, 0.85),
        revenue_per_person=1.2,
        investment_per_person=2.5,
        staff_positions=40,
        incident_factor=0.9,
        internet_pct=(55.0, 95.0),
        poor_household_rate=(0.005, 0.05),
        documents_per_month=300,
        digital_services=(90, 200),
    ),
}
_DEFAULT_SCALE = _SCALES["xã"]


@dataclass(frozen=True, slots=True)
class CommuneProfile:
    """What stays the same about a commune from one month to the next (for one seed)."""

    commune: Commune
    scale: _Scale
    #: Relative size (1 = median of its kind); log-normal, so a few communes are very large.
    size: float
    population: int
    households: int
    poor_rate: float
    near_poor_rate: float
    social_allowance_rate: float
    insured_rate: float
    staff_positions: int
    vacancy_rate: float
    digital_training_rate: float
    digital_signature_rate: float
    digital_services: int
    internet_pct: float
    budget_revenue_plan: float
    public_investment_plan: float
    military_target: int
    militia_members: int
    party_members: int
    party_cells: int
    #: When the commune's Party congress (term 2025-2030) was held.
    congress_date: date

    @classmethod
    def draw(cls, commune: Commune, *, seed: int) -> CommuneProfile:
        rng = random.Random(f"{_NAMESPACE}:{seed}:profile:{commune.code}")
        scale = _SCALES.get(commune.division_type, _DEFAULT_SCALE)
        size = min(4.0, max(0.25, rng.lognormvariate(0.0, 0.45)))
        population = round(scale.population * size)
        poor_rate = rng.uniform(*scale.poor_household_rate)
        party_members = round(population * rng.uniform(0.035, 0.075))
        return cls(
            commune=commune,
            scale=scale,
            size=size,
            population=population,
            households=round(population / rng.uniform(3.3, 3.9)),
            poor_rate=poor_rate,
            near_poor_rate=poor_rate * rng.uniform(0.6, 1.4),
            social_allowance_rate=rng.uniform(0.02, 0.045),
            insured_rate=rng.uniform(0.86, 0.975),
            staff_positions=round(scale.staff_positions * size**0.25 * rng.uniform(0.9, 1.1)),
            vacancy_rate=rng.uniform(0.0, 0.12),
            digital_training_rate=rng.uniform(0.5, 1.0),
            digital_signature_rate=rng.uniform(0.72, 0.97),
            digital_services=rng.randint(*scale.digital_services),
            internet_pct=round(rng.uniform(*scale.internet_pct), 1),
            budget_revenue_plan=round(
                population * scale.revenue_per_person * rng.lognormvariate(0.0, 0.35), 1
            ),
            public_investment_plan=round(
                population * scale.investment_per_person * rng.lognormvariate(0.0, 0.5), 1
            ),
            military_target=max(1, round(population * rng.uniform(0.0008, 0.0014))),
            militia_members=round(population * rng.uniform(0.009, 0.016)),
            party_members=party_members,
            party_cells=max(3, round(party_members / rng.uniform(25, 45))),
            congress_date=date(2025, rng.choices((7, 8), weights=(45, 55))[0], rng.randint(1, 28)),
        )


@dataclass(frozen=True, slots=True)
class _Month:
    year: int
    month: int

    @classmethod
    def parse(cls, period: str) -> _Month:
        match = MONTHLY_PERIOD.match(period)
        if match is None:
            raise SimulationError(f"period {period!r} is not a month written YYYY-MM")
        return cls(year=int(match["year"]), month=int(match["month"]))

    @property
    def period(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next_first_day(self) -> date:
        return date(self.year + self.month // 12, self.month % 12 + 1, 1)


# -- monthly figures, by group -------------------------------------------------------------
# Each group is internally consistent on its own, so a corrected revision can redraw a group
# without breaking the relationships of the others.

_Group = Callable[[CommuneProfile, _Month, random.Random], dict[str, float]]


def _poisson(rng: random.Random, mean: float) -> int:
    """Counts of rare events (incidents, accidents); exact for small means, normal above."""
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    threshold, count, product = math.exp(-mean), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def _dossiers(profile: CommuneProfile, month: _Month, rng: random.Random) -> dict[str, float]:
    seasonal = {1: 1.1, 2: 0.75}.get(month.month, 1.0)  # the Tết holiday slows February
    received = max(
        1,
        round(
            profile.population
            * profile.scale.dossiers_per_person
            * seasonal
            * rng.lognormvariate(0.0, 0.15)
        ),
    )
    resolved = round(received * rng.uniform(0.86, 0.985))
    pending = min(received - resolved, round(received * rng.uniform(0.01, 0.08)))
    on_time = round(resolved * rng.uniform(0.90, 0.995))
    return {
        "tthc_received": received,
        "tthc_online": round(received * rng.uniform(*profile.scale.online_share)),
        "tthc_resolved": resolved,
        "tthc_resolved_on_time": on_time,
        "tthc_resolved_late": resolved - on_time,
        "tthc_pending": pending,
    }


def _budget(profile: CommuneProfile, month: _Month, rng: random.Random) -> dict[str, float]:
    monthly_plan = profile.budget_revenue_plan / 12
    return {
        "budget_revenue_plan": profile.budget_revenue_plan,
        "budget_revenue": round(monthly_plan * rng.lognormvariate(0.0, 0.3), 1),
        # Salaries and running costs (about 14-22 million VND per position and month) plus
        # spending out of the commune's own revenue.
        "budget_expenditure": round(
            profile.staff_positions * rng.uniform(14, 22) + monthly_plan * rng.uniform(0.3, 0.9),
            1,
        ),
    }


def _investment(profile: CommuneProfile, month: _Month, rng: random.Random) -> dict[str, float]:
    # Disbursement is back-loaded in the year: year to date about (m/12)^1.5 of the plan.
    progress = min(1.0, (month.month / 12) ** 1.5 * rng.uniform(0.75, 1.2))
    plan = profile.public_investment_plan
    return {
        "public_investment_plan": plan,
        "public_investment_disbursed": min(plan, round(plan * progress, 1)),
    }


def _security(profile: CommuneProfile, month: _Month, rng: random.Random) -> dict[str, float]:
    per_10k = profile.population / 10_000 * profile.scale.incident_factor
    accidents = _poisson(rng, per_10k * 0.22)
    return {
        "security_incidents": _poisson(rng, per_10k * 0.9),
        "criminal_cases": _poisson(rng, per_10k * 0.35),
        "traffic_accidents": accidents,
        "traffic_deaths": sum(rng.random() < 0.3 for _ in range(accidents)),
        "fires": _poisson(rng, per_10k * 0.12),
    }


def _military(profile: CommuneProfile, month: _Month, rng: random.Random) -> dict[str, float]:
    # Enlistment happens in February: before it almost nobody of the year's call-up has left.
    share = rng.uniform(0.0, 0.1) if month.month < 2 else rng.uniform(0.93, 1.0)
    target = profile.military_target
    return {
        "military_recruitment_target": target,
        "military_recruits": min(target, round(target * share)),
        "militia_members": profile.militia_members,
    }


def _staff(profile: CommuneProfile, month: _Month, rng: random.Random) -> dict[str, float]:
    positions = profile.staff_positions
    vacancy_rate = max(0.0, profile.vacancy_rate + rng.uniform(-0.01, 0.01))
    vacancies = min(positions, round(positions * vacancy_rate))
    in_post = positions - vacancies
    return {
        "staff_positions": positions,
        "staff_in_post": in_post,
        "staff_vacancies": vacancies,
        "staff_trained_digital": round(in_post * profile.digital_training_rate),
    }


def _digital(profile: CommuneProfile, month: _Month, rng: random.Random) -> dict[str, float]:
    issued = max(
        1,
        round(profile.scale.documents_per_month * profile.size**0.5 * rng.lognormvariate(0.0, 0.2)),
    )
    signed_share = min(1.0, profile.digital_signature_rate + rng.uniform(-0.03, 0.03))
    return {
        "digital_services_offered": profile.digital_services,
        "documents_issued": issued,
        "digital_signature_documents": round(issued * signed_share),
        "internet_coverage_pct_max": profile.internet_pct,
    }


def _social(profile: CommuneProfile, month: _Month, rng: random.Random) -> dict[str, float]:
    population = profile.population
    return {
        "population": population,
        "health_insurance_enrolled": min(population, round(population * profile.insured_rate)),
        "poor_households": round(profile.households * profile.poor_rate),
        "near_poor_households": round(profile.households * profile.near_poor_rate),
        "social_allowance_recipients": round(population * profile.social_allowance_rate),
    }


def _party(profile: CommuneProfile, month: _Month, rng: random.Random) -> dict[str, float]:
    # Party cells held their congresses in April-June 2025, before the commune congresses.
    months_since = (month.year - 2025) * 12 + month.month
    share = {4: rng.uniform(0.2, 0.5), 5: rng.uniform(0.6, 0.95)}.get(
        months_since, 1.0 if months_since > 5 else 0.0
    )
    congress = profile.congress_date
    held = (month.year, month.month) >= (congress.year, congress.month)
    return {
        "party_members": profile.party_members,
        "party_cells": profile.party_cells,
        "party_cells_congress_held": min(profile.party_cells, round(profile.party_cells * share)),
        "party_congress_held": 1 if held else 0,
        "party_congress_earliest_day": congress.day,
    }


_GROUPS: Mapping[str, _Group] = {
    "dossiers": _dossiers,
    "budget": _budget,
    "investment": _investment,
    "security": _security,
    "military": _military,
    "staff": _staff,
    "digital": _digital,
    "social": _social,
    "party": _party,
}
#: Groups of monthly flows a commune plausibly corrects in a later revision.
_CORRECTABLE: tuple[str, ...] = ("dossiers", "budget", "investment", "security", "digital")

#: Every indicator code the simulator can produce.
MODELLED_INDICATORS: frozenset[str] = frozenset(
    {
        "tthc_received", "tthc_online", "tthc_resolved", "tthc_resolved_on_time",
        "tthc_resolved_late", "tthc_pending",
        "budget_revenue_plan", "budget_revenue", "budget_expenditure",
        "public_investment_plan", "public_investment_disbursed",
        "security_incidents", "criminal_cases", "traffic_accidents", "traffic_deaths", "fires",
        "military_recruitment_target", "military_recruits", "militia_members",
        "staff_positions", "staff_in_post", "staff_vacancies", "staff_trained_digital",
        "digital_services_offered", "documents_issued", "digital_signature_documents",
        "internet_coverage_pct_max",
        "population", "health_insurance_enrolled", "poor_households", "near_poor_households",
        "social_allowance_recipients",
        "party_members", "party_cells", "party_cells_congress_held", "party_congress_held",
        "party_congress_earliest_day",
    }
)  # fmt: skip


def _figures(
    profile: CommuneProfile, month: _Month, rng: random.Random, groups: Iterable[str]
) -> dict[str, float]:
    figures: dict[str, float] = {}
    for name in groups:
        figures.update(_GROUPS[name](profile, month, rng))
    return figures


# -- selection, timing and the generator ---------------------------------------------------


def select_communes(
    reference: ReferenceData, *, seed: int, communes: int | None = None
) -> list[Commune]:
    """All communes in a seeded random order (the order reports arrive in), or the first
    ``communes`` of that order."""
    order = list(reference.communes.values())
    random.Random(f"{_NAMESPACE}:{seed}:order").shuffle(order)
    if communes is None:
        return order
    if not 0 <= communes <= len(order):
        raise SimulationError(f"communes must be between 0 and {len(order)}, not {communes}")
    return order[:communes]


def expected_report_count(communes: int, revisions: float) -> int:
    """How many reports :func:`generate_reports` yields for that many communes."""
    return communes + round(communes * revisions)


def default_period(today: date | None = None) -> str:
    """The month before ``today`` (default: today in Vietnam): the period communes report on
    in the first days of a month."""
    today = today or datetime.now(LOCAL_TIMEZONE).date()
    return f"{today.replace(day=1) - timedelta(days=1):%Y-%m}"


def _submission_time(month: _Month, rng: random.Random) -> datetime:
    """A working-hours moment in the first five days after the period ends, Vietnam time."""
    day = month.next_first_day() + timedelta(days=rng.randint(0, 4))
    start = datetime(day.year, day.month, day.day, 7, 30, tzinfo=LOCAL_TIMEZONE)
    return start + timedelta(seconds=rng.randrange(10 * 3600))


def _report_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def generate_reports(
    reference: ReferenceData,
    catalogue: Catalogue,
    *,
    period: str,
    seed: int,
    communes: int | None = None,
    revisions: float = 0.0,
) -> Iterator[CommuneReport]:
    """Revision 1 of every selected commune (see :func:`select_communes`), then a corrected
    revision 2 for ``round(revisions * n)`` of them, submitted hours to days later.

    Reports carry exactly the indicators of ``catalogue.reported``. Arguments are checked at
    the call, not at the first ``next()``: :class:`SimulationError` for a bad period, share or
    count, or a reported indicator of the catalogue the simulator has no model for.
    """
    month = _Month.parse(period)
    if not 0.0 <= revisions <= 1.0:
        raise SimulationError(f"revisions must be a fraction between 0 and 1, not {revisions}")
    reported = {i.code for i in catalogue.reported}
    unmodelled = sorted(reported - MODELLED_INDICATORS)
    if unmodelled:
        raise SimulationError(f"no simulation model for indicators: {', '.join(unmodelled)}")
    selected = select_communes(reference, seed=seed, communes=communes)
    picker = random.Random(f"{_NAMESPACE}:{seed}:{month.period}:revisions")
    corrected = picker.sample(selected, k=round(len(selected) * revisions))
    return _generate(selected, corrected, month, seed=seed, reported=reported)


def _generate(
    selected: list[Commune],
    corrected: list[Commune],
    month: _Month,
    *,
    seed: int,
    reported: set[str],
) -> Iterator[CommuneReport]:
    first_revisions: dict[str, CommuneReport] = {}
    corrected_codes = {c.code for c in corrected}
    for commune in selected:
        report = _first_revision(commune, month, seed=seed, reported=reported)
        if commune.code in corrected_codes:
            first_revisions[commune.code] = report
        yield report
    for commune in corrected:
        yield _correction(first_revisions[commune.code], commune, month, seed=seed)


def _first_revision(
    commune: Commune, month: _Month, *, seed: int, reported: set[str]
) -> CommuneReport:
    profile = CommuneProfile.draw(commune, seed=seed)
    rng = random.Random(f"{_NAMESPACE}:{seed}:{month.period}:{commune.code}:1")
    figures = _figures(profile, month, rng, _GROUPS)
    return CommuneReport(
        report_id=_report_id(rng),
        commune_code=commune.code,
        province_code=commune.province_code,
        period=month.period,
        revision=1,
        submitted_at=_submission_time(month, rng),
        indicators={code: float(v) for code, v in figures.items() if code in reported},
    )


def _correction(
    first: CommuneReport, commune: Commune, month: _Month, *, seed: int
) -> CommuneReport:
    """Revision 2: one or two groups of monthly flows redrawn, everything else unchanged."""
    profile = CommuneProfile.draw(commune, seed=seed)
    rng = random.Random(f"{_NAMESPACE}:{seed}:{month.period}:{commune.code}:2")
    groups = rng.sample(_CORRECTABLE, k=rng.randint(1, 2))
    changes = _figures(profile, month, rng, groups)
    indicators = dict(first.indicators)
    indicators.update({code: float(v) for code, v in changes.items() if code in indicators})
    if indicators == dict(first.indicators) and "tthc_received" in indicators:
        # A correction must change something: one more dossier keeps every relationship.
        indicators["tthc_received"] += 1
    return CommuneReport(
        report_id=_report_id(rng),
        commune_code=first.commune_code,
        province_code=first.province_code,
        period=first.period,
        revision=2,
        submitted_at=first.submitted_at + timedelta(seconds=rng.randrange(4 * 3600, 96 * 3600)),
        indicators=indicators,
    )
