import pytest

from baocao.core.catalogue import CatalogueError, load_catalogue, parse_catalogue

DOMAINS = {
    "administrative_procedures",
    "budget",
    "security_order",
    "defence",
    "staffing",
    "digital_transformation",
    "social_welfare",
    "party_congress",
}


def test_catalogue_covers_every_domain_with_enough_indicators() -> None:
    catalogue = load_catalogue()
    assert len(catalogue.indicators) >= 25
    assert {i.domain for i in catalogue} == DOMAINS
    assert {i.aggregation for i in catalogue} == {"sum", "max", "min", "ratio"}


def test_ratios_are_built_from_summed_reported_parts() -> None:
    catalogue = load_catalogue()
    rate = catalogue["tthc_on_time_rate"]
    assert (rate.numerator, rate.denominator) == ("tthc_resolved_on_time", "tthc_resolved")
    for ratio in catalogue.ratios:
        assert ratio.numerator is not None and ratio.denominator is not None
        assert catalogue[ratio.numerator].aggregation == "sum"
        assert catalogue[ratio.denominator].aggregation == "sum"
    assert set(catalogue.reported).isdisjoint(catalogue.ratios)


def test_json_form_has_the_contract_keys() -> None:
    for indicator in load_catalogue():
        entry = indicator.as_json()
        keys = {"code", "name_vi", "name_en", "unit", "domain", "aggregation", "report_types"}
        if indicator.aggregation == "ratio":
            keys |= {"numerator", "denominator"}
        assert set(entry) == keys


def _entry(code: str, aggregation: str = "sum", **extra: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "code": code,
        "name_vi": code,
        "name_en": code,
        "unit": "x",
        "domain": "d",
        "aggregation": aggregation,
    }
    if aggregation != "ratio":
        entry["report_types"] = ["monthly"]
    return {**entry, **extra}


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([_entry("a"), _entry("a")], "defined twice"),
        ([_entry("a", "median")], "unknown aggregation"),
        ([_entry("r", "ratio", numerator="a", denominator="b")], "must be a reported"),
        (
            [_entry("a", "max"), _entry("b"), _entry("r", "ratio", numerator="a", denominator="b")],
            "must be summed",
        ),
        ([_entry("a", report_types=[])], "non-empty list"),
        ([_entry("a", report_types=["hourly"])], "unknown report types"),
        ([_entry("a", report_types=["daily", "daily"])], "listed twice"),
        (
            [
                _entry("a", report_types=["daily"]),
                _entry("b", report_types=["monthly"]),
                _entry("r", "ratio", numerator="a", denominator="b"),
            ],
            "share no report type",
        ),
        (
            [
                _entry("a", report_types=["daily", "monthly"]),
                _entry("b", report_types=["monthly"]),
                _entry("r", "ratio", numerator="a", denominator="b", report_types=["daily"]),
            ],
            "belongs to the report types its parts share",
        ),
    ],
)
def test_a_contradictory_catalogue_is_refused_at_load(entries: list, message: str) -> None:
    with pytest.raises(CatalogueError, match=message):
        parse_catalogue({"indicators": entries})


def test_every_indicator_keeps_monthly_so_existing_reports_stay_valid() -> None:
    catalogue = load_catalogue()
    assert all("monthly" in i.report_types for i in catalogue)
    assert len(catalogue.for_report_type("monthly")) == len(catalogue.indicators)


def test_report_types_per_indicator() -> None:
    catalogue = load_catalogue()

    def codes(report_type: str) -> set[str]:
        return {i.code for i in catalogue.for_report_type(report_type)}

    assert codes("daily") == {
        "security_incidents",
        "criminal_cases",
        "traffic_accidents",
        "traffic_deaths",
        "fires",
    }
    assert {c for c in codes("weekly") if not c.endswith("_rate")} == {
        i.code for i in catalogue.reported if i.code.startswith("tthc_")
    }
    assert {
        "population",
        "party_members",
        "party_cells",
        "staff_positions",
        "budget_revenue_plan",
        "public_investment_plan",
        "military_recruitment_target",
    } <= codes("yearly")
    assert {"budget_revenue", "public_investment_disbursed", "staff_in_post"} <= codes("quarterly")
    assert catalogue["tthc_received"].as_json()["report_types"] == ["weekly", "monthly"]


def test_a_ratio_belongs_to_the_report_types_its_parts_share() -> None:
    catalogue = load_catalogue()
    for ratio in catalogue.ratios:
        assert ratio.numerator is not None and ratio.denominator is not None
        shared = set(catalogue[ratio.numerator].report_types) & set(
            catalogue[ratio.denominator].report_types
        )
        assert set(ratio.report_types) == shared
    # budget revenue (monthly, quarterly, yearly) over its plan (the same): all three.
    assert catalogue["budget_revenue_plan_rate"].report_types == ("monthly", "quarterly", "yearly")
    # enrolled (monthly, quarterly, yearly) over population (monthly, yearly).
    assert catalogue["health_insurance_coverage"].report_types == ("monthly", "yearly")


def test_report_types_are_put_in_canonical_order() -> None:
    catalogue = parse_catalogue({"indicators": [_entry("a", report_types=["yearly", "daily"])]})
    assert catalogue["a"].report_types == ("daily", "yearly")


def test_indicators_json_command_publishes_report_types() -> None:
    import json

    from support.cli import invoke

    result = invoke("indicators", "--json")

    assert result.exit_code == 0, result.output
    entries = {entry["code"]: entry for entry in json.loads(result.stdout)}
    assert len(entries) == len(load_catalogue().indicators)
    assert entries["fires"]["report_types"] == ["daily", "monthly"]
    assert entries["tthc_on_time_rate"]["report_types"] == ["weekly", "monthly"]
    assert entries["population"]["report_types"] == ["monthly", "yearly"]
