"""The Kafka record of a report: Avro value that decodes back to the report, province key."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from baocao.core.avro import codec_for
from baocao.core.models import CommuneReport, parse_report
from baocao.producers.exceptions import ReportEncodeError
from baocao.producers.publisher import DeliveryStats, encode_report, report_key

REPORT = CommuneReport(
    report_id="6f1c1f39-3b7e-4c39-9d5e-8e0f3f7a0c11",
    commune_code="00070",
    province_code="01",
    period="2025-08",
    revision=2,
    submitted_at=datetime(2025, 9, 2, 2, 30, 15, tzinfo=UTC),
    indicators={"tthc_received": 12.0, "budget_revenue": 1234.5},
)


def test_the_value_decodes_back_to_the_report() -> None:
    value = encode_report(REPORT)
    assert value[:2] == b"\xc3\x01"  # Avro single-object encoding
    decoded, reasons = parse_report(codec_for("commune_report.v1").decode(value))
    assert reasons == []
    assert decoded == REPORT


def test_the_key_is_the_province_code() -> None:
    assert report_key(REPORT) == b"01"
    assert report_key(replace(REPORT, province_code="79")) == b"79"


@pytest.mark.parametrize("revision", [2**31, -(2**31) - 1, 2**40])
def test_a_revision_beyond_an_avro_int_cannot_be_encoded(revision: int) -> None:
    with pytest.raises(ReportEncodeError, match=f"revision {revision} does not fit"):
        encode_report(replace(REPORT, revision=revision))


def test_text_that_is_not_unicode_cannot_be_encoded() -> None:
    with pytest.raises(ReportEncodeError, match=r"cannot be encoded as commune_report\.v2"):
        encode_report(replace(REPORT, commune_code="\ud800"))


def test_delivery_stats_pending() -> None:
    assert DeliveryStats(sent=10, delivered=7, failed=1).pending == 2
