"""The hand-assembled Avro of figure changes is byte for byte what fastavro writes."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import fastavro
from hypothesis import given
from hypothesis import strategies as st

from baocao.core.avro import codec_for
from baocao.streams.encoding import (
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
        "revision": st.integers(-(2**31), 2**31 - 1),
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
