"""Registry outages are waited out, refusals are cached briefly, bad schemas are refused.

Against a real HTTP server in the test process (``registry_support``) that answers 503
while "restarting" and serves malformed schemas on demand.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator

import pytest
from support.registry import StubRegistry, running_registry

from baocao.core.avro import DecodeError
from baocao.core.registry import (
    SchemaRegistryClient,
    SchemaRegistryError,
    SchemaRegistryUnavailableError,
    confluent_schema_id,
    prefetch_schemas,
    wire_codec,
)
from baocao.schemas import avro_schema_path

SCHEMA_TEXT = avro_schema_path("commune_report.v2").read_text(encoding="utf-8")


@pytest.fixture
def stub() -> Iterator[tuple[StubRegistry, str]]:
    with running_registry() as served:
        yield served


def registered(registry: StubRegistry) -> int:
    registry.schemas.append(json.dumps(json.loads(SCHEMA_TEXT)))
    return len(registry.schemas)


def test_a_registry_answering_503_is_retried_with_backoff_until_it_answers(
    stub: tuple[StubRegistry, str],
) -> None:
    registry, url = stub
    schema_id = registered(registry)
    registry.outage = 3
    client = SchemaRegistryClient(url)
    waits: list[tuple[int, float]] = []

    asyncio.run(
        prefetch_schemas(
            client,
            [schema_id, schema_id],
            initial_seconds=0.01,
            max_seconds=0.03,
            on_retry=lambda exc, n, delay: waits.append((n, delay)),
        )
    )

    assert waits == [(1, 0.01), (2, 0.02), (3, 0.03)]  # doubling, capped
    assert client.schema(schema_id)["name"] == "vn.baocao.CommuneReport"
    assert registry.requests == [f"GET /schemas/ids/{schema_id}"] * 4


def test_the_event_loop_keeps_running_while_a_lookup_waits() -> None:
    # A registry that accepts the connection and never answers: the lookup runs in a thread.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    client = SchemaRegistryClient(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=1.0)
    ticks = 0

    async def main() -> None:
        nonlocal ticks

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(
                prefetch_schemas(client, [1], initial_seconds=0.05, max_seconds=0.05), 1.5
            )
        task.cancel()

    try:
        asyncio.run(main())
    finally:
        listener.close()
    assert ticks > 50  # ~1.5 s of 10 ms ticks: the loop was never blocked for the timeout


def test_an_outage_is_an_unavailable_error_and_not_cached(stub: tuple[StubRegistry, str]) -> None:
    registry, url = stub
    schema_id = registered(registry)
    registry.outage = 1
    client = SchemaRegistryClient(url)

    with pytest.raises(SchemaRegistryUnavailableError):
        client.lookup(schema_id)

    assert client.needs_lookup(schema_id)
    assert client.schema(schema_id)["type"] == "record"


def test_an_unknown_id_is_looked_up_once_within_the_failure_ttl(
    stub: tuple[StubRegistry, str],
) -> None:
    registry, url = stub
    now = [100.0]
    client = SchemaRegistryClient(url, failure_ttl=60.0, clock=lambda: now[0])
    codec = wire_codec("commune_report.v2", topic="t", registry=client)
    payload = b"\x00\x00\x00\x00\x63" + b"body"  # id 99: unknown

    for _ in range(5):
        with pytest.raises(DecodeError, match="99"):
            codec.decode(payload)
        asyncio.run(prefetch_schemas(client, [99]))

    assert registry.requests == ["GET /schemas/ids/99"]
    now[0] += 61
    assert client.needs_lookup(99)
    asyncio.run(prefetch_schemas(client, [99]))
    assert registry.requests == ["GET /schemas/ids/99"] * 2


@pytest.mark.parametrize(
    "text",
    ['{"type": "map"}', '"string"', "not json", '{"type": "record", "fields": []}'],
)
def test_a_schema_that_cannot_be_used_is_a_decode_error_not_a_crash(
    stub: tuple[StubRegistry, str], text: str
) -> None:
    registry, url = stub
    registry.texts[7] = text
    client = SchemaRegistryClient(url)
    codec = wire_codec("commune_report.v2", topic="t", registry=client)

    asyncio.run(prefetch_schemas(client, [7]))  # refused for good: no retry loop
    with pytest.raises(DecodeError, match="schema id 7"):
        codec.decode(b"\x00\x00\x00\x00\x07body")
    with pytest.raises(SchemaRegistryError):
        client.schema(7)
    assert registry.requests == ["GET /schemas/ids/7"]


def test_confluent_schema_ids_are_read_from_the_frame_only() -> None:
    assert confluent_schema_id(b"\x00\x00\x00\x01\x02body") == 258
    assert confluent_schema_id(b"\x00\x00\x00") is None
    assert confluent_schema_id(b"\xc3\x01rest") is None
    assert confluent_schema_id(None) is None


def test_lookups_from_many_threads_share_one_cache(stub: tuple[StubRegistry, str]) -> None:
    registry, url = stub
    schema_id = registered(registry)
    client = SchemaRegistryClient(url)
    client.schema(schema_id)
    threads = [threading.Thread(target=client.schema, args=(schema_id,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert registry.requests == [f"GET /schemas/ids/{schema_id}"]
