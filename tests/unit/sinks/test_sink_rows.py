"""Message-to-row rules of the sink: each table's row, its checks, older writers, routing, poison.

Records are keyed by the schema that writes them; a table's record is its topic's writer's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from support.settings import RULES

from baocao.core.avro import codec_for
from baocao.core.topics import Topics
from baocao.sinks.clickhouse.rows.columns import Table
from baocao.sinks.clickhouse.rows.routing import (
    MessageRow,
    message_row,
    routes_for,
    submitted_at_of,
)
from baocao.sinks.clickhouse.rows.tables import (
    APPROVALS,
    COMMUNE_REPORTS,
    MISSING_REPORT_ALERTS,
    POISON_MESSAGES,
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
    kafka_timestamp,
)
from baocao.sinks.exceptions import RowError

SUBMITTED = datetime(2025, 9, 2, 2, 30, tzinfo=UTC)
RECEIVED = datetime(2025, 9, 2, 3, 0, tzinfo=UTC)
KAFKA_TIME = datetime(2025, 9, 2, 2, 45, 1, 250000, tzinfo=UTC)
KAFKA_MS = 1756781101250
REPORT_ID = "6f1c1e9e-8a5b-4c55-9d6a-2f0a4c7b1e01"
#: Monthly reports on August 2025 are due by the end of 5 September, local time (UTC+7).
AUGUST_DEADLINE = datetime(2025, 9, 5, 16, 59, 59, 999000, tzinfo=UTC)
TOPICS = Topics("p")
ROUTED = [table for table in TABLES if table.topic is not None]

_REPORT = {
    "report_id": REPORT_ID,
    "commune_code": "00070",
    "province_code": "01",
    "period": "2025-08",
    "revision": 2,
    "submitted_at": SUBMITTED,
    "indicators": {"tthc_received": 12.0, "births": 3.0, "deaths": 1},
}
_FIGURE = {
    "province_code": "01",
    "period": "2025-08",
    "indicator_code": "tthc_ontime_rate",
    "value": 0.75,
    "numerator": 30.0,
    "denominator": 40.0,
    "communes_reported": 12,
    "version": 7,
    "updated_at": SUBMITTED,
}
_REJECTED = {
    "rejection_id": "baocao.commune-reports:3:41",
    "report_id": None,
    "commune_code": None,
    "province_code": "01",
    "period": "2025-13",
    "revision": -1,
    "reasons": [
        {"code": "invalid_period", "field": "period", "message_en": "bad", "message_vi": "sai"},
        {"code": "invalid_revision", "field": None, "message_en": "r", "message_vi": "r"},
    ],
    "raw_payload": b"\xc3\x01raw",
    "source_topic": "baocao.commune-reports",
    "source_partition": 3,
    "source_offset": 41,
    "rejected_at": SUBMITTED,
}
#: One record of every schema the sink reads, as its writer writes it.
RECORDS: dict[str, dict[str, Any]] = {
    "commune_report.v1": _REPORT,
    "accepted_report.v1": {
        **_REPORT,
        "report_type": "monthly",
        "first_submitted_at": SUBMITTED - timedelta(days=1),
        "accepted_at": KAFKA_TIME,
        "deadline": AUGUST_DEADLINE,
        "on_time": True,
        "amended": False,
    },
    "province_indicator.v1": _FIGURE,
    "province_indicator.v2": {
        **_FIGURE,
        "report_type": "monthly",
        "deadline": AUGUST_DEADLINE,
        "communes_with_warnings": 2,
        "communes_amended": 1,
    },
    "province_completeness.v1": {
        "province_code": "01",
        "report_type": "monthly",
        "period": "2025-08",
        "deadline": AUGUST_DEADLINE,
        "communes_expected": 126,
        "communes_reported": 100,
        "communes_on_time": 90,
        "communes_late": 10,
        "version": 4,
        "updated_at": SUBMITTED,
    },
    "province_indicator_change.v1": {
        "province_code": "01",
        "report_type": "monthly",
        "period": "2025-08",
        "indicator_code": "births",
        "version": 9,
        "value": 15.0,
        "previous_value": 12.0,
        "known_at": SUBMITTED,
        "causes": [
            {
                "commune_code": "00070",
                "report_id": REPORT_ID,
                "revision": 2,
                "previous_value": 3.0,
                "value": 5.0,
            },
            {
                "commune_code": "00073",
                "report_id": "r-73",
                "revision": 1,
                "previous_value": None,
                "value": 1.0,
            },
        ],
    },
    "report_warning.v1": {
        "warning_id": f"{REPORT_ID}|resolved_exceeds_received|tthc_received",
        "report_id": REPORT_ID,
        "commune_code": "00070",
        "province_code": "01",
        "report_type": "monthly",
        "period": "2025-08",
        "revision": 2,
        "rule_code": "resolved_exceeds_received",
        "indicator_code": "tthc_received",
        "value": 14.0,
        "reference_value": 12.0,
        "message_en": "resolved exceed received",
        "message_vi": "số đã giải quyết vượt số tiếp nhận",
        "raised_at": SUBMITTED,
    },
    "reporting_period.v1": {
        "report_type": "monthly",
        "period": "2025-08",
        "starts_at": datetime(2025, 7, 31, 17, tzinfo=UTC),
        "ends_at": datetime(2025, 8, 31, 17, tzinfo=UTC),
        "deadline": AUGUST_DEADLINE,
        "locks_at": AUGUST_DEADLINE + timedelta(days=30),
        "announced_at": SUBMITTED,
    },
    "missing_reports_alert.v1": {
        "alert_id": "01|monthly|2025-08|overdue",
        "province_code": "01",
        "report_type": "monthly",
        "period": "2025-08",
        "deadline": AUGUST_DEADLINE,
        "phase": "overdue",
        "commune_codes": ["00073", "00076"],
        "communes_expected": 126,
        "generated_at": SUBMITTED,
    },
    "approval.v1": {
        "approval_id": "0b4f6a52-1f43-4c3e-9d0e-8b1b2f7d5a10",
        "province_code": "01",
        "report_type": "monthly",
        "period": "2025-08",
        "approved_by": "so-noi-vu",
        "approved_at": SUBMITTED,
        "note": None,
    },
    "rejected_report.v1": _REJECTED,
    "rejected_report.v2": {
        **_REJECTED,
        "raw_size": 1_000_010,
        "raw_sha256": "ab" * 32,
        "raw_truncated": True,
    },
}


def record(schema: str, **changes: Any) -> dict[str, Any]:
    """The record of ``schema``, with ``changes``."""
    return {**RECORDS[schema], **changes}


def row_of(table: Table, **changes: Any) -> dict[str, Any]:
    """The row ``table`` makes of its topic writer's record with ``changes``, by column."""
    assert table.topic is not None
    return dict(zip(table.columns, table.row(record(table.topic.writes, **changes)), strict=True))


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
        **_REPORT,
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
        **_FIGURE,
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


