"""The hand-assembled Avro of figure changes is byte for byte what fastavro writes."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import fastavro
from hypothesis import given
from hypothesis import strategies as st

from baocao.core.avro import codec_for
from baocao.core.avro_binary import (
    AVRO_INT,
    avro_double_map_items,
    avro_long,
    avro_optional_double,
    avro_string,
    encode_with_array,
)

CHANGES = codec_for("province_indicator_change.v1")
doubles = st.none() | st.floats(allow_nan=False)
causes = st.fixed_dictionaries(
    {
        "commune_code": st.text(max_size=8),
        "report_id": st.text(max_size=40),
        "revision": st.integers(AVRO_INT.start, AVRO_INT.stop - 1),
        "previous_value": doubles,
        "value": doubles,
    }
)


def fastavro_bytes(schema: Any, value: object) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, value)
    return out.getvalue()


@given(st.integers(-(2**63), 2**63 - 1))
def test_a_long_is_a_zigzag_varint_as_fastavro_writes_it(number: int) -> None:
    assert avro_long(number) == fastavro_bytes("long", number)


@given(st.text())
def test_a_string_is_its_length_and_utf8_bytes(text: str) -> None:
    assert avro_string(text) == fastavro_bytes("string", text)


@given(doubles)
def test_an_optional_double_is_a_union_branch_and_the_value(value: float | None) -> None:
    assert avro_optional_double(value) == fastavro_bytes(["null", "double"], value)


@given(st.lists(causes, max_size=70), doubles, doubles)
def test_a_change_spliced_from_its_causes_is_the_record_fastavro_writes(
    items: list[dict[str, object]], value: float | None, previous: float | None
) -> None:
    head = {
        "province_code": "01",
        "report_type": "monthly",
        "period": "2025-08",
        "indicator_code": "tthc_received",
        "version": 12,
        "value": value,
        "previous_value": previous,
        "known_at": datetime(2025, 9, 5, tzinfo=UTC),
    }
    spliced = encode_with_array(
        CHANGES.encode({**head, "causes": []}),
        [
            avro_string(str(c["commune_code"]))
            + avro_string(str(c["report_id"]))
            + avro_long(int(str(c["revision"])))
            + avro_optional_double(c["previous_value"])  # type: ignore[arg-type]
            + avro_optional_double(c["value"])  # type: ignore[arg-type]
            for c in items
        ],
    )

    assert spliced == CHANGES.encode({**head, "causes": items})
    assert CHANGES.decode(spliced)["causes"] == items


ACCEPTED = codec_for("accepted_report.v1")


@given(st.dictionaries(st.text(max_size=30), st.floats(allow_nan=False), max_size=60))
def test_an_accepted_report_spliced_from_its_indicators_is_what_fastavro_writes(
    indicators: dict[str, float],
) -> None:
    head = {
        "report_id": "6f1c2b0e-3d1f-4b7a-9a8e-1f2e3d4c5b6a",
        "commune_code": "00070",
        "province_code": "01",
        "report_type": "monthly",
        "period": "2025-08",
        "revision": 2,
        "submitted_at": datetime(2025, 9, 2, tzinfo=UTC),
        "first_submitted_at": datetime(2025, 9, 1, tzinfo=UTC),
        "accepted_at": datetime(2025, 9, 2, 1, tzinfo=UTC),
        "deadline": datetime(2025, 9, 5, 16, 59, 59, 999000, tzinfo=UTC),
        "on_time": True,
        "amended": False,
    }
    spliced = encode_with_array(
        ACCEPTED.encode({**head, "indicators": {}}), avro_double_map_items(indicators)
    )

    assert spliced == ACCEPTED.encode({**head, "indicators": indicators})
