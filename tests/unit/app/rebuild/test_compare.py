"""The row comparison of ``rebuild compare``: order, float tolerance, duplicates, NULLs."""

from __future__ import annotations

import pytest

from baocao.app.rebuild.compare import (
    Comparison,
    RelationComparison,
    compare_databases,
    rows_differing,
)
from baocao.app.rebuild.exceptions import RebuildError


def test_the_same_rows_in_another_order_are_equal() -> None:
    left = [("01", "2025-08", 1.0), ("79", "2025-08", None), ("01", "2025-09", 2.5)]
    assert rows_differing(left, list(reversed(left))) == 0


def test_a_sum_added_in_another_order_is_equal_within_the_tolerance() -> None:
    values = [0.1] * 10
    assert sum(values) != 1.0
    assert rows_differing([("01", sum(values))], [("01", 1.0)]) == 0


def test_a_changed_value_counts_on_both_sides() -> None:
    left = [("01", "x", 10.0), ("02", "x", 20.0)]
    right = [("01", "x", 10.0), ("02", "x", 21.0)]
    assert rows_differing(left, right) == 2


def test_a_missing_or_duplicated_row_is_a_difference() -> None:
    rows = [("01", 1), ("02", 2)]
    assert rows_differing(rows, rows[:1]) == 1
    assert rows_differing(rows, [*rows, rows[0]]) == 1
    assert rows_differing([("01", None)], [("01", 0.0)]) == 2


def test_arrays_of_floats_compare_within_the_tolerance() -> None:
    assert rows_differing([(["a"], [0.3])], [(["a"], [0.1 + 0.2])]) == 0
    assert rows_differing([(["a"], [0.3])], [(["a"], [0.4])]) == 2


def test_the_verdict_names_what_differs() -> None:
    comparison = Comparison(
        live="baocao",
        rebuilt="baocao_r",
        relations=(
            RelationComparison("province_indicators", "view", 10, 10, 2),
            RelationComparison("commune_reports", "table", 5, 5, 0),
            RelationComparison("new_view", "view", None, 3, 3),
        ),
    )
    assert not comparison.equal
    assert comparison.verdict() == (
        "different: 2 of 3 relations of baocao and baocao_r differ:"
        " province_indicators (2 rows differ), new_view (missing in one)"
    )
    assert "DIFFERENT" in comparison.table().splitlines()[1]
    equal = Comparison("baocao", "baocao_r", (RelationComparison("v", "view", 1, 1, 0),))
    assert equal.verdict().startswith("equal: 1 views and 0 tables")


def test_a_database_with_nothing_to_compare_is_an_error_not_equal() -> None:
    class NoTables:
        def execute(self, query: str, params: object = None) -> list[object]:
            return []

    with pytest.raises(RebuildError, match="database baocao does not exist or holds no table"):
        compare_databases(NoTables(), "baocao", "baocao_r")