def test_routes_cover_every_topic_the_sink_stores() -> None:
    routes = routes_for(TOPICS, deadlines=RULES)
    assert {name: route.table for name, route in routes.items()} == {
        "p.commune-reports.accepted": COMMUNE_REPORTS,
        "p.province-indicators": PROVINCE_INDICATOR_VALUES,
        "p.province-completeness": PROVINCE_COMPLETENESS_VALUES,
        "p.province-indicator-changes": PROVINCE_INDICATOR_CHANGES,
        "p.report-warnings": REPORT_WARNINGS_LOG,
        "p.reporting-periods": REPORTING_PERIODS,
        "p.alerts.missing-reports": MISSING_REPORT_ALERTS,
        "p.approvals": APPROVALS,
        "p.commune-reports.dead-letter": REJECTIONS,
    }
    inputs = {TOPICS.commune_reports, TOPICS.historic_reports}
    assert set(routes) == set(TOPICS.all()) - inputs


@dataclass(frozen=True)
class Message:
    topic: str
    value: bytes | None
    key: bytes | None = b"k"
    timestamp: int | None = None
    partition: int = 1
    offset: int = 99


def _place(topic: str, value: bytes | None, **more: Any) -> MessageRow:
    route = routes_for(TOPICS, deadlines=RULES).get(topic)
    return message_row(route, Message(topic, value, **more), received_at=RECEIVED)


@pytest.mark.parametrize(
    ("table", "schema"),
    [(t, t.topic.writes) for t in ROUTED if t.topic] + [(REJECTIONS, "rejected_report.v1")],
    ids=lambda case: case if isinstance(case, str) else "",
)
def test_message_row_decodes_each_topic_with_its_schema(table: Table, schema: str) -> None:
    assert table.topic is not None
    placed = _place(TOPICS.name(table.topic), codec_for(schema).encode(RECORDS[schema]))
    assert placed.error is None
    assert placed.table is table
    assert placed.row == table.row(RECORDS[schema])


