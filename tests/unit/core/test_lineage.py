"""The crosswalk from the pre-2025 communes (vietnamadminunits) onto the 2025 map
(vietnam-provinces)."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest

from baocao.core.catalogue import load_catalogue
from baocao.core.lineage import (
    SPLIT_BY_AREA,
    SPLIT_EQUALLY,
    WHOLE,
    Lineage,
    _shares,
    apportion,
    legacy_code_of,
    legacy_parts,
    load_crosswalk,
)
from baocao.core.models import parse_report
from baocao.core.reference import load_reference
from baocao.core.validation import validate_report


def test_the_pre_2025_map_has_its_10040_units() -> None:
    crosswalk = load_crosswalk()
    assert crosswalk.package_version == "1.0.4"
    kinds = Counter(c.division_type for c in crosswalk.legacy_communes.values())
    assert kinds == {"xã": 7695, "phường": 1724, "thị trấn": 616, "huyện": 5}
    assert len({c.province_code for c in crosswalk.legacy_communes.values()}) == 63
    assert crosswalk.legacy_communes["00004"].name == "Phường Trúc Bạch"


def test_every_old_unit_maps_to_at_least_one_new_unit() -> None:
    crosswalk = load_crosswalk()
    assert set(crosswalk.lineage) == set(crosswalk.legacy_communes)
    assert all(len(rows) >= 1 for rows in crosswalk.lineage.values())


def test_the_shares_of_each_old_unit_add_up_to_one() -> None:
    crosswalk = load_crosswalk()
    for code, rows in crosswalk.lineage.items():
        assert math.isclose(sum(row.share for row in rows), 1.0, abs_tol=1e-9), code
        assert all(0 < row.share <= 1 for row in rows), code
        assert [row.primary for row in rows].count(True) == 1, code
        methods = {row.method for row in rows}
        assert methods == ({WHOLE} if len(rows) == 1 else methods & {SPLIT_BY_AREA, SPLIT_EQUALLY})


def test_every_target_exists_in_vietnam_provinces_and_every_new_commune_has_a_predecessor() -> None:
    reference = load_reference()
    crosswalk = load_crosswalk()
    targets = {row.new_code for row in crosswalk.rows()}
    assert targets <= set(reference.communes)
    assert targets == set(reference.communes)
    assert set(crosswalk.predecessors) == set(reference.communes)


def test_a_split_old_commune_stays_inside_one_new_province() -> None:
    """Its report is keyed by one new province, so all of its parts must lie in it."""
    reference = load_reference()
    for code, rows in load_crosswalk().lineage.items():
        provinces = {reference.communes[row.new_code].province_code for row in rows}
        assert len(provinces) == 1, code


def test_split_and_whole_counts_and_a_known_split() -> None:
    crosswalk = load_crosswalk()
    methods = Counter(row.method for row in crosswalk.rows())
    assert methods == {WHOLE: 9569, SPLIT_BY_AREA: 1031, SPLIT_EQUALLY: 2}
    reference = load_reference()
    # Phường Phúc Xá went whole into Phường Hồng Hà; Phường Cống Vị was split between
    # Phường Ngọc Hà (2.68 km², its main successor) and Phường Giảng Võ, by area.
    assert [(reference.communes[r.new_code].name, r.share) for r in crosswalk.lineage["00001"]] == [
        ("Phường Hồng Hà", 1.0)
    ]
    cong_vi = crosswalk.lineage["00007"]
    assert crosswalk.legacy_communes["00007"].name == "Phường Cống Vị"
    assert [(reference.communes[r.new_code].name, r.share, r.primary) for r in cong_vi] == [
        ("Phường Ngọc Hà", 0.507576, True),
        ("Phường Giảng Võ", 0.492424, False),
    ]
    assert crosswalk.is_split("00007") and not crosswalk.is_split("00001")


def test_island_districts_without_communes_map_whole_onto_their_special_zones() -> None:
    """Bạch Long Vĩ, Cồn Cỏ, Hoàng Sa, Lý Sơn and Côn Đảo had no communes: the district was
    the reporting unit, under its 3-digit code."""
    reference = load_reference()
    crosswalk = load_crosswalk()
    districts = {c.code: c.name for c in crosswalk.legacy_communes.values() if len(c.code) == 3}
    assert districts == {
        "318": "Huyện Bạch Long Vĩ",
        "471": "Huyện Cồn Cỏ",
        "498": "Huyện Hoàng Sa",
        "536": "Huyện Lý Sơn",
        "755": "Huyện Côn Đảo",
    }
    for code in districts:
        (row,) = crosswalk.lineage[code]
        commune = reference.communes[row.new_code]
        assert (row.share, row.method, commune.division_type) == (1.0, WHOLE, "đặc khu")
        assert crosswalk.predecessors[row.new_code] == (row,)
    assert reference.communes[crosswalk.lineage["498"][0].new_code].name == "Đặc khu Hoàng Sa"


def test_codes_that_vietnamadminunits_gives_differently_are_matched_by_name() -> None:
    """vietnamadminunits 1.0.4 writes Phường Văn Miếu - Quốc Tử Giám as 00226, which
    vietnam-provinces (the official codes) gives to Phường Kim Liên."""
    reference = load_reference()
    crosswalk = load_crosswalk()
    names = {reference.communes[row.new_code].name for row in crosswalk.rows()}
    assert "Phường Văn Miếu - Quốc Tử Giám" in names
    assert reference.communes["00226"].name == "Phường Kim Liên"


def test_shares_are_rounded_and_the_primary_takes_the_remainder() -> None:
    rows = _shares("00001", [("B", 1.0, False), ("A", 1.0, True), ("C", 1.0, False)])
    assert rows == (
        Lineage("00001", "A", 0.333334, SPLIT_BY_AREA, True),
        Lineage("00001", "B", 0.333333, SPLIT_BY_AREA, False),
        Lineage("00001", "C", 0.333333, SPLIT_BY_AREA, False),
    )
    unknown_area = _shares("00002", [("A", 10.0, True), ("B", None, False)])
    assert [(r.share, r.method) for r in unknown_area] == [
        (0.5, SPLIT_EQUALLY),
        (0.5, SPLIT_EQUALLY),
    ]


def test_apportion_rounds_value_times_share_to_two_decimals() -> None:
    assert apportion(1234.0, 1.0) == 1234.0
    assert apportion(0.1 + 0.2, 1.0) == 0.1 + 0.2
    assert apportion(1000.0, 0.333333) == 333.33
    assert apportion(7.0, 0.5) == 3.5
    assert apportion(1.0, 0.005) == pytest.approx(0.01, abs=0.005)


# -- reports under old codes ---------------------------------------------------------------

CATALOGUE = load_catalogue()


def _old_code_report(**changes: Any) -> list[str]:
    line: dict[str, Any] = {
        "report_id": "0b6f7a52-5a43-4a3e-9a57-0c2b3f1d7e10",
        "commune_code": "L00007",  # Phường Cống Vị, split into Ngọc Hà and Giảng Võ
        "province_code": "01",
        "period": "2024-08",
        "revision": 1,
        "submitted_at": "2024-09-03T09:30:00+07:00",
        "indicators": {"tthc_received": 12.0},
    }
    line.update(changes)
    report, problems = parse_report(line)
    assert report is not None, problems
    return [str(r.code) for r in validate_report(report, load_reference(), CATALOGUE)]


def test_an_old_code_is_valid_for_a_period_before_the_merger() -> None:
    assert legacy_code_of("L00007") == "00007" and legacy_code_of("00007") is None
    assert _old_code_report() == []
    assert _old_code_report(period="2025-06", submitted_at="2025-07-02T09:00:00+07:00") == []
    assert _old_code_report(commune_code="L498", province_code="48") == []  # Huyện Hoàng Sa


def test_an_old_code_after_the_merger_is_refused_with_its_own_reason() -> None:
    assert _old_code_report(period="2025-07") == ["legacy_commune_after_merger"]
    # 2025-Q3 and the year 2025 end after 1 July 2025 too.
    assert _old_code_report(period="2025-Q3", indicators={"budget_revenue": 1.0}) == [
        "legacy_commune_after_merger"
    ]


def test_an_unknown_old_code_and_a_wrong_province_have_clear_reasons() -> None:
    assert _old_code_report(commune_code="L99999") == ["unknown_legacy_commune"]
    assert _old_code_report(commune_code="L00007", province_code="79") == [
        "commune_not_in_province"
    ]
    report, _ = parse_report(
        {
            "report_id": "0b6f7a52-5a43-4a3e-9a57-0c2b3f1d7e11",
            "commune_code": "L99999",
            "province_code": "01",
            "period": "2024-08",
            "revision": 1,
            "submitted_at": "2024-09-03T09:30:00+07:00",
            "indicators": {"tthc_received": 12.0},
        }
    )
    assert report is not None
    (refusal,) = validate_report(report, load_reference(), CATALOGUE)
    assert refusal.message_en.startswith("Unknown pre-2025 commune code 'L99999'")
    assert refusal.message_vi.startswith("Mã xã cũ 'L99999' không tồn tại")
    # A bare old code that is no 2025 code stays an unknown commune, as before.
    assert _old_code_report(commune_code="00007") == ["unknown_commune"]


def test_a_split_commune_counts_by_share_in_sums_and_whole_in_its_primary_for_max_and_min() -> None:
    rows = load_crosswalk().lineage["00007"]  # Ngọc Hà 0.507576 (primary), Giảng Võ 0.492424
    parts = legacy_parts(
        {
            "tthc_received": 1000.0,
            "internet_coverage_pct_max": 80.0,
            "party_congress_earliest_day": 3.0,
        },
        rows,
        CATALOGUE,
    )
    assert [(p.new_code, dict(p.indicators), p.approximate) for p in parts] == [
        (
            rows[0].new_code,
            {
                "tthc_received": 507.58,
                "internet_coverage_pct_max": 80.0,
                "party_congress_earliest_day": 3.0,
            },
            True,
        ),
        (rows[1].new_code, {"tthc_received": 492.42}, True),
    ]
    (whole,) = legacy_parts({"tthc_received": 0.1}, load_crosswalk().lineage["00001"], CATALOGUE)
    assert (dict(whole.indicators), whole.approximate) == ({"tthc_received": 0.1}, False)
