import pytest

from baocao.catalogue import CatalogueError, load_catalogue, parse_catalogue

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
        keys = {"code", "name_vi", "name_en", "unit", "domain", "aggregation"}
        if indicator.aggregation == "ratio":
            keys |= {"numerator", "denominator"}
        assert set(entry) == keys


def _entry(code: str, aggregation: str = "sum", **extra: str) -> dict[str, str]:
    return {
        "code": code,
        "name_vi": code,
        "name_en": code,
        "unit": "x",
        "domain": "d",
        "aggregation": aggregation,
        **extra,
    }


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
    ],
)
def test_a_contradictory_catalogue_is_refused_at_load(entries: list, message: str) -> None:
    with pytest.raises(CatalogueError, match=message):
        parse_catalogue({"indicators": entries})
