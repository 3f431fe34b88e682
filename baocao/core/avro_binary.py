"""Avro binary encoding by hand, for the records the worker emits by the thousand.

Encode here only what fastavro is too slow for, and only byte for byte as fastavro writes it
(``tests/unit/core/test_avro_binary.py`` compares them). Why and where the worker splices
these pieces into fastavro's output: docs/worker.md, "Hand-built outputs".

Avro 1.11, "Binary Encoding": ``int``/``long`` as zig-zag varints, a string as its byte
length and UTF-8 bytes, a union as the branch index and the value, a ``double`` as 8
little-endian bytes, an array or a map as blocks (item count, items) ending with a zero count.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

__all__ = [
    "AVRO_INT",
    "NULL_BRANCH",
    "SECOND_BRANCH",
    "avro_double_map_items",
    "avro_long",
    "avro_optional_double",
    "avro_string",
    "encode_with_array",
    "pack_double",
]

#: The values of an Avro ``int`` (fastavro writes a larger one without complaint, and a
#: reader in another language then fails on it: check before encoding).
AVRO_INT = range(-(2**31), 2**31)
#: A union's first branch (``null`` in ``["null", ...]``), and the byte that opens its second.
NULL_BRANCH = b"\x00"
SECOND_BRANCH = b"\x02"
#: An Avro ``double``: 8 little-endian bytes.
pack_double = struct.Struct("<d").pack


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
        return NULL_BRANCH
    return SECOND_BRANCH + pack_double(value)


#: The zero item count that ends an array or a map.
_END_OF_BLOCKS = b"\x00"
_KEYS: dict[str, bytes] = {}
_MAX_KEYS = 1024


def avro_double_map_items(values: Mapping[str, float]) -> list[bytes]:
    """The items of a ``{"type": "map", "values": "double"}``, in the mapping's order."""
    keys, pack = _KEYS, pack_double
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
    empty (so it ends with the zero count ``0x00``), ``items`` the encoded items (one block)."""
    if not items:
        return head
    if head[-1:] != _END_OF_BLOCKS:
        raise ValueError("the record's encoding does not end with an empty array")
    return b"".join((head[:-1], avro_long(len(items)), *items, _END_OF_BLOCKS))
