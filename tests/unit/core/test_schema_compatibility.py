"""Every version of a record reads data of every other version, on real encoded samples.

Backward: a new reader reads what an old writer wrote. Forward: an old reader reads what a new
writer wrote. Both must hold because old and new producers and consumers share one topic
during a rollout (see :mod:`baocao.core.avro`). fastavro's schema resolution is the judge: it
raises when a reader field has no value in the writer's data and no default, or when types
do not promote.
"""

from __future__ import annotations

import copy
import io
import itertools
import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import fastavro
import pytest
from fastavro.read import SchemaResolutionError
from fastavro.utils import generate_many

from baocao.core.avro import codec_for, schema_fingerprint, schema_versions
from baocao.core.models import CommuneReport
from baocao.producers.publisher import encode_report
from baocao.schemas import avro_schema_names, avro_schema_path


def _schema(name: str) -> Any:
    return json.loads(avro_schema_path(name).read_text(encoding="utf-8"))


def _by_record() -> dict[str, list[str]]:
    records: dict[str, list[str]] = defaultdict(list)
    for name in avro_schema_names():
        records[name.rsplit(".v", 1)[0]].append(name)
    return records


def _pairs() -> list[tuple[str, str]]:
    """(older, newer) for every two versions of one record."""
    return [
        pair
        for base in sorted(_by_record())
        for pair in itertools.combinations(schema_versions(f"{base}.v1"), 2)
    ]


def _samples(schema: Any, count: int = 50) -> list[Any]:
    return list(generate_many(fastavro.parse_schema(copy.deepcopy(schema)), count))


def _read_all(writer: Any, reader: Any, records: list[Any]) -> list[Any]:
    """Encode ``records`` with ``writer``, decode each with ``reader`` (schema resolution)."""
    parsed_writer = fastavro.parse_schema(copy.deepcopy(writer))
    parsed_reader = fastavro.parse_schema(copy.deepcopy(reader))
    decoded = []
    for record in records:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, parsed_writer, record)
        buffer.seek(0)
        decoded.append(fastavro.schemaless_reader(buffer, parsed_writer, parsed_reader))
    return decoded


def assert_compatible(old: Any, new: Any) -> None:
    """Raise unless ``new`` reads ``old`` data and ``old`` reads ``new`` data."""
    assert old["name"] == new["name"] and old.get("namespace") == new.get("namespace")
    _read_all(old, new, _samples(old))  # backward
    _read_all(new, old, _samples(new))  # forward


def test_every_record_with_versions_is_checked() -> None:
    assert ("commune_report.v1", "commune_report.v2") in _pairs()
    assert ("province_indicator.v1", "province_indicator.v2") in _pairs()


@pytest.mark.parametrize(("old", "new"), _pairs())
def test_versions_are_backward_and_forward_compatible(old: str, new: str) -> None:
    assert_compatible(_schema(old), _schema(new))


def test_an_incompatible_change_fails() -> None:
    v2 = _schema("commune_report.v2")
    added_without_default = copy.deepcopy(v2)
    added_without_default["fields"].append({"name": "reporter_id", "type": "string"})
    with pytest.raises(SchemaResolutionError):
        assert_compatible(v2, added_without_default)  # new reader, old data: no default
    retyped = copy.deepcopy(v2)
    [revision] = [f for f in retyped["fields"] if f["name"] == "revision"]
    revision["type"] = "string"
    with pytest.raises(SchemaResolutionError):
        assert_compatible(v2, retyped)


REPORT = CommuneReport(
    report_id="6f1c2b0e-3d1f-4b7a-9a8e-1f2e3d4c5b6a",
    commune_code="00070",
    province_code="01",
    period="2025-08",
    revision=2,
    submitted_at=datetime(2025, 9, 2, 2, 30, tzinfo=UTC),
    indicators={"tthc_received": 12.0},
    reporter_name="Nguyễn Văn A",
    notes="đã đối chiếu",
)


def test_a_v1_reader_decodes_what_producers_write_now() -> None:
    payload = encode_report(REPORT)
    assert payload[2:10] == schema_fingerprint(codec_for("commune_report.v2").writer_schema)
    old = codec_for("commune_report.v1").decode(payload)
    assert set(old) == {f["name"] for f in _schema("commune_report.v1")["fields"]}
    assert old["indicators"] == {"tthc_received": 12.0}


def test_a_v2_reader_fills_defaults_for_v1_data() -> None:
    payload = codec_for("commune_report.v1").encode(REPORT.to_avro())
    record = codec_for("commune_report.v2").decode(payload)
    assert record["report_type"] is None and record["notes"] is None
    assert record["commune_code"] == "00070"


def test_producers_write_the_report_type_of_the_period() -> None:
    record = codec_for("commune_report.v2").decode(encode_report(REPORT))
    assert record["report_type"] == "monthly"
    assert record["reporter_name"] == "Nguyễn Văn A"
    assert record["reporter_contact"] is None
