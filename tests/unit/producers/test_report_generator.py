"""The simulator: every commune once, valid, consistent, realistic and reproducible."""

from __future__ import annotations

import statistics
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta

import pytest

from baocao.core.catalogue import Catalogue, Indicator, load_catalogue
from baocao.core.models import CommuneReport
from baocao.core.reference import ReferenceData, load_reference
from baocao.core.validation import validate_report
from baocao.producers.exceptions import SimulationError
from baocao.producers.simulate import (
    MODELLED_INDICATORS,
    default_period,
    expected_report_count,
    generate_reports,
    select_communes,
)

PERIOD = "2025-08"


@pytest.fixture(scope="module")
def reference() -> ReferenceData:
    return load_reference()


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture(scope="module")
def full_run(reference: ReferenceData, catalogue: Catalogue) -> list[CommuneReport]:
    return list(generate_reports(reference, catalogue, period=PERIOD, seed=2025, revisions=0.05))


def test_every_commune_reports_once_then_five_percent_correct(
    full_run: list[CommuneReport], reference: ReferenceData
) -> None:
    first = [r for r in full_run if r.revision == 1]
    second = [r for r in full_run if r.revision == 2]
    assert len(reference.communes) == 3321
    assert sorted(r.commune_code for r in first) == sorted(reference.communes)
    assert len(second) == round(3321 * 0.05) == 166
    assert len(full_run) == expected_report_count(3321, 0.05) == 3487
    assert {r.revision for r in full_run} == {1, 2}
    # Corrections come after every first revision, one per corrected commune.
    assert all(r.revision == 1 for r in full_run[:3321])
    assert len({r.commune_code for r in second}) == 166
    assert all(r.period == PERIOD for r in full_run)
    assert len({r.report_id for r in full_run}) == len(full_run)


def test_every_report_passes_validation(
    full_run: list[CommuneReport], reference: ReferenceData, catalogue: Catalogue
) -> None:
    invalid = {r.key: validate_report(r, reference, catalogue) for r in full_run}
    assert {key: reasons for key, reasons in invalid.items() if reasons} == {}


def test_reports_carry_every_reported_indicator(
    full_run: list[CommuneReport], catalogue: Catalogue
) -> None:
    reported = {i.code for i in catalogue.reported}
    assert len(reported) == 37
    assert reported == MODELLED_INDICATORS
    assert all(set(r.indicators) == reported for r in full_run)


def test_province_codes_match_the_reference(
    full_run: list[CommuneReport], reference: ReferenceData
) -> None:
    assert all(
        reference.communes[r.commune_code].province_code == r.province_code for r in full_run
    )
    assert len({r.province_code for r in full_run}) == 34


RELATIONSHIPS: dict[str, Callable[[dict[str, float]], bool]] = {
    "resolved = on time + late": lambda v: (
        v["tthc_resolved"] == v["tthc_resolved_on_time"] + v["tthc_resolved_late"]
    ),
    "resolved + pending <= received": lambda v: (
        v["tthc_resolved"] + v["tthc_pending"] <= v["tthc_received"]
    ),
    "online <= received": lambda v: v["tthc_online"] <= v["tthc_received"],
    "disbursed <= plan": lambda v: v["public_investment_disbursed"] <= v["public_investment_plan"],
    "recruits <= target": lambda v: v["military_recruits"] <= v["military_recruitment_target"],
    "in post + vacancies = positions": lambda v: (
        v["staff_in_post"] + v["staff_vacancies"] == v["staff_positions"]
    ),
    "trained <= in post": lambda v: v["staff_trained_digital"] <= v["staff_in_post"],
    "signed <= issued": lambda v: v["digital_signature_documents"] <= v["documents_issued"],
    "insured <= population": lambda v: v["health_insurance_enrolled"] <= v["population"],
    "cells with congress <= cells": lambda v: v["party_cells_congress_held"] <= v["party_cells"],
    "congress flag is 0 or 1": lambda v: v["party_congress_held"] in (0.0, 1.0),
    "congress day 1-31": lambda v: (
        1 <= v["party_congress_earliest_day"] <= 31
        and v["party_congress_earliest_day"].is_integer()
    ),
    "internet coverage is a percentage": lambda v: 0 <= v["internet_coverage_pct_max"] <= 100,
    "deaths <= accidents": lambda v: v["traffic_deaths"] <= v["traffic_accidents"],
    "poor households <= households": lambda v: (
        v["poor_households"] + v["near_poor_households"] < v["population"] / 3
    ),
    "revenue about a twelfth of the yearly plan": lambda v: (
        v["budget_revenue_plan"] / 12 / 5 < v["budget_revenue"] < v["budget_revenue_plan"] / 12 * 5
    ),
    "counts are whole numbers": lambda v: all(
        value.is_integer()
        for code, value in v.items()
        if not code.startswith(("budget_", "public_investment_", "internet_"))
    ),
}


