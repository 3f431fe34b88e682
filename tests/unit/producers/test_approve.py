"""``baocao approve``: arguments checked before anything reaches Kafka, and the record it sends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from support.cli import invoke

from baocao.core.avro import codec_for
from baocao.core.reference import load_reference
from baocao.producers.approve import ApprovalError, approval

AT = datetime(2025, 9, 10, 3, 0, tzinfo=UTC)


def make(**changes: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "province": "01",
        "period": "2025-08",
        "report_type": "monthly",
        "approved_by": "  Sở Nội vụ ",
        "note": None,
        "approved_at": AT,
        "reference": load_reference(),
    }
    return approval(**{**arguments, **changes})


def test_an_approval_record_fits_the_contract() -> None:
    record = make(note="đã rà soát")

    assert {k: v for k, v in record.items() if k != "approval_id"} == {
        "province_code": "01",
        "report_type": "monthly",
        "period": "2025-08",
        "approved_by": "Sở Nội vụ",
        "approved_at": AT,
        "note": "đã rà soát",
        "action": "approve",
        "commune_code": None,
        "based_on_version": None,
    }
    codec = codec_for("approval.v2")
    decoded = codec.decode(codec.encode(record))
    assert str(decoded["approval_id"]) == record["approval_id"]
    assert decoded["approved_at"] == AT
    # A worker still on approval.v1 reads it as the approve it is.
    assert codec_for("approval.v1").decode(codec.encode(record))["note"] == "đã rà soát"


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"action": "reopen"}, "--action"),
        ({"action": "return", "commune": "00004"}, "--note"),
        ({"action": "unapprove"}, "--note"),
        ({"action": "return", "commune": "25747", "note": "x"}, "--commune"),  # of province 79
        ({"action": "approve", "commune": "00004"}, "--commune"),
    ],
)
def test_a_step_that_cannot_be_taken_names_the_bad_option(
    changes: dict[str, Any], param: str
) -> None:
    with pytest.raises(ApprovalError) as refused:
        make(**changes)
    assert refused.value.param == param


@pytest.mark.parametrize(
    ("period", "report_type"),
    [("2025-08-15", "daily"), ("2025-W33", "weekly"), ("2025-Q3", "quarterly"), ("2025", None)],
)
def test_every_report_type_can_be_approved(period: str, report_type: str | None) -> None:
    record = make(period=period, report_type=report_type)

    assert record["period"] == period
    assert record["report_type"] == (report_type or "yearly")


@pytest.mark.parametrize(
    ("changes", "param", "message"),
    [
        ({"province": "99"}, "--province", "unknown province code '99'"),
        ({"period": "2025-8"}, "--period", "'2025-8' is not a period; expected YYYY-MM-DD"),
        (
            {"report_type": "weekly"},
            "--report-type",
            "period 2025-08 is a monthly period, not weekly; a weekly period is written YYYY-Www",
        ),
        ({"report_type": "hourly"}, "--report-type", "unknown report type 'hourly'"),
        ({"approved_by": " "}, "--by", "must not be empty"),
    ],
)
def test_bad_arguments_are_named(changes: dict[str, Any], param: str, message: str) -> None:
    with pytest.raises(ApprovalError, match=message) as raised:
        make(**changes)

    assert raised.value.param == param


def test_the_command_refuses_bad_arguments_with_exit_code_2() -> None:
    result = invoke("approve", "--province", "01", "--period", "2025-08", "--report-type", "daily")

    assert result.exit_code == 2
    assert "--report-type" in result.output and "monthly period" in result.output
