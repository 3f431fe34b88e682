"""Avro encoding of every event, with fastavro, in Avro's standard single-object encoding.

Each message is ``C3 01`` + the 8-byte CRC-64-AVRO fingerprint of the writer's schema + the
Avro body. A consumer therefore knows which schema wrote a message without any registry, and
can resolve it against its own (reader) schema when versions are mixed.

Versions of one record (``commune_report.v1``, ``commune_report.v2`` ...) only ever add
fields with defaults (``tests/unit/core/test_schema_compatibility.py`` enforces it both
ways), and every codec knows every version *shipped* with the package: a v1 reader decodes
v2 data (Avro resolution drops the fields it does not know) and a v2 reader decodes v1 data
(the new fields take their defaults). A version a process was not shipped with is unknown to
it, so the rollout rule is: **consumers are upgraded before producers** (the worker and the
sink first, then ``publish``, ``simulate``, ``import`` and the gateway).
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from baocao.schemas import avro_schema_names, avro_schema_path

__all__ = ["AvroCodec", "DecodeError", "codec_for", "schema_versions", "writer_fingerprint"]

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
_HEADER = struct.Struct("<2s8s")


class DecodeError(ValueError):
    """The bytes are not a message any known schema wrote."""


def _load_schema(name: str) -> Any:
    return fastavro.parse_schema(json.loads(avro_schema_path(name).read_text(encoding="utf-8")))


def writer_fingerprint(payload: bytes) -> bytes | None:
    """The writer schema's fingerprint a single-object message carries, or ``None`` when
    ``payload`` is not in single-object encoding (too short, other magic bytes). The framing
    is this module's business: readers ask here instead of slicing the bytes themselves."""
    if len(payload) < _HEADER.size:
        return None
    magic, fingerprint_bytes = _HEADER.unpack_from(payload)
    return bytes(fingerprint_bytes) if magic == SINGLE_OBJECT_MAGIC else None


def schema_fingerprint(parsed_schema: Any) -> bytes:
    """The 8-byte little-endian CRC-64-AVRO fingerprint the single-object encoding carries."""
    digest = fingerprint(to_parsing_canonical_form(parsed_schema), "CRC-64-AVRO")
    return int(digest, 16).to_bytes(8, "big")


@dataclass
class AvroCodec:
    """Encodes with one writer schema; decodes anything written by a known version of it."""

    writer_schema: Any
    known_schemas: Mapping[bytes, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._writer_fingerprint = schema_fingerprint(self.writer_schema)
        self.known_schemas = {self._writer_fingerprint: self.writer_schema, **self.known_schemas}

    def knows(self, payload: bytes) -> bool:
        """Whether ``payload`` was written by a schema this codec decodes."""
        return writer_fingerprint(payload) in self.known_schemas

    def encode(self, record: Mapping[str, Any]) -> bytes:
        return SINGLE_OBJECT_MAGIC + self._writer_fingerprint + self.encode_body(record)

    def encode_body(self, record: Mapping[str, Any]) -> bytes:
        """The bare Avro body (another framing, e.g. Confluent's, adds its own header)."""
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, self.writer_schema, dict(record))
        return buffer.getvalue()

    def decode_body(self, body: bytes, writer_schema: Any) -> dict[str, Any]:
        """A bare Avro body written with ``writer_schema``, resolved to this codec's schema."""
        try:
            record = fastavro.schemaless_reader(io.BytesIO(body), writer_schema, self.writer_schema)
        except Exception as exc:  # fastavro raises many types on corrupt bodies
            raise DecodeError(f"corrupt Avro body: {exc}") from exc
        if not isinstance(record, dict):
            raise DecodeError("Avro body is not a record")
        return record

    def decode(self, payload: bytes) -> dict[str, Any]:
        if len(payload) < _HEADER.size:
            raise DecodeError(f"{len(payload)} bytes is too short for an Avro single-object")
        magic, writer_fingerprint = _HEADER.unpack_from(payload)
        if magic != SINGLE_OBJECT_MAGIC:
            raise DecodeError("not Avro single-object encoding (bad magic bytes)")
        writer = self.known_schemas.get(writer_fingerprint)
        if writer is None:
            raise DecodeError(f"unknown writer schema fingerprint {writer_fingerprint.hex()}")
        return self.decode_body(payload[_HEADER.size :], writer)


def schema_versions(name: str) -> tuple[str, ...]:
    """Every shipped version of the record ``name`` names, oldest first:
    ``schema_versions("commune_report.v1") == ("commune_report.v1", "commune_report.v2")``."""
    base = name.rsplit(".v", 1)[0]
    found = [n for n in avro_schema_names() if n.rsplit(".v", 1)[0] == base]
    return tuple(sorted(found, key=lambda n: int(n.rsplit(".v", 1)[1])))


@cache
def codec_for(name: str, *older_versions: str) -> AvroCodec:
    """The codec writing ``schemas/avro/<name>.avsc`` and reading every shipped version of
    the same record (older and newer), plus any other ``older_versions`` named."""
    known = {*schema_versions(name), *older_versions} - {name}
    others = {schema_fingerprint(s): s for s in map(_load_schema, sorted(known))}
    return AvroCodec(writer_schema=_load_schema(name), known_schemas=others)
