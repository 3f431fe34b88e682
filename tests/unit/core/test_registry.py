"""Confluent framing and the Schema Registry client, against a small in-process registry.

The stub answers the two endpoints the client uses exactly as the Confluent API documents
them; a real registry could not be installed here (see the report of issue 4).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from support.registry import StubRegistry, running_registry

from baocao.core.avro import DecodeError, codec_for
from baocao.core.catalogue import load_catalogue
from baocao.core.instants import millis
from baocao.core.models import CommuneReport
from baocao.core.reference import load_reference
from baocao.core.registry import (
    SchemaRegistryClient,
    SchemaRegistryError,
    registry_client,
    value_subject,
    wire_codec,
)
from baocao.core.settings import DeadlineSettings, KafkaSettings, SchemaRegistrySettings
from baocao.core.topics import Topics
from baocao.producers.exceptions import SchemaRegistryUnavailableError
from baocao.producers.publisher import ReportPublisher
from baocao.streams.records import Outcome, SourceRecord, Tables
from baocao.streams.step import RollupStep

REPORT = CommuneReport(
    report_id="6f1c2b0e-3d1f-4b7a-9a8e-1f2e3d4c5b6a",
    commune_code="00070",
    province_code="01",
    period="2025-08",
    revision=1,
    submitted_at=datetime(2025, 9, 2, 2, 30, tzinfo=UTC),
    indicators={"tthc_received": 12.0},
    notes="ghi chú",
)


@pytest.fixture
def stub() -> Iterator[tuple[StubRegistry, str]]:
    with running_registry() as served:
        yield served


def test_no_url_means_no_registry() -> None:
    assert registry_client(SchemaRegistrySettings()) is None
    assert registry_client(SchemaRegistrySettings(url="http://r:8081")) is not None


def test_confluent_framing_round_trips_through_the_registry(
    stub: tuple[StubRegistry, str],
) -> None:
    registry, url = stub
    writer = wire_codec("commune_report.v2", topic="p.reports", registry=SchemaRegistryClient(url))
    payloads = [writer.encode(REPORT.to_avro()) for _ in range(3)]
    assert payloads[0][:5] == b"\x00\x00\x00\x00\x01"  # magic 0, schema id 1 (big-endian)
    assert registry.subjects == {value_subject("p.reports"): [1]}
    assert registry.requests == ["POST /subjects/p.reports-value/versions"]  # cached

    reader = wire_codec("commune_report.v2", topic="p.reports", registry=SchemaRegistryClient(url))
    record = reader.decode(payloads[0])
    reader.decode(payloads[1])
    assert record["notes"] == "ghi chú" and record["indicators"] == {"tthc_received": 12.0}
    assert registry.requests[1:] == ["GET /schemas/ids/1"]  # one lookup per id


def test_an_old_reader_resolves_a_newer_writer_from_the_registry(
    stub: tuple[StubRegistry, str],
) -> None:
    _, url = stub
    client = SchemaRegistryClient(url)
    payload = wire_codec("commune_report.v2", topic="t", registry=client).encode(REPORT.to_avro())
    old = wire_codec("commune_report.v1", topic="t", registry=client).decode(payload)
    assert "notes" not in old and old["commune_code"] == "00070"


def test_both_framings_decode_so_a_topic_can_migrate(stub: tuple[StubRegistry, str]) -> None:
    _, url = stub
    reader = wire_codec("commune_report.v2", topic="t", registry=SchemaRegistryClient(url))
    single_object = codec_for("commune_report.v1").encode(REPORT.to_avro())
    assert reader.decode(single_object)["commune_code"] == "00070"
    confluent = reader.encode(REPORT.to_avro())
    plain = wire_codec("commune_report.v2", topic="t", registry=None)
    assert plain.decode(plain.encode(REPORT.to_avro()))["notes"] == "ghi chú"
    with pytest.raises(DecodeError, match="no schema registry is configured"):
        plain.decode(confluent)
    with pytest.raises(DecodeError, match="too short"):
        reader.decode(b"\x00\x00\x01")
    with pytest.raises(DecodeError, match="writer schema 99 unavailable"):
        reader.decode(b"\x00\x00\x00\x00\x63" + b"body")
    with pytest.raises(DecodeError):
        reader.decode(confluent[:8])


def test_a_refused_schema_stops_the_publisher_before_kafka(
    stub: tuple[StubRegistry, str],
) -> None:
    registry, url = stub
    registry.refuse = True
    client = SchemaRegistryClient(url)
    with pytest.raises(SchemaRegistryError, match="answered 409"):
        client.register("s-value", json.dumps({"type": "string"}))
    publisher = ReportPublisher(
        KafkaSettings(bootstrap_servers="127.0.0.1:1"), registry=SchemaRegistryClient(url)
    )
    with pytest.raises(SchemaRegistryUnavailableError, match="incompatible"):
        publisher.open()


def test_an_unreachable_registry_is_a_clear_error() -> None:
    client = SchemaRegistryClient("http://127.0.0.1:1", timeout=2)
    with pytest.raises(SchemaRegistryError, match="unreachable"):
        client.schema(1)


def test_the_worker_step_accepts_both_framings(stub: tuple[StubRegistry, str]) -> None:
    _, url = stub
    topics = Topics("unit")
    reference = load_reference()
    a, b = reference.communes_by_province["01"][:2]
    step = RollupStep(
        topics=topics,
        reference=reference,
        catalogue=load_catalogue(),
        deadlines=DeadlineSettings(),
        clock=lambda: datetime(2025, 9, 3, tzinfo=UTC),
        registry=SchemaRegistryClient(url),
    )
    confluent = wire_codec(
        "commune_report.v2", topic=topics.commune_reports, registry=SchemaRegistryClient(url)
    ).encode(replace(REPORT, commune_code=a).to_avro())
    single = codec_for("commune_report.v1").encode(replace(REPORT, commune_code=b).to_avro())
    at = millis(datetime(2025, 9, 3, tzinfo=UTC))
    records = [
        SourceRecord(topics.commune_reports, 0, offset, b"01", value, at)
        for offset, value in enumerate((confluent, single))
    ]
    tables = Tables(latest={}, versions={}, approvals={}, figures={})
    result = step.run(records, tables=tables)
    assert result.outcomes == {Outcome.ACCEPTED: 2}
