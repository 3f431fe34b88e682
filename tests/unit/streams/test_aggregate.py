"""The incremental aggregate of a province ends, to the last bit, where the definition
(:func:`aggregate_province` over every commune's latest revision) ends, whatever the order
of reports and corrections, also through a JSON round trip of its state between steps."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from baocao.core.catalogue import load_catalogue
from baocao.streams.rollup import (
    LatestReport,
    ProvinceAggregate,
    add_partial,
    aggregate_province,
)

CATALOGUE = load_catalogue()
CODES = [
    "tthc_received",  # sum, a part of ratios
    "tthc_resolved_on_time",
    "tthc_resolved_late",
    "internet_coverage_pct_max",  # max
    "party_congress_earliest_day",  # min
    "fires",
]
COMMUNES = ["00004", "00007", "00008", "00010"]
DUE_MS = 1_757_091_599_999
values = st.one_of(
    st.integers(0, 1000).map(float),
    st.sampled_from([0.1, 0.2, 0.3, 1e-3, 1e16, 123456.25, 2.5e-308]),
    st.floats(0, 1e12, allow_nan=False),
)


@st.composite
def revisions(draw: st.DrawFn) -> tuple[str, LatestReport]:
    commune = draw(st.sampled_from(COMMUNES))
    indicators = draw(st.dictionaries(st.sampled_from(CODES), values, min_size=1))
    submitted = DUE_MS + draw(st.integers(-5, 5))
    return commune, LatestReport(
        report_id=f"r{draw(st.integers(0, 10**6))}",
        revision=0,  # numbered below
        submitted_at_ms=submitted,
        digest="d",
        indicators=indicators,
        first_submitted_at_ms=submitted,
        amended=draw(st.booleans()),
        warned=frozenset(draw(st.lists(st.sampled_from(CODES), max_size=2))),
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(revisions(), max_size=40), st.lists(st.integers(0, 40), max_size=4))
def test_corrections_retract_exactly(
    stream: list[tuple[str, LatestReport]], round_trips: list[int]
) -> None:
    aggregate = ProvinceAggregate(due_ms=DUE_MS)
    latest: dict[str, LatestReport] = {}
    for step, (commune, drawn) in enumerate(stream):
        held = latest.get(commune)
        report = LatestReport(
            **{
                **{f: getattr(drawn, f) for f in drawn.__slots__},
                "revision": (held.revision if held else 0) + 1,
            }
        )
        assert aggregate.replace(commune, held, report, CATALOGUE)
        latest[commune] = report
        if step in round_trips:
            aggregate = ProvinceAggregate.from_state(json.loads(json.dumps(aggregate.to_state())))

    expected = aggregate_province("01", "2025-08", latest.values(), CATALOGUE)
    assert aggregate.figures("01", "2025-08", CATALOGUE) == expected
    assert len(aggregate.counted) == len(latest)
    assert aggregate.on_time == sum(r.first_submitted_at_ms <= DUE_MS for r in latest.values())
    rebuilt = ProvinceAggregate.of(latest, CATALOGUE, due_ms=DUE_MS)
    assert rebuilt.figures("01", "2025-08", CATALOGUE) == expected


def test_an_aggregate_refuses_to_retract_a_revision_it_does_not_count() -> None:
    first = LatestReport("a", 1, DUE_MS, "d", {"tthc_received": 5.0})
    second = LatestReport("b", 2, DUE_MS, "d", {"tthc_received": 7.0})
    aggregate = ProvinceAggregate(due_ms=DUE_MS)

    assert not aggregate.replace("00004", first, second, CATALOGUE)  # counts nothing yet
    assert aggregate.to_state() == ProvinceAggregate(due_ms=DUE_MS).to_state()
    assert aggregate.replace("00004", None, first, CATALOGUE)
    assert not aggregate.replace("00004", None, second, CATALOGUE)  # it counts revision 1
    assert aggregate.replace("00004", first, second, CATALOGUE)
    assert [f.value for f in aggregate.figures("01", "2025-08", CATALOGUE)] == [7.0]


def test_a_lowered_maximum_falls_back_to_the_next_commune() -> None:
    high = LatestReport("a", 1, DUE_MS, "d", {"internet_coverage_pct_max": 90.0})
    lower = LatestReport("b", 2, DUE_MS, "d", {"internet_coverage_pct_max": 10.0})
    other = LatestReport("c", 1, DUE_MS, "d", {"internet_coverage_pct_max": 60.0})
    aggregate = ProvinceAggregate.of({"00004": high, "00007": other}, CATALOGUE, due_ms=DUE_MS)

    assert aggregate.replace("00004", high, lower, CATALOGUE)

    [figure] = aggregate.figures("01", "2025-08", CATALOGUE)
    assert (figure.value, figure.communes_reported) == (60.0, 2)


@given(st.lists(st.floats(-1e300, 1e300, allow_nan=False), max_size=30), st.data())
def test_partials_add_and_retract_exactly(numbers: list[float], data: st.DataObject) -> None:
    partials: list[float] = []
    for number in numbers:
        add_partial(partials, number)
    retracted = data.draw(st.lists(st.sampled_from(numbers), unique_by=id)) if numbers else []
    kept = list(numbers)
    for number in retracted:
        add_partial(partials, -number)
        kept.remove(number)

    assert math.fsum(partials) == math.fsum(kept)
