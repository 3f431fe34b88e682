"""A table's row from its record: every column read and checked as its declaration says, and
the upgrades of older writers' records (records from :mod:`support.sink_records`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from support.settings import RULES
from support.sink_records import (
    AUGUST_DEADLINE,
    KAFKA_MS,
    KAFKA_TIME,
    RECEIVED,
    RECORDS,
    REPORT_ID,
    SUBMITTED,
    record,
    row_of,
)

from baocao.sinks.clickhouse.rows.columns import Table
from baocao.sinks.clickhouse.rows.tables import (
    APPROVALS,
    COMMUNE_REPORTS,
    MISSING_REPORT_ALERTS,
    PROVINCE_COMPLETENESS_VALUES,
    PROVINCE_INDICATOR_CHANGES,
    PROVINCE_INDICATOR_VALUES,
    REJECTIONS,
    REPORT_WARNINGS_LOG,
    REPORTING_PERIODS,
    TABLES,
)
from baocao.sinks.clickhouse.rows.upgrades import (
    Envelope,
    accepted_from_commune_report,
    figure_with_deadline,
)
from baocao.sinks.exceptions import RowError

ROUTED = [table for table in TABLES if table.topic is not None]


def test_every_table_in_the_order_a_batch_writes_them() -> None:
    assert [t.name for t in TABLES] == [
        "commune_reports",
        "province_indicator_values",
        "province_completeness_values",
        "province_indicator_changes",
        "report_warnings_log",
        "reporting_periods",
        "missing_report_alerts",
        "approvals",
        "approval_decisions",
        "reporting_obligations",
        "rejections",
        "sink_poison_messages",
    ]


@pytest.mark.parametrize("table", ROUTED, ids=lambda t: t.name)
def test_every_row_has_one_value_per_column(table: Table) -> None:
    assert table.topic is not None
    assert len(table.row(record(table.topic.writes))) == len(table.columns)


def test_accepted_report_row_sorts_indicators_so_copies_are_identical() -> None:
    row = COMMUNE_REPORTS.row(RECORDS["accepted_report.v1"])
    assert row == (
        REPORT_ID,
        "00070",
        "01",
        "2025-08",
        2,
        SUBMITTED,
        ["births", "deaths", "tthc_received"],
        [3.0, 1.0, 12.0],
        "monthly",
        SUBMITTED - timedelta(days=1),
        KAFKA_TIME,
        AUGUST_DEADLINE,
        1,
        0,
    )
    reordered = {"deaths": 1.0, "tthc_received": 12.0, "births": 3.0}
    assert COMMUNE_REPORTS.row(record("accepted_report.v1", indicators=reordered)) == row


def test_accepted_report_row_accepts_fastavro_uuid_and_converts_times_to_utc() -> None:
    local = SUBMITTED.astimezone(timezone(timedelta(hours=7)))
    row = row_of(COMMUNE_REPORTS, report_id=uuid.UUID(REPORT_ID), submitted_at=local)
    assert row["report_id"] == REPORT_ID
    assert row["submitted_at"] == SUBMITTED
    assert row["submitted_at"].utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("table", "changes", "expected"),
    [
        (
            PROVINCE_INDICATOR_VALUES,
            {"value": None, "numerator": 0.0, "denominator": 0.0},
            {"value": None, "numerator": 0.0, "denominator": 0.0, "communes_reported": 12},
        ),
        (
            PROVINCE_COMPLETENESS_VALUES,
            {},
            {"deadline": AUGUST_DEADLINE, "communes_expected": 126, "communes_late": 10},
        ),
        (
            PROVINCE_INDICATOR_CHANGES,
            {},
            {
                "value": 15.0,
                "previous_value": 12.0,
                "cause_commune_codes": ["00070", "00073"],
                "cause_report_ids": [REPORT_ID, "r-73"],
                "cause_revisions": [2, 1],
                "cause_previous_values": [3.0, None],
                "cause_values": [5.0, 1.0],
            },
        ),
        (
            PROVINCE_INDICATOR_CHANGES,
            {"causes": [], "previous_value": None},
            {"previous_value": None, "cause_commune_codes": [], "cause_values": []},
        ),
        (
            REPORT_WARNINGS_LOG,
            {},
            {"revision": 2, "indicator_code": "tthc_received", "reference_value": 12.0},
        ),
        (REPORT_WARNINGS_LOG, {"indicator_code": None, "value": None}, {"indicator_code": None}),
        (
            REPORTING_PERIODS,
            {},
            {"locks_at": AUGUST_DEADLINE + timedelta(days=30), "announced_at": SUBMITTED},
        ),
        (
            MISSING_REPORT_ALERTS,
            {},
            {"phase": "overdue", "commune_codes": ["00073", "00076"], "communes_expected": 126},
        ),
        (
            APPROVALS,
            {"approval_id": uuid.UUID(int=5), "note": "ok"},
            {"approval_id": str(uuid.UUID(int=5)), "approved_at": SUBMITTED, "note": "ok"},
        ),
        (
            REJECTIONS,
            {},
            {
                "commune_code": "",  # absent: a sorting-key column cannot be Nullable
                "report_id": None,
                "revision": -1,  # a refused revision may be negative: Int32 column
                "reason_codes": ["invalid_period", "invalid_revision"],
                "reason_fields": ["period", None],
                "reason_messages_en": ["bad", "r"],
                "reason_messages_vi": ["sai", "r"],
                "raw_payload": b"\xc3\x01raw",
                "source_partition": 3,
                "source_offset": 41,
                "raw_size": 1_000_010,
                "raw_truncated": 1,
            },
        ),
        (REJECTIONS, {"commune_code": "00070"}, {"commune_code": "00070"}),
    ],
    ids=lambda case: case.name if isinstance(case, Table) else None,
)
def test_rows_store_what_their_records_say(
    table: Table, changes: dict[str, Any], expected: dict[str, Any]
) -> None:
    row = row_of(table, **changes)
    assert {column: row[column] for column in expected} == expected


@pytest.mark.parametrize(
    ("table", "changes", "message"),
    [
        (COMMUNE_REPORTS, {"revision": -1}, "revision -1 is outside"),
        (COMMUNE_REPORTS, {"revision": 2**32}, "revision 4294967296 is outside"),
        (COMMUNE_REPORTS, {"revision": True}, "revision must be an integer"),
        (COMMUNE_REPORTS, {"submitted_at": datetime(1969, 12, 31, tzinfo=UTC)}, "at 1969"),
        (COMMUNE_REPORTS, {"submitted_at": datetime(2107, 1, 1, tzinfo=UTC)}, "1970..2106"),
        (COMMUNE_REPORTS, {"submitted_at": 1756780200000}, "submitted_at must be a timestamp"),
        (COMMUNE_REPORTS, {"indicators": {"births": "three"}}, "indicator births must be a num"),
        (COMMUNE_REPORTS, {"indicators": [1.0]}, "indicators must be a map"),
        (COMMUNE_REPORTS, {"commune_code": 70}, "commune_code must be a string"),
        (COMMUNE_REPORTS, {"on_time": 1}, "on_time must be a boolean"),
        (PROVINCE_INDICATOR_VALUES, {"version": -3}, "version -3 is outside"),
        (PROVINCE_INDICATOR_VALUES, {"communes_reported": -1}, "communes_reported -1 is outs"),
        (PROVINCE_COMPLETENESS_VALUES, {"communes_late": -1}, "communes_late -1 is outside"),
        (PROVINCE_INDICATOR_CHANGES, {"causes": "00070"}, "causes must be a list of records"),
        (PROVINCE_INDICATOR_CHANGES, {"known_at": None}, "known_at must be a timestamp"),
        (PROVINCE_INDICATOR_CHANGES, {"causes": [{"revision": -1}]}, "'commune_code' is missing"),
        (
            PROVINCE_INDICATOR_CHANGES,
            {"causes": [{"commune_code": "1", "report_id": "r", "revision": -1}]},
            "cause revision -1 is outside",
        ),
        (PROVINCE_INDICATOR_CHANGES, {"causes": [{"value": "x"}]}, "'commune_code' is missing"),
        (REJECTIONS, {"reasons": [{"code": "c", "field": 3}]}, "reason field must be a string"),
        (REPORT_WARNINGS_LOG, {"revision": -2}, "revision -2 is outside"),
        (MISSING_REPORT_ALERTS, {"commune_codes": [70]}, "commune_codes must be a string"),
        (APPROVALS, {"approved_at": "today"}, "approved_at must be a timestamp"),
    ],
    ids=lambda case: case.name if isinstance(case, Table) else None,
)
def test_rows_refuse_what_their_columns_cannot_hold(
    table: Table, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(RowError, match=message):
        row_of(table, **changes)


def test_missing_field_is_a_row_error() -> None:
    incomplete = record("accepted_report.v1")
    del incomplete["period"]
    with pytest.raises(RowError, match="field 'period' is missing"):
        COMMUNE_REPORTS.row(incomplete)


def test_an_older_workers_accepted_report_gets_type_deadline_and_timeliness() -> None:
    envelope = Envelope(KAFKA_MS, RECEIVED)

    def upgraded(**changes: Any) -> dict[str, Any]:
        return accepted_from_commune_report(record("commune_report.v1", **changes), envelope, RULES)

    assert upgraded() == {
        **RECORDS["commune_report.v1"],
        "report_type": "monthly",
        "first_submitted_at": SUBMITTED,
        "accepted_at": KAFKA_TIME,
        "deadline": AUGUST_DEADLINE,
        "on_time": True,
        "amended": False,
    }
    assert upgraded(submitted_at=AUGUST_DEADLINE + timedelta(milliseconds=1))["on_time"] is False
    assert upgraded(submitted_at=AUGUST_DEADLINE)["on_time"] is True
    weekly = upgraded(period="2025-W35")
    # Week 35 of 2025 ends on Sunday 31 August; due by the end of Tuesday 2 September.
    assert (weekly["report_type"], weekly["deadline"]) == (
        "weekly",
        datetime(2025, 9, 2, 16, 59, 59, 999000, tzinfo=UTC),
    )
    with pytest.raises(RowError, match="deadline of period '2025-13'"):
        upgraded(period="2025-13")


def test_an_older_workers_figure_gets_type_and_deadline_from_its_period() -> None:
    envelope = Envelope(None, RECEIVED)
    as_v2 = {
        **RECORDS["province_indicator.v1"],
        "period": "2025-Q3",
        "report_type": "monthly",  # the v2 default
        "deadline": 0,  # fastavro hands the default over as the int
        "communes_with_warnings": 0,
        "communes_amended": 0,
    }
    upgraded = figure_with_deadline(as_v2, envelope, RULES)
    assert upgraded["report_type"] == "quarterly"
    assert upgraded["deadline"] == datetime(2025, 10, 10, 16, 59, 59, 999000, tzinfo=UTC)
    figure = RECORDS["province_indicator.v2"]
    assert figure_with_deadline(figure, envelope, RULES) == figure