@pytest.mark.parametrize("name", sorted(RELATIONSHIPS))
def test_relationships_hold_in_every_report(name: str, full_run: list[CommuneReport]) -> None:
    broken = [r.key for r in full_run if not RELATIONSHIPS[name](dict(r.indicators))]
    assert broken == []


def test_relationships_hold_across_periods(reference: ReferenceData, catalogue: Catalogue) -> None:
    for period in ("2025-01", "2025-02", "2025-07", "2025-12", "2026-03"):
        for report in generate_reports(
            reference, catalogue, period=period, seed=11, communes=300, revisions=0.2
        ):
            values = dict(report.indicators)
            assert [n for n, holds in RELATIONSHIPS.items() if not holds(values)] == []
            assert validate_report(report, reference, catalogue) == []


def test_same_seed_same_reports_other_seed_other_reports(
    reference: ReferenceData, catalogue: Catalogue, full_run: list[CommuneReport]
) -> None:
    again = list(generate_reports(reference, catalogue, period=PERIOD, seed=2025, revisions=0.05))
    other = list(generate_reports(reference, catalogue, period=PERIOD, seed=2026, revisions=0.05))
    assert again == full_run
    assert [r.to_json() for r in again] == [r.to_json() for r in full_run]
    assert [r.commune_code for r in other] != [r.commune_code for r in full_run]
    by_commune = {r.commune_code: r for r in full_run if r.revision == 1}
    differing = [
        r.commune_code
        for r in other
        if r.revision == 1 and r.indicators != by_commune[r.commune_code].indicators
    ]
    assert len(differing) == 3321


def test_a_subset_is_the_head_of_the_full_order_with_the_same_figures(
    reference: ReferenceData, catalogue: Catalogue, full_run: list[CommuneReport]
) -> None:
    subset = list(generate_reports(reference, catalogue, period=PERIOD, seed=2025, communes=50))
    assert len(subset) == 50
    assert subset == full_run[:50]
    assert [c.code for c in select_communes(reference, seed=2025, communes=50)] == [
        r.commune_code for r in subset
    ]


def test_a_commune_keeps_its_size_from_month_to_month(
    reference: ReferenceData, catalogue: Catalogue
) -> None:
    august = {
        r.commune_code: r
        for r in generate_reports(reference, catalogue, period="2025-08", seed=5, communes=100)
    }
    september = {
        r.commune_code: r
        for r in generate_reports(reference, catalogue, period="2025-09", seed=5, communes=100)
    }
    assert august.keys() == september.keys()
    for code, report in august.items():
        for stock in ("population", "staff_positions", "budget_revenue_plan", "party_cells"):
            assert report.indicators[stock] == september[code].indicators[stock]
        assert report.report_id != september[code].report_id
    changed = [c for c, r in august.items() if r.indicators != september[c].indicators]
    assert len(changed) == 100  # monthly flows are drawn again each month


def test_corrections_change_some_figures_and_come_later(full_run: list[CommuneReport]) -> None:
    first = {r.commune_code: r for r in full_run if r.revision == 1}
    for correction in (r for r in full_run if r.revision == 2):
        original = first[correction.commune_code]
        assert correction.indicators != original.indicators
        assert correction.content_digest() != original.content_digest()
        assert correction.indicators["population"] == original.indicators["population"]
        assert correction.submitted_at > original.submitted_at
        assert correction.report_id != original.report_id
        assert correction.province_code == original.province_code


def test_submission_times_are_in_the_first_days_after_the_period(
    full_run: list[CommuneReport],
) -> None:
    for report in full_run:
        local = report.submitted_at
        assert local.utcoffset() == timedelta(hours=7)
        if report.revision == 1:
            assert date(2025, 9, 1) <= local.date() <= date(2025, 9, 5)
            assert 7 <= local.hour <= 17
        else:
            assert date(2025, 9, 1) <= local.date() <= date(2025, 9, 10)
        assert local.microsecond == 0  # Avro timestamp-millis keeps it exactly
        assert uuid.UUID(report.report_id).version == 4


