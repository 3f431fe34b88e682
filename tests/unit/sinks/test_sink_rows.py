"""Message-to-row rules of the sink: decoding, routing, storage checks, poison rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from baocao.avro import codec_for
from baocao.topics import Topics
from sinks.clickhouse.rows import (
    COMMUNE_REPORTS,
    POISON_MESSAGES,
    PROVINCE_INDICATOR_VALUES,
    REJECTIONS,
    TABLES,
    MessageRow,
    commune_report_row,
    message_row,
    province_indicator_row,
    rejection_row,
    routes_for,
)
from sinks.exceptions import RowError

SUBMITTED = datetime(2025, 9, 2, 2, 30, tzinfo=UTC)
RECEIVED = datetime(2025, 9, 2, 3, 0, tzinfo=UTC)
REPORT_ID = "6f1c1e9e-8a5b-4c55-9d6a-2f0a4c7b1e01"


def report(**changes: object) -> dict[str, object]:
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


def figure(**changes: object) -> dict[str, object]:
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
    assert len(commune_report_row(report())) == len(COMMUNE_REPORTS.columns)
    assert len(province_indicator_row(figure())) == len(PROVINCE_INDICATOR_VALUES.columns)
    assert len(rejection_row(rejected())) == len(REJECTIONS.columns)
    assert [t.name for t in TABLES] == [
        "commune_reports",
        "province_indicator_values",
        "rejections",
        "sink_poison_messages",
    ]


def test_commune_report_row_sorts_indicators_so_copies_are_identical() -> None:
    row = commune_report_row(report())
    assert row == (
        REPORT_ID,
        "00070",
        "01",
        "2025-08",
        2,
        SUBMITTED,
        ["births", "deaths", "tthc_received"],
        [3.0, 1.0, 12.0],
    )
    reordered = report(indicators={"deaths": 1.0, "tthc_received": 12.0, "births": 3.0})
    assert commune_report_row(reordered) == row


def test_commune_report_row_accepts_fastavro_uuid_and_converts_times_to_utc() -> None:
    local = SUBMITTED.astimezone(timezone(timedelta(hours=7)))
    row = commune_report_row(report(report_id=uuid.UUID(REPORT_ID), submitted_at=local))
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
    ],
)
def test_commune_report_row_refuses_what_the_columns_cannot_hold(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(RowError, match=message):
        commune_report_row(report(**changes))


def test_missing_field_is_a_row_error() -> None:
    record = report()
    del record["period"]
    with pytest.raises(RowError, match="field 'period' is missing"):
        commune_report_row(record)


def test_province_indicator_row_keeps_nulls_of_a_zero_denominator() -> None:
    row = province_indicator_row(figure(value=None, numerator=0.0, denominator=0.0))
    assert row == ("01", "2025-08", "tthc_ontime_rate", None, 0.0, 0.0, 12, 7, SUBMITTED)
    with pytest.raises(RowError, match="version -3 is outside"):
        province_indicator_row(figure(version=-3))
    with pytest.raises(RowError, match="communes_reported -1 is outside"):
        province_indicator_row(figure(communes_reported=-1))


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


def test_routes_cover_the_three_output_topics_of_the_worker() -> None:
    topics = Topics("p")
    routes = routes_for(topics)
    assert {name: route.table for name, route in routes.items()} == {
        "p.commune-reports.accepted": COMMUNE_REPORTS,
        "p.province-indicators": PROVINCE_INDICATOR_VALUES,
        "p.commune-reports.dead-letter": REJECTIONS,
    }
    assert topics.commune_reports not in routes


def _place(topic: str, value: bytes | None, key: bytes | None = b"k") -> MessageRow:
    return message_row(
        routes_for(Topics("p")).get(topic),
        topic=topic,
        partition=1,
        offset=99,
        key=key,
        value=value,
        received_at=RECEIVED,
    )


def test_message_row_decodes_each_topic_with_its_schema() -> None:
    placed = _place("p.commune-reports.accepted", codec_for("commune_report.v1").encode(report()))
    assert placed.table == COMMUNE_REPORTS and placed.error is None
    assert placed.row == commune_report_row(report())

    placed = _place("p.province-indicators", codec_for("province_indicator.v1").encode(figure()))
    assert placed.table == PROVINCE_INDICATOR_VALUES
    assert placed.row == province_indicator_row(figure())

    payload = codec_for("rejected_report.v1").encode(rejected())
    placed = _place("p.commune-reports.dead-letter", payload)
    assert placed.table == REJECTIONS
    assert placed.row == rejection_row(rejected())


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
    payload = codec_for("province_indicator.v1").encode(figure())
    placed = _place("p.commune-reports.accepted", payload)
    assert placed.table == POISON_MESSAGES
    assert placed.error is not None and "unknown writer schema fingerprint" in placed.error


def test_decodable_but_unstorable_record_is_poison() -> None:
    payload = codec_for("commune_report.v1").encode(report(revision=-5))
    placed = _place("p.commune-reports.accepted", payload)
    assert placed.table == POISON_MESSAGES
    assert placed.error == "RowError: revision -5 is outside the column's range 0..4294967295"


def test_tombstone_and_unrouted_topic_are_poison_too() -> None:
    tombstone = _place("p.province-indicators", None, key=None)
    assert tombstone.table == POISON_MESSAGES
    assert tombstone.row[3:5] == (b"", b"")
    assert tombstone.error == "RowError: the message has no value (a tombstone)"
    stray = _place("p.elsewhere", b"x")
    assert stray.error == "RowError: no table is configured for topic 'p.elsewhere'"
