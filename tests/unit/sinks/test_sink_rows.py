"""Message-to-row rules of the sink: decoding, routing, older writers, storage checks, poison."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from support.settings import RULES

from baocao.core.avro import codec_for
from baocao.core.topics import Topics
from baocao.sinks.clickhouse.rows import (
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
    MessageRow,
    Row,
    accepted_report_row,
    alert_row,
    approval_row,
    change_row,
    completeness_row,
    kafka_timestamp,
    message_row,
    province_indicator_row,
    rejection_row,
    reporting_period_row,
    routes_for,
    submitted_at_of,
    upgrade_commune_report,
    upgrade_province_indicator,
    warning_row,
)
from baocao.sinks.exceptions import RowError

SUBMITTED = datetime(2025, 9, 2, 2, 30, tzinfo=UTC)
RECEIVED = datetime(2025, 9, 2, 3, 0, tzinfo=UTC)
KAFKA_TIME = datetime(2025, 9, 2, 2, 45, 1, 250000, tzinfo=UTC)
REPORT_ID = "6f1c1e9e-8a5b-4c55-9d6a-2f0a4c7b1e01"
#: Monthly reports on August 2025 are due by the end of 5 September, local time (UTC+7).
AUGUST_DEADLINE = datetime(2025, 9, 5, 16, 59, 59, 999000, tzinfo=UTC)
TOPICS = Topics("p")


def report(**changes: object) -> dict[str, object]:
    """A commune_report.v1 record (what older workers put on the accepted topic)."""
    record: dict[str, object] = {
        "report_id": REPORT_ID,
        "commune_code": "00070",
        "province_code": "01",
        "period": "2025-08",
        "revision": 2,
        "submitted_at": SUBMITTED,
        "indicators": {"tthc_received": 12.0, "births": 3.0, "deaths": 1},
    }
    record.update(changes)
    return record


def accepted(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        **report(),
        "report_type": "monthly",
        "first_submitted_at": SUBMITTED - timedelta(days=1),
        "accepted_at": KAFKA_TIME,
        "deadline": AUGUST_DEADLINE,
        "on_time": True,
        "amended": False,
    }
    record.update(changes)
    return record


def figure_v1(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
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
    record.update(changes)
    return record


def figure(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        **figure_v1(),
        "report_type": "monthly",
        "deadline": AUGUST_DEADLINE,
        "communes_with_warnings": 2,
        "communes_amended": 1,
    }
    record.update(changes)
    return record


def completeness(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
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
    }
    record.update(changes)
    return record


def change(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
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
    }
    record.update(changes)
    return record


def warning(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
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
    }
    record.update(changes)
    return record


def reporting_period(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "report_type": "monthly",
        "period": "2025-08",
        "starts_at": datetime(2025, 7, 31, 17, tzinfo=UTC),
        "ends_at": datetime(2025, 8, 31, 17, tzinfo=UTC),
        "deadline": AUGUST_DEADLINE,
        "locks_at": AUGUST_DEADLINE + timedelta(days=30),
        "announced_at": SUBMITTED,
    }
    record.update(changes)
    return record


def alert(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "alert_id": "01|monthly|2025-08|overdue",
        "province_code": "01",
        "report_type": "monthly",
        "period": "2025-08",
        "deadline": AUGUST_DEADLINE,
        "phase": "overdue",
        "commune_codes": ["00073", "00076"],
        "communes_expected": 126,
        "generated_at": SUBMITTED,
    }
    record.update(changes)
    return record


def approval(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "approval_id": "0b4f6a52-1f43-4c3e-9d0e-8b1b2f7d5a10",
        "province_code": "01",
        "report_type": "monthly",
        "period": "2025-08",
        "approved_by": "so-noi-vu",
        "approved_at": SUBMITTED,
        "note": None,
    }
    record.update(changes)
    return record


def rejected(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
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
    record.update(changes)
    return record


def test_every_row_has_one_value_per_column() -> None:
    assert len(accepted_report_row(accepted())) == len(COMMUNE_REPORTS.columns)
    assert len(province_indicator_row(figure())) == len(PROVINCE_INDICATOR_VALUES.columns)
    assert len(completeness_row(completeness())) == len(PROVINCE_COMPLETENESS_VALUES.columns)
    assert len(change_row(change())) == len(PROVINCE_INDICATOR_CHANGES.columns)
    assert len(warning_row(warning())) == len(REPORT_WARNINGS_LOG.columns)
    assert len(reporting_period_row(reporting_period())) == len(REPORTING_PERIODS.columns)
    assert len(alert_row(alert())) == len(MISSING_REPORT_ALERTS.columns)
    assert len(approval_row(approval())) == len(APPROVALS.columns)
    assert len(rejection_row(rejected())) == len(REJECTIONS.columns)
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


def test_accepted_report_row_sorts_indicators_so_copies_are_identical() -> None:
    row = accepted_report_row(accepted())
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
    reordered = accepted(indicators={"deaths": 1.0, "tthc_received": 12.0, "births": 3.0})
    assert accepted_report_row(reordered) == row


def test_accepted_report_row_accepts_fastavro_uuid_and_converts_times_to_utc() -> None:
    local = SUBMITTED.astimezone(timezone(timedelta(hours=7)))
    row = accepted_report_row(accepted(report_id=uuid.UUID(REPORT_ID), submitted_at=local))
    assert row[0] == REPORT_ID
    assert row[5] == SUBMITTED
    assert row[5].utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"revision": -1}, "revision -1 is outside"),
        ({"revision": 2**32}, "revision 4294967296 is outside"),
        ({"revision": True}, "revision must be an integer"),
        ({"submitted_at": datetime(1969, 12, 31, tzinfo=UTC)}, "submitted_at 1969"),
        ({"submitted_at": datetime(2107, 1, 1, tzinfo=UTC)}, "outside 1970..2106"),
        ({"submitted_at": 1756780200000}, "submitted_at must be a timestamp"),
        ({"indicators": {"births": "three"}}, "indicator births must be a number"),
        ({"indicators": [1.0]}, "indicators must be a map"),
        ({"commune_code": 70}, "commune_code must be a string"),
        ({"on_time": 1}, "on_time must be a boolean"),
    ],
)
def test_accepted_report_row_refuses_what_the_columns_cannot_hold(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(RowError, match=message):
        accepted_report_row(accepted(**changes))


def test_missing_field_is_a_row_error() -> None:
    record = accepted()
    del record["period"]
    with pytest.raises(RowError, match="field 'period' is missing"):
        accepted_report_row(record)


def test_an_older_workers_accepted_report_gets_type_deadline_and_timeliness() -> None:
    upgraded = upgrade_commune_report(report(), accepted_at=KAFKA_TIME, rules=RULES)
    assert upgraded == {
        **report(),
        "report_type": "monthly",
        "first_submitted_at": SUBMITTED,
        "accepted_at": KAFKA_TIME,
        "deadline": AUGUST_DEADLINE,
        "on_time": True,
        "amended": False,
    }
    late = upgrade_commune_report(
        report(submitted_at=AUGUST_DEADLINE + timedelta(milliseconds=1)),
        accepted_at=KAFKA_TIME,
        rules=RULES,
    )
    assert late["on_time"] is False
    at_deadline = upgrade_commune_report(
        report(submitted_at=AUGUST_DEADLINE), accepted_at=KAFKA_TIME, rules=RULES
    )
    assert at_deadline["on_time"] is True
    weekly = upgrade_commune_report(report(period="2025-W35"), accepted_at=KAFKA_TIME, rules=RULES)
    # Week 35 of 2025 ends on Sunday 31 August; due by the end of Tuesday 2 September.
    assert (weekly["report_type"], weekly["deadline"]) == (
        "weekly",
        datetime(2025, 9, 2, 16, 59, 59, 999000, tzinfo=UTC),
    )
    with pytest.raises(RowError, match="deadline of period '2025-13'"):
        upgrade_commune_report(report(period="2025-13"), accepted_at=KAFKA_TIME, rules=RULES)


def test_an_older_workers_figure_gets_type_and_deadline_from_its_period() -> None:
    as_v2 = {
        **figure_v1(period="2025-Q3"),
        "report_type": "monthly",  # the v2 default
        "deadline": 0,  # fastavro hands the default over as the int
        "communes_with_warnings": 0,
        "communes_amended": 0,
    }
    upgraded = upgrade_province_indicator(as_v2, rules=RULES)
    assert upgraded["report_type"] == "quarterly"
    assert upgraded["deadline"] == datetime(2025, 10, 10, 16, 59, 59, 999000, tzinfo=UTC)
    assert upgrade_province_indicator(figure(), rules=RULES) == figure()


def test_province_indicator_row_keeps_nulls_of_a_zero_denominator() -> None:
    row = province_indicator_row(figure(value=None, numerator=0.0, denominator=0.0))
    assert row == (
        "01",
        "2025-08",
        "tthc_ontime_rate",
        None,
        0.0,
        0.0,
        12,
        7,
        SUBMITTED,
        "monthly",
        AUGUST_DEADLINE,
        2,
        1,
    )
    with pytest.raises(RowError, match="version -3 is outside"):
        province_indicator_row(figure(version=-3))
    with pytest.raises(RowError, match="communes_reported -1 is outside"):
        province_indicator_row(figure(communes_reported=-1))


def test_completeness_change_warning_period_alert_and_approval_rows() -> None:
    assert completeness_row(completeness()) == (
        "01",
        "monthly",
        "2025-08",
        AUGUST_DEADLINE,
        126,
        100,
        90,
        10,
        4,
        SUBMITTED,
    )
    assert change_row(change()) == (
        "01",
        "monthly",
        "2025-08",
        "births",
        9,
        15.0,
        12.0,
        SUBMITTED,
        ["00070", "00073"],
        [REPORT_ID, "r-73"],
        [2, 1],
        [3.0, None],
        [5.0, 1.0],
    )
    assert change_row(change(causes=[], previous_value=None))[6:] == (
        None,
        SUBMITTED,
        [],
        [],
        [],
        [],
        [],
    )
    row = dict(zip(REPORT_WARNINGS_LOG.columns, warning_row(warning()), strict=True))
    assert (row["revision"], row["indicator_code"], row["value"], row["reference_value"]) == (
        2,
        "tthc_received",
        14.0,
        12.0,
    )
    assert warning_row(warning(indicator_code=None, value=None))[8:10] == (None, None)
    assert reporting_period_row(reporting_period())[4:] == (
        AUGUST_DEADLINE,
        AUGUST_DEADLINE + timedelta(days=30),
        SUBMITTED,
    )
    assert alert_row(alert())[5:8] == ("overdue", ["00073", "00076"], 126)
    assert approval_row(approval(approval_id=uuid.UUID(int=5), note="ok")) == (
        str(uuid.UUID(int=5)),
        "01",
        "monthly",
        "2025-08",
        "so-noi-vu",
        SUBMITTED,
        "ok",
    )


@pytest.mark.parametrize(
    ("build", "record", "message"),
    [
        (completeness_row, completeness(communes_late=-1), "communes_late -1 is outside"),
        (change_row, change(causes="00070"), "causes must be a list of records"),
        (change_row, change(known_at=None), "known_at must be a timestamp"),
        (warning_row, warning(revision=-2), "revision -2 is outside"),
        (alert_row, alert(commune_codes=[70]), "commune_codes must be a string"),
        (approval_row, approval(approved_at="today"), "approved_at must be a timestamp"),
    ],
)
def test_new_rows_refuse_what_their_columns_cannot_hold(
    build: Callable[[dict[str, object]], Row], record: dict[str, object], message: str
) -> None:
    with pytest.raises(RowError, match=message):
        build(record)


def test_rejection_row_spreads_reasons_and_stores_an_absent_commune_as_empty() -> None:
    row = dict(zip(REJECTIONS.columns, rejection_row(rejected()), strict=True))
    assert row["commune_code"] == ""
    assert row["report_id"] is None
    assert row["revision"] == -1  # a refused revision may be negative: Int32 column
    assert row["reason_codes"] == ["invalid_period", "invalid_revision"]
    assert row["reason_fields"] == ["period", None]
    assert row["reason_messages_en"] == ["bad", "r"]
    assert row["reason_messages_vi"] == ["sai", "r"]
    assert row["raw_payload"] == b"\xc3\x01raw"
    assert (row["source_topic"], row["source_partition"], row["source_offset"]) == (
        "baocao.commune-reports",
        3,
        41,
    )
    assert rejection_row(rejected(commune_code="00070"))[2] == "00070"


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
    assert TOPICS.commune_reports not in routes
    inputs = {TOPICS.commune_reports, TOPICS.historic_reports}
    assert set(routes) == set(TOPICS.all()) - inputs


def _place(
    topic: str, value: bytes | None, key: bytes | None = b"k", timestamp_ms: int | None = None
) -> MessageRow:
    return message_row(
        routes_for(TOPICS, deadlines=RULES).get(topic),
        topic=topic,
        partition=1,
        offset=99,
        key=key,
        value=value,
        received_at=RECEIVED,
        timestamp_ms=timestamp_ms,
    )


def test_message_row_decodes_each_topic_with_its_schema() -> None:
    cases = [
        ("p.commune-reports.accepted", "accepted_report.v1", accepted(), accepted_report_row),
        ("p.province-indicators", "province_indicator.v2", figure(), province_indicator_row),
        ("p.province-completeness", "province_completeness.v1", completeness(), completeness_row),
        ("p.province-indicator-changes", "province_indicator_change.v1", change(), change_row),
        ("p.report-warnings", "report_warning.v1", warning(), warning_row),
        ("p.reporting-periods", "reporting_period.v1", reporting_period(), reporting_period_row),
        ("p.alerts.missing-reports", "missing_reports_alert.v1", alert(), alert_row),
        ("p.approvals", "approval.v1", approval(), approval_row),
        ("p.commune-reports.dead-letter", "rejected_report.v1", rejected(), rejection_row),
    ]
    for topic, schema, record, build in cases:
        placed = _place(topic, codec_for(schema).encode(record))
        assert placed.error is None, (topic, placed.error)
        assert placed.row == build(record), topic


def test_accepted_topic_reads_an_older_workers_commune_reports() -> None:
    kafka_ms = int(KAFKA_TIME.timestamp() * 1000)
    placed = _place(
        "p.commune-reports.accepted",
        codec_for("commune_report.v1").encode(report()),
        timestamp_ms=kafka_ms,
    )
    assert placed.table == COMMUNE_REPORTS and placed.error is None
    assert placed.row == accepted_report_row(
        upgrade_commune_report(report(), accepted_at=KAFKA_TIME, rules=RULES)
    )
    without_timestamp = _place(
        "p.commune-reports.accepted", codec_for("commune_report.v1").encode(report())
    )
    assert without_timestamp.row[COMMUNE_REPORTS.index("accepted_at")] == RECEIVED
    assert submitted_at_of([placed, without_timestamp, _place("p.x", b"")]) == [
        SUBMITTED,
        SUBMITTED,
    ]


def test_figures_topic_reads_v1_and_v2() -> None:
    old = _place("p.province-indicators", codec_for("province_indicator.v1").encode(figure_v1()))
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
    new = _place("p.province-indicators", codec_for("province_indicator.v2").encode(figure()))
    assert new.row == province_indicator_row(figure())


def test_kafka_timestamp_falls_back_when_absent_or_out_of_range() -> None:
    assert kafka_timestamp(1756781101250, default=RECEIVED) == KAFKA_TIME
    assert kafka_timestamp(-1, default=RECEIVED) == RECEIVED
    assert kafka_timestamp(None, default=RECEIVED) == RECEIVED
    assert kafka_timestamp(2**32 * 1000, default=RECEIVED) == RECEIVED


def test_undecodable_message_becomes_a_poison_row_with_its_bytes() -> None:
    placed = _place("p.commune-reports.accepted", b"not avro at all")
    assert placed.table == POISON_MESSAGES
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
    payload = codec_for("province_indicator.v1").encode(figure_v1())
    placed = _place("p.commune-reports.accepted", payload)
    assert placed.table == POISON_MESSAGES
    assert placed.error is not None and "unknown writer schema fingerprint" in placed.error
    payload = codec_for("accepted_report.v1").encode(accepted())
    assert _place("p.approvals", payload).table == POISON_MESSAGES


def test_decodable_but_unstorable_record_is_poison() -> None:
    payload = codec_for("accepted_report.v1").encode(accepted(revision=-5))
    placed = _place("p.commune-reports.accepted", payload)
    assert placed.table == POISON_MESSAGES
    assert placed.error == "RowError: revision -5 is outside the column's range 0..4294967295"
    legacy = codec_for("commune_report.v1").encode(report(period="2025-13"))
    placed = _place("p.commune-reports.accepted", legacy)
    assert placed.table == POISON_MESSAGES
    assert placed.error is not None
    assert placed.error.startswith(
        "RowError: cannot tell the report type and deadline of period '2025-13'"
    )


def test_tombstone_and_unrouted_topic_are_poison_too() -> None:
    tombstone = _place("p.province-indicators", None, key=None)
    assert tombstone.table == POISON_MESSAGES
    assert tombstone.row[3:5] == (b"", b"")
    assert tombstone.error == "RowError: the message has no value (a tombstone)"
    stray = _place("p.elsewhere", b"x")
    assert stray.error == "RowError: no table is configured for topic 'p.elsewhere'"
