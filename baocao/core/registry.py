"""Confluent's wire format and a small Schema Registry client, for deployments that run one.

With ``BAOCAO_SCHEMA_REGISTRY_URL`` set, producers frame each Avro body the way Confluent's
serializers do (``0x00`` + the 4-byte big-endian schema id + the body) and register their
schema under the subject ``<topic>-value`` (``POST /subjects/{subject}/versions``); consumers
fetch a writer schema by id (``GET /schemas/ids/{id}``). Both answers are cached for the life
of the process, so the registry is asked once per schema, not once per message.

Decoding accepts both framings, told apart by the first byte (``0xC3`` starts Avro's
single-object encoding, ``0x00`` Confluent's), so a topic can migrate from one to the other
with old and new messages on it. Without a registry a Confluent-framed message is a
:class:`~baocao.core.avro.DecodeError`, never a crash.

The client is ``urllib`` only: Confluent's own client needs librdkafka, and two endpoints do
not justify it. A lookup blocks; it happens once per schema id (at start-up, in practice).
"""

from __future__ import annotations

import json
import logging
import struct
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import fastavro

from baocao.core.avro import AvroCodec, DecodeError, codec_for
from baocao.core.settings import SchemaRegistrySettings
from baocao.schemas import avro_schema_path

__all__ = [
    "CONFLUENT_MAGIC",
    "SchemaRegistryClient",
    "SchemaRegistryError",
    "WireCodec",
    "registry_client",
    "value_subject",
    "wire_codec",
]

logger = logging.getLogger(__name__)

CONFLUENT_MAGIC = b"\x00"
_CONFLUENT_HEADER = struct.Struct(">cI")
_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class SchemaRegistryError(RuntimeError):
    """The schema registry could not be reached or refused a request."""


def value_subject(topic: str) -> str:
    """The subject of a topic's values (Confluent's default ``TopicNameStrategy``)."""
    return f"{topic}-value"


class SchemaRegistryClient:
    """Registers and looks up Avro schemas through the Confluent Schema Registry REST API."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._lock = threading.Lock()
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, Any] = {}

    def register(self, subject: str, schema_text: str) -> int:
        """The id of ``schema_text`` under ``subject``, registering it if it is new there.

        The registry checks compatibility with the subject's earlier versions and answers 409
        for an incompatible one, which becomes a :class:`SchemaRegistryError`.
        """
        canonical = json.dumps(json.loads(schema_text), sort_keys=True, separators=(",", ":"))
        key = (subject, canonical)
        with self._lock:
            known = self._ids.get(key)
        if known is not None:
            return known
        path = f"/subjects/{urllib.parse.quote(subject, safe='')}/versions"
        answer = self._request("POST", path, {"schema": canonical})
        schema_id = answer.get("id")
        if not isinstance(schema_id, int):
            raise SchemaRegistryError(f"{self.url}{path} answered without an id: {answer!r}")
        with self._lock:
            self._ids[key] = schema_id
        logger.info("schema of subject %s has id %d in %s", subject, schema_id, self.url)
        return schema_id

    def schema(self, schema_id: int) -> Any:
        """The (parsed) writer schema with id ``schema_id``."""
        with self._lock:
            known = self._schemas.get(schema_id)
        if known is not None:
            return known
        answer = self._request("GET", f"/schemas/ids/{schema_id}", None)
        if answer.get("schemaType", "AVRO") != "AVRO" or not isinstance(answer.get("schema"), str):
            raise SchemaRegistryError(f"schema id {schema_id} is not an Avro schema")
        try:
            parsed = fastavro.parse_schema(json.loads(answer["schema"]))
        except (ValueError, fastavro.schema.SchemaParseException) as exc:
            raise SchemaRegistryError(f"schema id {schema_id} does not parse: {exc}") from exc
        with self._lock:
            self._schemas[schema_id] = parsed
        return parsed

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Content-Type": _CONTENT_TYPE, "Accept": _CONTENT_TYPE},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:500]
            raise SchemaRegistryError(
                f"schema registry {self.url} answered {exc.code} to {method} {path}: {detail}"
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise SchemaRegistryError(f"schema registry {self.url} unreachable: {exc}") from exc
        except ValueError as exc:
            raise SchemaRegistryError(f"{method} {path} answered no JSON: {exc}") from exc
        if not isinstance(answer, dict):
            raise SchemaRegistryError(f"{method} {path} answered {answer!r}")
        return answer


def registry_client(settings: SchemaRegistrySettings) -> SchemaRegistryClient | None:
    """The client of the configured registry; ``None`` when no URL is set."""
    if not settings.url:
        return None
    return SchemaRegistryClient(settings.url, timeout=settings.timeout_seconds)


@dataclass
class WireCodec:
    """One topic's values: written in Confluent's framing when a registry is configured, in
    single-object encoding otherwise; read in either."""

    codec: AvroCodec
    schema_text: str
    subject: str
    registry: SchemaRegistryClient | None = None
    _schema_id: int | None = field(default=None, init=False)

    def schema_id(self) -> int | None:
        """The writer schema's registry id (registering it on first use); ``None`` without
        a registry. Producers call it at start-up, so a refused schema stops them early."""
        if self.registry is None:
            return None
        if self._schema_id is None:
            self._schema_id = self.registry.register(self.subject, self.schema_text)
        return self._schema_id

    def encode(self, record: Mapping[str, Any]) -> bytes:
        schema_id = self.schema_id()
        if schema_id is None:
            return self.codec.encode(record)
        return _CONFLUENT_HEADER.pack(CONFLUENT_MAGIC, schema_id) + self.codec.encode_body(record)

    def decode(self, payload: bytes) -> dict[str, Any]:
        if payload[:1] != CONFLUENT_MAGIC:
            return self.codec.decode(payload)  # single-object (or garbage: its own error)
        if len(payload) < _CONFLUENT_HEADER.size:
            raise DecodeError(f"{len(payload)} bytes is too short for a Confluent-framed message")
        _, schema_id = _CONFLUENT_HEADER.unpack_from(payload)
        if self.registry is None:
            raise DecodeError(
                f"Confluent-framed message (schema id {schema_id}) but no schema registry is "
                "configured (BAOCAO_SCHEMA_REGISTRY_URL)"
            )
        try:
            writer = self.registry.schema(schema_id)
        except SchemaRegistryError as exc:
            raise DecodeError(f"writer schema {schema_id} unavailable: {exc}") from exc
        return self.codec.decode_body(payload[_CONFLUENT_HEADER.size :], writer)


def wire_codec(name: str, *, topic: str, registry: SchemaRegistryClient | None) -> WireCodec:
    """The codec of ``topic``'s values written with schema ``name`` (see :func:`codec_for`)."""
    return WireCodec(
        codec=codec_for(name),
        schema_text=_schema_text(name),
        subject=value_subject(topic),
        registry=registry,
    )


@cache
def _schema_text(name: str) -> str:
    return avro_schema_path(name).read_text(encoding="utf-8")
