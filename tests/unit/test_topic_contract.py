"""The topic contract (``baocao.core.topics``): each topic declared once, one writer, at least
one reader, and the writers really write the schema their topic's spec names."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from baocao.core.avro import codec_for, schema_fingerprint, schema_versions, writer_fingerprint
from baocao.core.catalogue import load_catalogue
from baocao.core.models import CommuneReport
from baocao.core.reference import load_reference
from baocao.core.settings import DeadlineSettings, KafkaSettings
from baocao.core.topics import (
    APPROVALS,
    COMMUNE_REPORTS,
    SPECS,
    Component,
    Topics,
    TopicSpec,
)
from baocao.producers import approve, single
from baocao.producers.publisher import encode_report
from baocao.schemas import avro_schema_names
from baocao.sinks.clickhouse.rows.routing import routes_for
from baocao.streams.records import SourceRecord, Tables
from baocao.streams.step import RollupStep

TOPICS = Topics("unit")
#: The topic names are a contract (operators, ACLs and dashboards know them): never renamed.
NAMES = (
    "unit.commune-reports",
    "unit.commune-reports.historic",
    "unit.commune-reports.accepted",
    "unit.province-indicators",
    "unit.commune-reports.dead-letter",
    "unit.approvals",
    "unit.province-completeness",
    "unit.province-indicator-changes",
    "unit.report-warnings",
    "unit.reporting-periods",
    "unit.alerts.missing-reports",
    "unit.approvals.decisions",
    "unit.reporting-obligations",
)
REFERENCE = load_reference()
HANOI = "01"
AT = datetime(2025, 9, 2, 2, 30, tzinfo=UTC)


def report(commune: str, **indicators: float) -> CommuneReport:
    return CommuneReport(
        report_id=str(uuid.uuid4()),
        commune_code=commune,
        province_code=HANOI,
        period="2025-08",
        revision=1,
        submitted_at=AT,
        indicators=indicators,
    )


def fingerprint_of(schema: str) -> bytes:
    return schema_fingerprint(codec_for(schema).writer_schema)


def test_the_topic_names_are_unchanged() -> None:
    assert TOPICS.all() == NAMES
    assert [getattr(TOPICS, spec.attribute) for spec in SPECS] == list(NAMES)
    assert [TOPICS.spec(name) for name in NAMES] == list(SPECS)


def test_each_topic_is_declared_once() -> None:
    assert len({spec.attribute for spec in SPECS}) == len(SPECS)
    assert len({spec.suffix for spec in SPECS}) == len(SPECS)
    with pytest.raises(KeyError, match="not a topic"):
        TOPICS.spec("unit.no-such-topic")


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.attribute)
def test_every_topic_has_one_writer_and_at_least_one_reader(spec: TopicSpec) -> None:
    assert isinstance(spec.writer, Component)
    assert spec.readers, f"{spec.attribute} has no reader"
    assert spec.writer not in spec.readers, "a component does not read what it writes"
    assert len(set(spec.readers)) == len(spec.readers)


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.attribute)
def test_readers_accept_the_writer_schema_and_every_shipped_version(spec: TopicSpec) -> None:
    shipped = set(avro_schema_names())
    assert spec.writes in spec.accepts
    assert set(spec.accepts) <= shipped
    assert set(schema_versions(spec.writes)) <= set(spec.accepts)
    fields = {field["name"] for field in codec_for(spec.writes).writer_schema["fields"]}
    assert set(spec.key) <= fields, f"{spec.attribute}'s key names fields its schema lacks"


def test_the_sink_reads_exactly_the_topics_whose_spec_names_it() -> None:
    routes = routes_for(TOPICS, deadlines=DeadlineSettings())
    assert set(routes) == {TOPICS.name(s) for s in SPECS if Component.SINKS in s.readers}
    for topic, route in routes.items():
        known = {fingerprint_of(name) for name in TOPICS.spec(topic).accepts}
        readable = {fp for reader in route.readers for fp in reader.codec.known_schemas}
        assert known <= readable, f"the sink cannot decode everything {topic} accepts"


def test_the_publisher_writes_the_commune_reports_schema() -> None:
    published = report(REFERENCE.communes_by_province[HANOI][0], tthc_received=3.0)
    assert writer_fingerprint(encode_report(published)) == fingerprint_of(COMMUNE_REPORTS.writes)


def test_approve_writes_the_approvals_schema_on_its_topic(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[str, bytes, bytes]] = []

    class Sent:
        partition = 0

        def get(self, timeout: float) -> Sent:
            return self

    class FakeProducer:
        def send(self, topic: str, *, key: bytes, value: bytes, timestamp_ms: int) -> Sent:
            sent.append((topic, key, value))
            return Sent()

        def flush(self, timeout: float) -> None: ...

        def close(self, timeout: float) -> None: ...

    monkeypatch.setattr(single, "wait_for_kafka", lambda *args, **kwargs: None)
    monkeypatch.setattr(single, "ensure_topics", lambda *args, **kwargs: None)
    monkeypatch.setattr(single, "producer", lambda kafka: FakeProducer())
    record = approve.approval(
        province=HANOI,
        period="2025-08",
        report_type=None,
        approved_by="Chủ tịch",
        note=None,
        approved_at=AT,
        reference=REFERENCE,
    )
    approve.publish_approval(KafkaSettings(topic_prefix="unit"), record)

    [(topic, key, value)] = sent
    assert topic == TOPICS.name(APPROVALS)
    assert key == APPROVALS.key_bytes_of(record) == HANOI.encode()
    assert writer_fingerprint(value) == fingerprint_of(APPROVALS.writes)


def test_the_worker_writes_each_topic_with_its_spec_schema_and_key() -> None:
    step = RollupStep(
        topics=TOPICS,
        reference=REFERENCE,
        catalogue=load_catalogue(),
        deadlines=DeadlineSettings(),
        clock=lambda: AT,
    )
    first, second = REFERENCE.communes_by_province[HANOI][:2]
    good = report(first, tthc_received=3.0)
    refused = report(second, no_such_indicator=1.0)
    codec = codec_for(COMMUNE_REPORTS.writes)
    records = [
        SourceRecord(TOPICS.commune_reports, 0, offset, HANOI.encode(), value, 1_756_780_000_000)
        for offset, value in enumerate(codec.encode(r.to_avro()) for r in (good, refused))
    ]
    result = step.run(records, tables=Tables(latest={}, versions={}, approvals={}, figures={}))

    written = {TOPICS.spec(output.topic) for output in result.outputs}
    assert {s.attribute for s in written} >= {
        "accepted_reports",
        "province_indicators",
        "province_completeness",
        "dead_letter",
    }
    for output in result.outputs:
        spec = TOPICS.spec(output.topic)
        assert spec.writer is Component.STREAMS
        assert output.schema == spec.writes
        assert writer_fingerprint(output.value) == fingerprint_of(spec.writes)
        payload: dict[str, Any] = codec_for(spec.writes).decode(output.value)
        assert output.key == spec.key_of(payload), spec.attribute
