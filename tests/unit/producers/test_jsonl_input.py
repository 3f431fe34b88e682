"""Reading reports files: a verdict per line, with its number and every reason."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from baocao.core.catalogue import Catalogue, load_catalogue
from baocao.core.models import CommuneReport
from baocao.core.reference import ReferenceData, load_reference
from baocao.producers.jsonl import (
    JsonLinesWriter,
    ParsedLine,
    RejectsWriter,
    ReportLineReader,
    parse_line,
    report_line,
)

GOOD: dict[str, Any] = {
    "report_id": "6f1c1f39-3b7e-4c39-9d5e-8e0f3f7a0c11",
    "commune_code": "00070",
    "province_code": "01",
    "period": "2025-08",
    "revision": 1,
    "submitted_at": "2025-09-02T09:30:00+07:00",
    "indicators": {"tthc_received": 12.0, "tthc_resolved_on_time": 10},
}


@pytest.fixture(scope="module")
def reference() -> ReferenceData:
    return load_reference()


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def line(document: object) -> bytes:
    return (json.dumps(document, ensure_ascii=False) + "\n").encode()


def judge(
    data: bytes,
    reference: ReferenceData,
    catalogue: Catalogue,
    *,
    number: int = 7,
    validate: bool = True,
) -> ParsedLine:
    parsed = parse_line(number, data, reference=reference, catalogue=catalogue, validate=validate)
    assert parsed is not None
    return parsed


def codes(parsed: ParsedLine) -> list[tuple[str, str | None]]:
    return [(str(r.code), r.field) for r in parsed.reasons]


def test_a_good_line_gives_its_report(reference: ReferenceData, catalogue: Catalogue) -> None:
    parsed = judge(line(GOOD), reference, catalogue)
    assert not parsed.rejected
    assert parsed.reasons == ()
    assert parsed.number == 7
    assert parsed.report == CommuneReport(
        report_id="6f1c1f39-3b7e-4c39-9d5e-8e0f3f7a0c11",
        commune_code="00070",
        province_code="01",
        period="2025-08",
        revision=1,
        submitted_at=datetime(2025, 9, 2, 2, 30, tzinfo=UTC),
        indicators={"tthc_received": 12.0, "tthc_resolved_on_time": 10.0},
    )


def test_a_line_that_is_not_json_is_rejected(
    reference: ReferenceData, catalogue: Catalogue
) -> None:
    parsed = judge(b'{"report_id": "x",\n', reference, catalogue, number=3)
    assert parsed.rejected and parsed.number == 3
    assert codes(parsed) == [("malformed_event", None)]
    assert parsed.reasons[0].message_en.startswith(
        "The event could not be decoded: not valid JSON (Expecting property name"
    )
    assert parsed.raw == '{"report_id": "x",'


def test_a_missing_field_is_named(reference: ReferenceData, catalogue: Catalogue) -> None:
    document = {k: v for k, v in GOOD.items() if k not in ("period", "revision")}
    parsed = judge(line(document), reference, catalogue)
    assert parsed.rejected
    assert codes(parsed) == [("schema_error", "period"), ("schema_error", "revision")]
    assert parsed.reasons[0].message_en == (
        "The report does not match the report schema: missing field 'period'"
    )


def test_an_unknown_commune_is_rejected_by_validation(
    reference: ReferenceData, catalogue: Catalogue
) -> None:
    parsed = judge(line({**GOOD, "commune_code": "99999"}), reference, catalogue)
    assert parsed.rejected
    assert codes(parsed) == [("unknown_commune", "commune_code")]
    assert parsed.reasons[0].message_en == "Unknown commune code '99999'"


def test_every_reason_of_a_line_is_reported(reference: ReferenceData, catalogue: Catalogue) -> None:
    document = {
        **GOOD,
        "commune_code": "00070",
        "province_code": "79",
        "period": "2025-8",
        "indicators": {"tthc_on_time_rate": 0.9, "no_such_indicator": 1, "fires": -1},
    }
    parsed = judge(line(document), reference, catalogue)
    assert codes(parsed) == [
        ("commune_not_in_province", "province_code"),
        ("invalid_period", "period"),
        ("value_out_of_range", "indicators.fires"),
        ("unknown_indicator", "indicators.no_such_indicator"),
        ("derived_indicator", "indicators.tthc_on_time_rate"),
    ]


def test_skip_validation_keeps_semantically_invalid_reports(
    reference: ReferenceData, catalogue: Catalogue
) -> None:
    parsed = judge(line({**GOOD, "commune_code": "99999"}), reference, catalogue, validate=False)
    assert not parsed.rejected
    assert parsed.report is not None and parsed.report.commune_code == "99999"
    assert codes(parsed) == [("unknown_commune", "commune_code")]


def test_skip_validation_still_rejects_what_is_not_a_report(
    reference: ReferenceData, catalogue: Catalogue
) -> None:
    for data in (b"not json\n", line([1, 2]), line({**GOOD, "revision": "one"})):
        parsed = judge(data, reference, catalogue, validate=False)
        assert parsed.rejected, data
        assert parsed.reasons


def test_non_finite_values_are_semantic_errors(
    reference: ReferenceData, catalogue: Catalogue
) -> None:
    data = b'{"report_id": "6f1c1f39-3b7e-4c39-9d5e-8e0f3f7a0c11", "commune_code": "00070",'
    data += b' "province_code": "01", "period": "2025-08", "revision": 1,'
    data += b' "submitted_at": "2025-09-02T09:30:00+07:00", "indicators": {"fires": NaN}}'
    assert codes(judge(data, reference, catalogue)) == [("value_not_finite", "indicators.fires")]
    assert not judge(data, reference, catalogue, validate=False).rejected


def test_hostile_lines_are_rejected_not_raised(
    reference: ReferenceData, catalogue: Catalogue
) -> None:
    huge = line({**GOOD, "indicators": {"fires": 10**400}})
    assert codes(judge(huge, reference, catalogue)) == [("schema_error", "indicators.fires")]
    deep = b"[" * 100_000 + b"]" * 100_000
    assert codes(judge(deep, reference, catalogue)) == [("malformed_event", None)]
    not_utf8 = b'{"commune_code": "\xff\xfe"}\n'
    parsed = judge(not_utf8, reference, catalogue)
    assert codes(parsed) == [("malformed_event", None)]
    assert "not UTF-8" in parsed.reasons[0].message_en
    assert parsed.raw == '{"commune_code": "\ufffd\ufffd"}'
    assert codes(judge(line("a string"), reference, catalogue)) == [("schema_error", None)]


def test_the_reader_numbers_lines_and_skips_blank_ones(
    reference: ReferenceData, catalogue: Catalogue
) -> None:
    content = (
        "\ufeff".encode()
        + line(GOOD)
        + b"\n"
        + b"   \r\n"
        + b"oops\r\n"
        + line({**GOOD, "commune_code": "99999"})
        + line({**GOOD, "revision": 2})
    )
    reader = ReportLineReader(io.BytesIO(content), reference=reference, catalogue=catalogue)
    verdicts = [(p.number, p.rejected, p.raw[:6]) for p in reader]
    assert verdicts == [
        (1, False, '{"repo'),
        (4, True, "oops"),
        (5, True, '{"repo'),
        (6, False, '{"repo'),
    ]
    assert reader.bytes_read == len(content)
    assert reader.lines_read == 6


def test_a_last_line_without_line_break_is_read(
    reference: ReferenceData, catalogue: Catalogue
) -> None:
    content = line(GOOD) + json.dumps({**GOOD, "revision": 2}).encode()
    reader = ReportLineReader(io.BytesIO(content), reference=reference, catalogue=catalogue)
    reports = [p.report for p in reader]
    assert [r.revision for r in reports if r is not None] == [1, 2]


def test_a_rejection_record_keeps_line_reasons_and_raw(
    reference: ReferenceData, catalogue: Catalogue
) -> None:
    parsed = judge(line({**GOOD, "commune_code": "99999"}), reference, catalogue, number=12)
    stream = io.StringIO()
    writer = RejectsWriter(stream)
    writer.write(parsed)
    record = json.loads(stream.getvalue())
    assert record == {
        "line": 12,
        "reasons": [
            {
                "code": "unknown_commune",
                "field": "commune_code",
                "message_en": "Unknown commune code '99999'",
                "message_vi": "Mã xã '99999' không tồn tại",
            }
        ],
        "raw": json.dumps({**GOOD, "commune_code": "99999"}),
    }
    assert writer.written == 1
    silent = RejectsWriter(None)
    silent.write(parsed)
    assert silent.written == 0


def test_written_reports_read_back_identical(
    reference: ReferenceData, catalogue: Catalogue
) -> None:
    original = judge(line(GOOD), reference, catalogue).report
    assert original is not None
    stream = io.StringIO()
    writer = JsonLinesWriter(stream)
    writer.send(original)
    writer.send(original)
    assert writer.written == 2
    text = stream.getvalue()
    assert text.count("\n") == 2
    assert json.loads(text.splitlines()[0])["submitted_at"] == "2025-09-02T09:30:00+07:00"
    reader = ReportLineReader(io.BytesIO(text.encode()), reference=reference, catalogue=catalogue)
    assert [p.report for p in reader] == [original, original]
    assert report_line(original) == text.splitlines()[0]
