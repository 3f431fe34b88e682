"""Avro pieces assembled by hand where the worker emits many of them: the causes of a figure
change, and the indicators of an accepted report.

A change record carries one cause per commune revision that moved the figure, and every
accepted revision is a cause of nearly every figure of its province: encoding them record by
record through fastavro was the largest single cost of the worker (issue 11's profile). A
cause's identity (commune, report id, revision) is the same in every change it causes, so it
is encoded once and only the two values are encoded per change; the change itself is encoded
by fastavro with an empty array, and the items are spliced in. An accepted report ends with
its map of indicators, spliced the same way from each code's encoding (kept) and its value.
The bytes are exactly those fastavro writes for the whole record (the unit tests compare
them).

Avro binary encoding (specification 1.11, "Binary Encoding"): ``int``/``long`` as zig-zag
varints, a string as its byte length and its UTF-8 bytes, a union as the branch index and the
value, a ``double`` as 8 little-endian bytes, an array or a map as blocks (item count, items;
a map's item is its key and its value) ending with a zero count; a record is its fields in
order, so a record whose *last* field is an empty array or map ends with the single byte
``0x00``.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

__all__ = [
    "avro_double_map_items",
    "avro_long",
    "avro_optional_double",
    "avro_string",
    "encode_with_array",
]

_DOUBLE = struct.Struct("<d")
_NULL = b"\x00"
_SECOND_BRANCH = b"\x02"


def avro_long(value: int) -> bytes:
    """An Avro ``int`` or ``long``: zig-zag, then 7 bits per byte, low bits first."""
    number = (value << 1) ^ (value >> 63)
    out = bytearray()
    while number & ~0x7F:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def avro_string(value: str) -> bytes:
    data = value.encode("utf-8")
    return avro_long(len(data)) + data


def avro_optional_double(value: float | None) -> bytes:
    """The union ``["null", "double"]``."""
    if value is None:
        return _NULL
    return _SECOND_BRANCH + _DOUBLE.pack(value)


_KEYS: dict[str, bytes] = {}
_MAX_KEYS = 1024


def avro_double_map_items(values: Mapping[str, float]) -> list[bytes]:
    """The items of a ``{"type": "map", "values": "double"}``, in the mapping's order."""
    keys, pack = _KEYS, _DOUBLE.pack
    items = []
    for key, value in values.items():
        encoded = keys.get(key)
        if encoded is None:
            encoded = avro_string(key)
            if len(keys) < _MAX_KEYS:  # indicator codes: a few dozen
                keys[key] = encoded
        items.append(encoded + pack(value))
    return items


def encode_with_array(head: bytes, items: Sequence[bytes]) -> bytes:
    """A record whose last field is an array or a map: ``head`` is the record encoded with it
    empty, ``items`` the encoded items (one block)."""
    if not items:
        return head
    if head[-1:] != _NULL:
        raise ValueError("the record's encoding does not end with an empty array")
    return b"".join((head[:-1], avro_long(len(items)), *items, _NULL))
