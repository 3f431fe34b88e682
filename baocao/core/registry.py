"""Confluent's wire format and a small Schema Registry client, for deployments that run one.

With ``BAOCAO_SCHEMA_REGISTRY_URL`` set, producers frame each Avro body the way Confluent's
serializers do (``0x00`` + the 4-byte big-endian schema id + the body) and register their
schema under the subject ``<topic>-value`` (``POST /subjects/{subject}/versions``); consumers
fetch a writer schema by id (``GET /schemas/ids/{id}``). Both answers are cached for the life
of the process, so the registry is asked once per schema, not once per message; an id the
registry refused for good (unknown, not Avro, a schema that does not parse) is remembered for
``failure_cache_seconds`` and its messages are dead-lettered without a lookup each.

Decoding accepts both framings, told apart by the first byte (``0xC3`` starts Avro's
single-object encoding, ``0x00`` Confluent's), so a topic can migrate from one to the other
with old and new messages on it. Without a registry a Confluent-framed message is a
:class:`~baocao.core.avro.DecodeError`, never a crash.

The client is ``urllib`` only: Confluent's own client needs librdkafka, and two endpoints do
not justify it. A lookup blocks, so the worker never makes one on its event loop: before a
batch it looks up the ids it has not seen in a thread (:func:`prefetch_schemas`), waiting out
an unreachable registry (or a 5xx) with a backoff instead of refusing valid reports, and
decodes the batch from the cache.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
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
    "SchemaRegistryUnavailableError",
    "WireCodec",
    "confluent_schema_id",
    "prefetch_schemas",
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


class SchemaRegistryUnavailableError(SchemaRegistryError):
    """The registry did not answer, or answered with a server error: worth retrying."""


#: HTTP answers that say "not now" rather than "no": retried, never cached.
_TRANSIENT_STATUS = frozenset({408, 425, 429})


def value_subject(topic: str) -> str:
    """The subject of a topic's values (Confluent's default ``TopicNameStrategy``)."""
    return f"{topic}-value"


class SchemaRegistryClient:
    """Registers and looks up Avro schemas through the Confluent Schema Registry REST API."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        failure_ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.failure_ttl = failure_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, Any] = {}
        #: id -> (when it failed, the permanent refusal), kept ``failure_ttl`` seconds.
        self._failed: dict[int, tuple[float, SchemaRegistryError]] = {}

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
        """The (parsed) writer schema with id ``schema_id``, from the cache when known.

        An id refused for good is answered from the cache too (the refusal is raised again),
        whatever its age: only :meth:`needs_lookup` and :meth:`lookup` let it expire, so a
        batch decoded after :func:`prefetch_schemas` never makes a request.
        """
        with self._lock:
            known = self._schemas.get(schema_id)
            failed = self._failed.get(schema_id)
        if known is not None:
            return known
        if failed is not None:
            raise failed[1]
        return self.lookup(schema_id)

    def needs_lookup(self, schema_id: int) -> bool:
        """Whether ``schema_id`` is neither cached nor a refusal younger than the TTL."""
        with self._lock:
            if schema_id in self._schemas:
                return False
            failed = self._failed.get(schema_id)
        return failed is None or self._clock() - failed[0] >= self.failure_ttl

    def lookup(self, schema_id: int) -> Any:
        """Ask the registry for ``schema_id`` (blocking): cache the schema, or cache the
        refusal when it is for good; an outage raises
        :class:`SchemaRegistryUnavailableError` and is not cached."""
        try:
            parsed = self._fetch(schema_id)
        except SchemaRegistryUnavailableError:
            raise
        except SchemaRegistryError as exc:
            logger.warning("schema id %d refused: %s", schema_id, exc)
            with self._lock:
                self._failed[schema_id] = (self._clock(), exc)
            raise
        with self._lock:
            self._schemas[schema_id] = parsed
            self._failed.pop(schema_id, None)
        return parsed

    def _fetch(self, schema_id: int) -> Any:
        answer = self._request("GET", f"/schemas/ids/{schema_id}", None)
        if answer.get("schemaType", "AVRO") != "AVRO" or not isinstance(answer.get("schema"), str):
            raise SchemaRegistryError(f"schema id {schema_id} is not an Avro schema")
        try:
            schema = json.loads(answer["schema"])
            parsed = fastavro.parse_schema(schema)
            # A schema that parses but is not a record (``{"type": "map"}`` lacks its
            # ``values`` and raises KeyError; a bare "string" parses) cannot be a report.
            if not isinstance(parsed, dict) or parsed.get("type") != "record":
                raise ValueError("not an Avro record schema")
        except Exception as exc:  # fastavro raises KeyError, TypeError ... on bad schemas
            raise SchemaRegistryError(
                f"schema id {schema_id} is not a usable Avro record schema: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
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
            error = (
                SchemaRegistryUnavailableError
                if exc.code >= 500 or exc.code in _TRANSIENT_STATUS
                else SchemaRegistryError
            )
            raise error(
                f"schema registry {self.url} answered {exc.code} to {method} {path}: {detail}"
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise SchemaRegistryUnavailableError(
                f"schema registry {self.url} unreachable: {exc}"
            ) from exc
        except ValueError as exc:  # a proxy's error page, a half-started registry
            raise SchemaRegistryUnavailableError(
                f"{method} {path} answered no JSON: {exc}"
            ) from exc
        if not isinstance(answer, dict):
            raise SchemaRegistryError(f"{method} {path} answered {answer!r}")
        return answer


def registry_client(settings: SchemaRegistrySettings) -> SchemaRegistryClient | None:
    """The client of the configured registry; ``None`` when no URL is set."""
    if not settings.url:
        return None
    return SchemaRegistryClient(
        settings.url,
        timeout=settings.timeout_seconds,
        failure_ttl=settings.failure_cache_seconds,
    )


def confluent_schema_id(payload: bytes | None) -> int | None:
    """The schema id of a Confluent-framed message, ``None`` for any other bytes."""
    if payload is None or payload[:1] != CONFLUENT_MAGIC or len(payload) < _CONFLUENT_HEADER.size:
        return None
    return int(_CONFLUENT_HEADER.unpack_from(payload)[1])


#: Called before each wait: (the outage, attempts so far, seconds about to be waited).
OnRetry = Callable[[SchemaRegistryUnavailableError, int, float], None]


async def prefetch_schemas(
    client: SchemaRegistryClient,
    schema_ids: Iterable[int],
    *,
    initial_seconds: float = 0.5,
    max_seconds: float = 30.0,
    on_retry: OnRetry | None = None,
) -> None:
    """Make sure every id is cached (as a schema or a refusal), waiting out outages.

    Each lookup runs in a thread, so the event loop keeps serving Kafka (heartbeats, the
    schedule) while the registry is slow; an outage is retried with a backoff doubling from
    ``initial_seconds`` to ``max_seconds``, for as long as it lasts. Cancelling (the worker
    stopping) ends the wait.
    """
    pending = sorted({i for i in schema_ids if client.needs_lookup(i)})
    delay, attempts = initial_seconds, 0
    while pending:
        try:
            await asyncio.to_thread(client.lookup, pending[0])
        except SchemaRegistryUnavailableError as exc:
            attempts += 1
            if on_retry is not None:
                on_retry(exc, attempts, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_seconds)
            continue
        except SchemaRegistryError:
            pass  # refused for good: cached, its messages become dead letters
        pending.pop(0)


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
