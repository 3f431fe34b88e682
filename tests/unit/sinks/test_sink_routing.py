"""From a Kafka message to its table and row: the routes follow the topic contract
(:mod:`baocao.core.topics`) and the table declarations (a start-up error when a declaration
does not cover a topic), every accepted schema is decoded, and what cannot be stored is
poison, never a crash (records from :mod:`support.sink_records`)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import fastavro
import pytest
from support.settings import RULES
from support.sink_records import (
    AUGUST_DEADLINE,
    KAFKA_MS,
    KAFKA_TIME,
    RECEIVED,
    RECORDS,
    SUBMITTED,
    record,
    row_of,
)

from baocao.core import topics as contract
from baocao.core.avro import codec_for, schema_fingerprint
from baocao.schemas import avro_schema_path
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
    POISON_MESSAGES,
    REJECTIONS,
    TABLES,
)
from baocao.sinks.clickhouse.rows.upgrades import kafka_timestamp

TOPICS = contract.Topics("p")
ROUTES = routes_for(TOPICS, deadlines=RULES)
ROUTED = [table for table in TABLES if table.topic is not None]


def _fingerprint(schema: str) -> bytes:
    document = json.loads(avro_schema_path(schema).read_text(encoding="utf-8"))
    return schema_fingerprint(fastavro.parse_schema(document))


def test_a_route_for_exactly_the_topics_the_sinks_read() -> None:
    read = {
        TOPICS.name(spec) for spec in contract.SPECS if contract.Component.SINKS in spec.readers
    }
    assert set(ROUTES) == read


@pytest.mark.parametrize(
    "spec",
    [s for s in contract.SPECS if contract.Component.SINKS in s.readers],
    ids=lambda s: s.attribute,
)
def test_every_accepted_schema_has_a_reader_and_the_writers_comes_first(
    spec: contract.TopicSpec,
) -> None:
    route = ROUTES[TOPICS.name(spec)]
    known = {fp for reader in route.readers for fp in reader.codec.known_schemas}
    assert {_fingerprint(schema) for schema in spec.accepts} <= known
    assert _fingerprint(spec.writes) in route.readers[0].codec.known_schemas


def test_each_topic_the_sinks_read_is_declared_by_exactly_one_table() -> None:
    declaring = [table.topic for table in TABLES if table.topic is not None]
    read = [s for s in contract.SPECS if contract.Component.SINKS in s.readers]
    assert sorted(s.attribute for s in declaring) == sorted(s.attribute for s in read)


def test_a_table_without_the_upgrade_its_topic_needs_fails_at_start_up() -> None:
    without = dataclasses.replace(COMMUNE_REPORTS, upgrades={})
    with pytest.raises(ValueError, match=r"commune_reports: .*missing \['commune_report'\]"):
        routes_for(TOPICS, deadlines=RULES, tables=(without,))
    unread = dataclasses.replace(
        APPROVALS, upgrades={"commune_report": COMMUNE_REPORTS.upgrades["commune_report"]}
    )
    with pytest.raises(ValueError, match=r"approvals: .*unread \['commune_report'\]"):
        routes_for(TOPICS, deadlines=RULES, tables=(*TABLES, unread))


def test_a_topic_the_sinks_read_without_a_table_fails_at_start_up() -> None:
    with pytest.raises(ValueError, match="the sinks read topic approvals, but no table"):
        routes_for(TOPICS, deadlines=RULES, tables=[t for t in TABLES if t is not APPROVALS])


def test_routes_cover_every_topic_the_sink_stores() -> None:
    routes = routes_for(TOPICS, deadlines=RULES)
    assert {name: route.table.name for name, route in routes.items()} == {
        "p.commune-reports.accepted": "commune_reports",
        "p.province-indicators": "province_indicator_values",
        "p.province-completeness": "province_completeness_values",
        "p.province-indicator-changes": "province_indicator_changes",
        "p.report-warnings": "report_warnings_log",
        "p.reporting-periods": "reporting_periods",
        "p.alerts.missing-reports": "missing_report_alerts",
        "p.approvals": "approvals",
        "p.approvals.decisions": "approval_decisions",
        "p.reporting-obligations": "reporting_obligations",
        "p.commune-reports.dead-letter": "rejections",
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
    route = ROUTES.get(topic)
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
    legacy = codec_for("commune_report.v1").encode(RECORDS["commune_report.v1"])
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
    old = _place(
        TOPICS.province_indicators,
        codec_for("province_indicator.v1").encode(RECORDS["province_indicator.v1"]),
    )
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
    payload = codec_for("province_indicator.v1").encode(RECORDS["province_indicator.v1"])
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
