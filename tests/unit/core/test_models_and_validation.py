import math
from typing import Any

import pytest

from baocao.core.catalogue import load_catalogue
from baocao.core.models import parse_report
from baocao.core.reasons import ReasonCode
from baocao.core.reference import load_reference
from baocao.core.validation import validate_report


def _line(**changes: Any) -> dict[str, Any]:
    line: dict[str, Any] = {
        "report_id": "6f1c2b0e-3d1f-4b7a-9a8e-1f2e3d4c5b6a",
        "commune_code": "00070",
        "province_code": "01",
        "period": "2025-08",
        "revision": 1,
        "submitted_at": "2025-09-02T09:30:00+07:00",
        "indicators": {"tthc_received": 12.0},
    }
    line.update(changes)
    return line


def _codes(**changes: Any) -> list[str]:
    report, problems = parse_report(_line(**changes))
    if report is None:
        return [p.code for p in problems]
    return [p.code for p in validate_report(report, load_reference(), load_catalogue())]


def test_the_canonical_line_is_valid_and_keeps_its_local_time() -> None:
    report, problems = parse_report(_line())
    assert problems == [] and report is not None
    assert report.submitted_at.isoformat() == "2025-09-02T02:30:00+00:00"
    assert report.to_json()["submitted_at"] == "2025-09-02T09:30:00+07:00"
    assert validate_report(report, load_reference(), load_catalogue()) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"commune_code": "99999"}, ["unknown_commune"]),
        ({"province_code": "99"}, ["unknown_province"]),
        ({"province_code": "79"}, ["commune_not_in_province"]),
        ({"indicators": {"nope": 1.0}}, ["unknown_indicator"]),
        ({"indicators": {"tthc_on_time_rate": 0.5}}, ["derived_indicator"]),
        ({"indicators": {"tthc_received": math.nan}}, ["value_not_finite"]),
        ({"indicators": {"tthc_received": math.inf}}, ["value_not_finite"]),
        ({"indicators": {"tthc_received": -1.0}}, ["value_out_of_range"]),
        ({"indicators": {"tthc_received": 1e13}}, ["value_out_of_range"]),
        ({"indicators": {}}, ["empty_report"]),
        ({"period": "2025-13"}, ["invalid_period"]),
        ({"period": "2025-8"}, ["invalid_period"]),
        ({"period": "2025-02-30"}, ["invalid_period"]),
        ({"period": "2025-W53"}, ["invalid_period"]),  # 2025 has 52 ISO weeks
        ({"period": "2025-Q5"}, ["invalid_period"]),
        ({"period": "25"}, ["invalid_period"]),
        ({"period": "2025-08-15"}, ["indicator_not_in_report_type"]),
        ({"period": "2025-Q3"}, ["indicator_not_in_report_type"]),
        ({"period": "2025-08-15", "indicators": {"fires": 1.0}}, []),
        ({"period": "2025-W31"}, []),
        ({"period": "2020-W53"}, []),
        ({"period": "2025-Q3", "indicators": {"budget_revenue": 10.0}}, []),
        ({"period": "2025", "indicators": {"population": 10_000.0}}, []),
        (
            {"period": "2025-08-15", "indicators": {"population": -1.0}},
            ["indicator_not_in_report_type", "value_out_of_range"],
        ),
        ({"revision": 0}, ["invalid_revision"]),
        ({"revision": "1"}, ["schema_error"]),
        ({"revision": True}, ["schema_error"]),
        ({"report_id": "not-a-uuid"}, ["schema_error"]),
        ({"submitted_at": "2025-09-02T09:30:00"}, ["schema_error"]),
        ({"indicators": {"tthc_received": "12"}}, ["schema_error"]),
        ({"extra": 1}, ["schema_error"]),
    ],
)
def test_each_rule_gives_its_reason_code(changes: dict[str, Any], expected: list[str]) -> None:
    assert _codes(**changes) == expected


def test_every_problem_is_reported_at_once() -> None:
    codes = _codes(commune_code="99999", period="bad", indicators={"x": 1.0, "budget_revenue": -5})
    assert codes == ["unknown_commune", "invalid_period", "value_out_of_range", "unknown_indicator"]


def test_a_missing_field_is_named() -> None:
    line = _line()
    del line["period"]
    report, problems = parse_report(line)
    assert report is None
    assert [(p.code, p.field) for p in problems] == [(ReasonCode.SCHEMA_ERROR, "period")]


def test_messages_exist_in_both_languages() -> None:
    report, _ = parse_report(_line(province_code="79"))
    assert report is not None
    (problem,) = validate_report(report, load_reference(), load_catalogue())
    assert "belongs to province 01" in problem.message_en
    assert "thuộc tỉnh 01" in problem.message_vi


def test_non_object_is_a_schema_error() -> None:
    report, problems = parse_report([1, 2])
    assert report is None and [p.code for p in problems] == ["schema_error"]


def test_the_invalid_period_message_lists_every_accepted_form() -> None:
    report, _ = parse_report(_line(period="08/2025"))
    assert report is not None
    (problem,) = validate_report(report, load_reference(), load_catalogue())
    assert problem.code == ReasonCode.INVALID_PERIOD
    for form in ("YYYY-MM-DD", "YYYY-Www", "YYYY-MM", "YYYY-Qn", "YYYY"):
        assert form in problem.message_en and form in problem.message_vi


def test_an_indicator_outside_the_report_type_names_where_it_belongs() -> None:
    report, _ = parse_report(_line(period="2025-08-15"))
    assert report is not None
    (problem,) = validate_report(report, load_reference(), load_catalogue())
    assert (problem.code, problem.field) == (
        ReasonCode.INDICATOR_NOT_IN_REPORT_TYPE,
        "indicators.tthc_received",
    )
    assert problem.message_en == (
        "Indicator 'tthc_received' is not part of daily reports (period 2025-08-15); "
        "it is reported in: weekly, monthly"
    )
    assert "báo cáo ngày" in problem.message_vi and "tuần, tháng" in problem.message_vi


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"report_type": "monthly"}, []),
        ({"report_type": None, "notes": None}, []),
        ({"report_type": "daily"}, ["report_type_mismatch"]),
        ({"report_type": "weekly", "period": "2025-W31"}, []),
        ({"report_type": "hourly"}, ["report_type_mismatch"]),
        ({"report_type": 3}, ["schema_error"]),
        ({"notes": ["a"]}, ["schema_error"]),
        ({"report_type": "daily", "period": "2025-13"}, ["invalid_period"]),
    ],
)
def test_the_optional_v2_fields(changes: dict[str, Any], expected: list[str]) -> None:
    assert _codes(**changes) == expected


def test_optional_fields_round_trip_through_the_json_line() -> None:
    line = _line(
        report_type="monthly",
        reporter_name="Trần Thị B",
        reporter_contact="0912 345 678",
        notes="số liệu tạm tính",
    )
    report, problems = parse_report(line)
    assert problems == [] and report is not None
    assert report.reporter_contact == "0912 345 678"
    assert report.to_json() == line
    bare, _ = parse_report(_line())
    assert bare is not None and "report_type" not in bare.to_json()


def test_a_report_type_mismatch_names_both_types() -> None:
    report, _ = parse_report(_line(report_type="yearly"))
    assert report is not None
    [problem] = validate_report(report, load_reference(), load_catalogue())
    assert problem.field == "report_type"
    assert "'yearly'" in problem.message_en and "(monthly)" in problem.message_en
    assert "(tháng)" in problem.message_vi