def test_wards_are_bigger_and_busier_than_rural_communes(
    full_run: list[CommuneReport], reference: ReferenceData
) -> None:
    def median(kind: str, code: str) -> float:
        return statistics.median(
            r.indicators[code]
            for r in full_run
            if r.revision == 1 and reference.communes[r.commune_code].division_type == kind
        )

    assert median("phường", "population") > 1.5 * median("xã", "population")
    assert median("phường", "tthc_received") > 3 * median("xã", "tthc_received")
    assert median("phường", "budget_revenue") > 3 * median("xã", "budget_revenue")
    assert median("xã", "poor_households") > 2 * median("phường", "poor_households")
    total_population = sum(r.indicators["population"] for r in full_run if r.revision == 1)
    assert 85e6 < total_population < 120e6  # Viet Nam: about 101 million people


def test_provincial_ratios_come_out_plausible(full_run: list[CommuneReport]) -> None:
    latest = {r.commune_code: r for r in full_run}  # revision 2 comes later and wins

    def ratio(numerator: str, denominator: str) -> float:
        num = sum(r.indicators[numerator] for r in latest.values())
        return num / sum(r.indicators[denominator] for r in latest.values())

    assert 0.90 < ratio("tthc_resolved_on_time", "tthc_resolved") < 0.99
    assert 0.85 < ratio("health_insurance_enrolled", "population") < 0.98
    assert 0.85 < ratio("staff_in_post", "staff_positions") < 1.0
    assert 0.03 < ratio("budget_revenue", "budget_revenue_plan") < 0.15  # one month of a year
    assert 0.3 < ratio("public_investment_disbursed", "public_investment_plan") < 0.8


def test_party_congresses_were_held_in_july_and_august_2025(
    reference: ReferenceData, catalogue: Catalogue
) -> None:
    def flags(period: str) -> Counter[float]:
        return Counter(
            r.indicators["party_congress_held"]
            for r in generate_reports(reference, catalogue, period=period, seed=1, communes=500)
        )

    assert flags("2025-06") == Counter({0.0: 500})
    july = flags("2025-07")
    assert 150 < july[1.0] < 350 and july[0.0] + july[1.0] == 500
    assert flags("2025-08") == Counter({1.0: 500})


def test_revision_share_bounds(reference: ReferenceData, catalogue: Catalogue) -> None:
    none = list(generate_reports(reference, catalogue, period=PERIOD, seed=3, communes=40))
    every = list(
        generate_reports(reference, catalogue, period=PERIOD, seed=3, communes=40, revisions=1.0)
    )
    assert [r.revision for r in none] == [1] * 40
    assert Counter(r.revision for r in every) == Counter({1: 40, 2: 40})
    with pytest.raises(SimulationError, match="between 0 and 1"):
        generate_reports(reference, catalogue, period=PERIOD, seed=3, revisions=1.5)


def test_bad_arguments_are_refused_at_the_call(
    reference: ReferenceData, catalogue: Catalogue
) -> None:
    with pytest.raises(SimulationError, match="YYYY-MM"):
        generate_reports(reference, catalogue, period="2025-13", seed=1)
    with pytest.raises(SimulationError, match="between 0 and 3321"):
        generate_reports(reference, catalogue, period=PERIOD, seed=1, communes=4000)


def test_an_indicator_without_a_model_is_refused(
    reference: ReferenceData, catalogue: Catalogue
) -> None:
    extended = Catalogue(
        indicators={
            **catalogue.indicators,
            "bridges_built": Indicator(
                code="bridges_built",
                name_vi="Cầu xây mới",
                name_en="Bridges built",
                unit="bridge",
                domain="infrastructure",
                aggregation="sum",
            ),
        }
    )
    with pytest.raises(SimulationError, match="bridges_built"):
        generate_reports(reference, extended, period=PERIOD, seed=1)


def test_ratios_are_never_reported(full_run: list[CommuneReport], catalogue: Catalogue) -> None:
    ratios = {i.code for i in catalogue.ratios}
    assert ratios and all(not ratios & set(r.indicators) for r in full_run)


@pytest.mark.parametrize(
    ("today", "period"),
    [
        (date(2025, 9, 2), "2025-08"),
        (date(2025, 1, 15), "2024-12"),
        (date(2025, 3, 31), "2025-02"),
        (date(2026, 1, 1), "2025-12"),
    ],
)
def test_default_period_is_the_previous_month(today: date, period: str) -> None:
    assert default_period(today) == period


def test_default_period_without_a_date_is_a_month() -> None:
    assert len(default_period()) == 7 and default_period()[4] == "-"