def test_accepted_topic_reads_an_older_workers_commune_reports() -> None:
    legacy = codec_for("commune_report.v1").encode(_REPORT)
    placed = _place(TOPICS.accepted_reports, legacy, timestamp=KAFKA_MS)
    assert placed.table is COMMUNE_REPORTS and placed.error is None
    assert dict(zip(COMMUNE_REPORTS.columns, placed.row, strict=True)) == {
        **row_of(COMMUNE_REPORTS),
        "first_submitted_at": SUBMITTED,
        "accepted_at": KAFKA_TIME,
    }
    without_timestamp = _place(TOPICS.accepted_reports, legacy)
    assert without_timestamp.row[COMMUNE_REPORTS.index("accepted_at")] == RECEIVED
    assert submitted_at_of([placed, without_timestamp, _place("p.x", b"")]) == [
        SUBMITTED,
        SUBMITTED,
    ]


def test_figures_topic_reads_v1_with_the_deadline_of_its_period() -> None:
    old = _place(TOPICS.province_indicators, codec_for("province_indicator.v1").encode(_FIGURE))
    assert old.error is None
    assert old.row == (
        "01",
        "2025-08",
        "tthc_ontime_rate",
        0.75,
        30.0,
        40.0,
        12,
        7,
        SUBMITTED,
        "monthly",
        AUGUST_DEADLINE,
        0,
        0,
    )


def test_kafka_timestamp_falls_back_when_absent_or_out_of_range() -> None:
    assert kafka_timestamp(KAFKA_MS, default=RECEIVED) == KAFKA_TIME
    assert kafka_timestamp(-1, default=RECEIVED) == RECEIVED
    assert kafka_timestamp(None, default=RECEIVED) == RECEIVED
    assert kafka_timestamp(2**32 * 1000, default=RECEIVED) == RECEIVED


def test_undecodable_message_becomes_a_poison_row_with_its_bytes() -> None:
    placed = _place(TOPICS.accepted_reports, b"not avro at all")
    assert placed.table is POISON_MESSAGES
    assert placed.error is not None and placed.error.startswith("DecodeError: ")
    assert placed.row == (
        "p.commune-reports.accepted",
        1,
        99,
        b"k",
        b"not avro at all",
        placed.error,
        RECEIVED,
    )


def test_a_record_of_another_schema_is_poison_not_a_wrong_row() -> None:
    payload = codec_for("province_indicator.v1").encode(_FIGURE)
    placed = _place(TOPICS.accepted_reports, payload)
    assert placed.table is POISON_MESSAGES
    assert placed.error is not None and "unknown writer schema fingerprint" in placed.error
    payload = codec_for("accepted_report.v1").encode(RECORDS["accepted_report.v1"])
    assert _place(TOPICS.approvals, payload).table is POISON_MESSAGES


def test_decodable_but_unstorable_record_is_poison() -> None:
    payload = codec_for("accepted_report.v1").encode(record("accepted_report.v1", revision=-5))
    placed = _place(TOPICS.accepted_reports, payload)
    assert placed.table is POISON_MESSAGES
    assert placed.error == "RowError: revision -5 is outside the column's range 0..4294967295"
    legacy = codec_for("commune_report.v1").encode(record("commune_report.v1", period="2025-13"))
    placed = _place(TOPICS.accepted_reports, legacy)
    assert placed.table is POISON_MESSAGES
    assert placed.error is not None
    assert placed.error.startswith(
        "RowError: cannot tell the report type and deadline of period '2025-13'"
    )


def test_tombstone_and_unrouted_topic_are_poison_too() -> None:
    tombstone = _place(TOPICS.province_indicators, None, key=None)
    assert tombstone.table is POISON_MESSAGES
    assert tombstone.row[3:5] == (b"", b"")
    assert tombstone.error == "RowError: the message has no value (a tombstone)"
    stray = _place("p.elsewhere", b"x")
    assert stray.error == "RowError: no table is configured for topic 'p.elsewhere'"


@pytest.mark.parametrize(
    ("schema", "expected"),
    [("rejected_report.v2", (1_000_010, "ab" * 32, 1)), ("rejected_report.v1", (None, None, 0))],
)
def test_a_dead_letter_keeps_the_size_digest_and_cut_of_the_whole_event_v1_unknown(
    schema: str, expected: tuple[object, ...]
) -> None:
    placed = _place(TOPICS.dead_letter, codec_for(schema).encode(RECORDS[schema]))
    assert placed.error is None and placed.table is REJECTIONS
    row = dict(zip(REJECTIONS.columns, placed.row, strict=True))
    assert (row["raw_size"], row["raw_sha256"], row["raw_truncated"]) == expected
    assert (row["rejection_id"], row["raw_payload"]) == (
        "baocao.commune-reports:3:41",
        b"\xc3\x01raw",
    )
