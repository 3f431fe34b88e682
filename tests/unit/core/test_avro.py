from datetime import UTC, datetime

import pytest

from baocao.core.avro import DecodeError, codec_for, schema_fingerprint
from baocao.core.models import CommuneReport, parse_report

REPORT = CommuneReport(
    report_id="6f1c2b0e-3d1f-4b7a-9a8e-1f2e3d4c5b6a",
    commune_code="00070",
    province_code="01",
    period="2025-08",
    revision=2,
    submitted_at=datetime(2025, 9, 2, 2, 30, tzinfo=UTC),
    indicators={"tthc_received": 12.0, "budget_revenue": 1234.5},
)


def test_commune_report_round_trips_through_avro() -> None:
    codec = codec_for("commune_report.v1")
    payload = codec.encode(REPORT.to_avro())
    assert payload[:2] == b"\xc3\x01"
    assert payload[2:10] == schema_fingerprint(codec.writer_schema)
    decoded, problems = parse_report(codec.decode(payload))
    assert problems == []
    assert decoded == REPORT


@pytest.mark.parametrize(
    "payload",
    [b"", b"garbage", b"\xc3\x01" + b"\x00" * 8 + b"body", b"\xc3\x01"],
)
def test_bytes_no_schema_wrote_are_a_decode_error(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        codec_for("commune_report.v1").decode(payload)


def test_truncated_body_is_a_decode_error() -> None:
    codec = codec_for("commune_report.v1")
    payload = codec.encode(REPORT.to_avro())
    with pytest.raises(DecodeError):
        codec.decode(payload[:20])


@pytest.mark.parametrize("name", ["province_indicator.v1", "rejected_report.v1"])
def test_every_schema_parses_and_has_a_distinct_fingerprint(name: str) -> None:
    codec = codec_for(name)
    assert schema_fingerprint(codec.writer_schema) != schema_fingerprint(
        codec_for("commune_report.v1").writer_schema
    )
