"""``baocao obligations``: every bad argument refused with its reason before anything reaches
Kafka, and the record a valid change sends."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from support.cli import invoke

from baocao.core.avro import codec_for
from baocao.core.reference import load_reference
from baocao.core.topics import REPORTING_OBLIGATIONS
from baocao.producers import obligations as cli
from baocao.producers.obligations import ObligationError, obligation

AT = datetime(2025, 9, 10, 3, 0, tzinfo=UTC)
REFERENCE = load_reference()
HANOI_UNIT = REFERENCE.communes_by_province["01"][0]


def make(**changes: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "action": "end",
        "commune": HANOI_UNIT,
        "report_type": "monthly",
        "starts_on": None,
        "ends_on": "2025-07-31",
        "reason": " Nghị quyết 1656 ",
        "recorded_by": "o01-1",
        "recorded_at": AT,
        "reference": REFERENCE,
    }
    return obligation(**{**arguments, **changes})


def test_an_obligation_record_fits_the_contract_and_is_keyed_by_its_province() -> None:
    record = make()
    assert {k: v for k, v in record.items() if k != "obligation_id"} == {
        "commune_code": HANOI_UNIT,
        "province_code": "01",
        "report_type": "monthly",
        "action": "end",
        "starts_on": None,
        "ends_on": date(2025, 7, 31),
        "reason": "Nghị quyết 1656",
        "recorded_by": "o01-1",
        "recorded_at": AT,
    }
    codec = codec_for(REPORTING_OBLIGATIONS.writes)
    assert codec.decode(codec.encode(record))["ends_on"] == date(2025, 7, 31)
    assert REPORTING_OBLIGATIONS.key_of(record) == "01"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"starts_on": "2025-09-01", "ends_on": "2025-08-31"},
            "obligation_ends_before_start: The obligation's end date 2025-08-31 is before its"
            " start 2025-09-01",
        ),
        ({"commune": "99999"}, "unknown_commune: Unknown commune code '99999'"),
        ({"report_type": "fortnightly"}, "unknown_report_type: Unknown report type 'fortnightly'"),
        ({"ends_on": "31/07/2025"}, "ends_on: '31/07/2025' is not a date (YYYY-MM-DD)"),
        ({"ends_on": None}, "invalid_obligation: Not a valid reporting obligation: an end needs"),
        (
            {"action": "exempt"},
            "invalid_obligation: Not a valid reporting obligation: an exemption",
        ),
        ({"reason": "  "}, "reason: say why"),
    ],
)
def test_bad_input_is_refused_with_a_clear_reason(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(ObligationError) as refused:
        make(**changes)
    assert any(problem.startswith(expected) for problem in refused.value.reasons), (
        refused.value.reasons
    )


def test_every_reason_is_given_at_once() -> None:
    with pytest.raises(ObligationError) as refused:
        make(commune="99999", report_type="x", starts_on="2025-09-01", ends_on="2025-01-01")
    assert [p.split(":")[0] for p in refused.value.reasons] == [
        "unknown_commune",
        "unknown_report_type",
        "obligation_ends_before_start",
    ]


def test_the_command_refuses_without_publishing(monkeypatch: pytest.MonkeyPatch) -> None:
    published: list[Any] = []
    monkeypatch.setattr(cli, "publish_obligation", lambda *a: published.append(a))
    result = invoke(
        "obligations", "end", "--commune", HANOI_UNIT, "--report-type", "monthly",
        "--start", "2025-09-01", "--end", "2025-08-31", "--reason", "test",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "refused, nothing published" in result.output
    assert "obligation_ends_before_start" in result.output
    assert published == []

    result = invoke(
        "obligations", "exempt", "--commune", HANOI_UNIT, "--report-type", "monthly",
        "--reason", "test", "--by", "o01-1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    ((_, record),) = published
    assert (record["action"], record["commune_code"], record["recorded_by"]) == (
        "exempt",
        HANOI_UNIT,
        "o01-1",
    )
    assert f"{HANOI_UNIT} ({REFERENCE.communes[HANOI_UNIT].name}) exempt from monthly" in (
        result.output
    )
