"""baocao's Schema Registry support against a real Confluent-compatible registry.

The unit tests (``tests/unit/core/test_registry.py``) use an in-process stub; here the
registry is Apicurio Registry (see :mod:`baocao.app.stack.schema_registry`), started once for the
module on a free loopback port with in-memory storage, so nothing outlives the test run. It
proves what a stub cannot: the registry accepts the project's schemas as the client sends
them, numbers versions, refuses an incompatible change, and serves a writer schema by the id
in the Confluent frame.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support.net import free_port
from support.wait import eventually

from baocao.app.stack.schema_registry import (
    CCOMPAT_PATH,
    fetch_schema_registry,
    find_java,
    schema_registry_command,
)
from baocao.core.models import CommuneReport
from baocao.core.registry import (
    CONFLUENT_MAGIC,
    SchemaRegistryClient,
    SchemaRegistryError,
    registry_client,
    value_subject,
    wire_codec,
)
from baocao.core.settings import SchemaRegistrySettings, Settings
from baocao.core.topics import Topics
from baocao.producers.publisher import REPORT_SCHEMA
from baocao.schemas import avro_schema_path

STARTUP_TIMEOUT_SECONDS = 120.0

REPORT = CommuneReport(
    report_id="6f1c2b0e-3d1f-4b7a-9a8e-1f2e3d4c5b6a",
    commune_code="00070",
    province_code="01",
    period="2025-08",
    revision=2,
    submitted_at=datetime(2025, 9, 2, 2, 30, tzinfo=UTC),
    indicators={"tthc_received": 12.0, "tthc_on_time": 11.0},
    notes="ghi chú",
)


def _call(method: str, url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _wait_until_up(process: subprocess.Popen[bytes], url: str, log: Path) -> float:
    """Seconds until the registry answers (printed: start-up time is worth seeing)."""
    started = time.monotonic()

    def exited() -> None:
        if process.poll() is not None:
            pytest.fail(f"the schema registry exited ({process.returncode}); see {log}")

    eventually(
        lambda: _call("GET", f"{url}/subjects") is not None,
        what=f"the schema registry to answer (log: {log})",
        timeout=STARTUP_TIMEOUT_SECONDS,
        interval=0.25,
        ignoring=(urllib.error.URLError, OSError, ValueError),
        alive=exited,
    )
    return time.monotonic() - started


@pytest.fixture(scope="module")
def registry_url(
    base_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The Confluent API base URL of a registry that lives as long as this module."""
    java = find_java()
    if java is None:
        pytest.fail("the schema registry needs Java 21 or newer (JAVA_HOME, PATH, /usr/lib/jvm)")
    app = fetch_schema_registry(cache_dir=base_settings.stack.cache_dir)
    port = free_port()
    log = tmp_path_factory.mktemp("schema-registry") / "registry.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            schema_registry_command(java=java, app=app, port=port),
            cwd=log.parent,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}{CCOMPAT_PATH}"
    try:
        seconds = _wait_until_up(process, url, log)
        print(f"schema registry up in {seconds:.1f}s at {url}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def subject(registry_url: str, unique_name: str) -> str:
    """The value subject of this test's own report topic, with Confluent's default rule.

    Apicurio checks no compatibility unless told to; Confluent's default is BACKWARD, set
    here per subject so a test proves the registry, not the client, refuses a bad change.
    """
    name = value_subject(Topics(unique_name).commune_reports)
    quoted = urllib.parse.quote(name, safe="")
    answer = _call("PUT", f"{registry_url}/config/{quoted}", {"compatibility": "BACKWARD"})
    assert answer["compatibility"] == "BACKWARD"
    return name


def _client(registry_url: str) -> SchemaRegistryClient:
    """A client as the commands build it, with empty caches."""
    client = registry_client(SchemaRegistrySettings(url=registry_url))
    assert client is not None
    return client


def _topic(subject: str) -> str:
    return subject.removesuffix("-value")


def test_v1_and_v2_become_two_versions_of_the_subject(registry_url: str, subject: str) -> None:
    topic = _topic(subject)
    v1_id = wire_codec("commune_report.v1", topic=topic, registry=_client(registry_url))
    v2_id = wire_codec(REPORT_SCHEMA, topic=topic, registry=_client(registry_url))
    first, second = v1_id.schema_id(), v2_id.schema_id()
    assert first is not None and second is not None and first != second

    quoted = urllib.parse.quote(subject, safe="")
    assert _call("GET", f"{registry_url}/subjects/{quoted}/versions") == [1, 2]
    latest = _call("GET", f"{registry_url}/subjects/{quoted}/versions/latest")
    assert (latest["version"], latest["id"]) == (2, second)
    # Registering a known schema again (a restarted producer) is not a new version.
    again = wire_codec("commune_report.v1", topic=topic, registry=_client(registry_url))
    assert again.schema_id() == first
    assert _call("GET", f"{registry_url}/subjects/{quoted}/versions") == [1, 2]


def test_registry_refuses_an_incompatible_schema(registry_url: str, subject: str) -> None:
    client = _client(registry_url)
    assert wire_codec(REPORT_SCHEMA, topic=_topic(subject), registry=client).schema_id()
    schema = json.loads(avro_schema_path(REPORT_SCHEMA).read_text(encoding="utf-8"))
    # A new field without a default: v3 readers could not read what v2 writers wrote.
    schema["fields"].append({"name": "reviewer", "type": "string"})

    with pytest.raises(SchemaRegistryError, match="answered 409"):
        client.register(subject, json.dumps(schema))
    quoted = urllib.parse.quote(subject, safe="")
    assert _call("GET", f"{registry_url}/subjects/{quoted}/versions") == [1]


def test_confluent_frame_round_trips_through_the_registry(registry_url: str, subject: str) -> None:
    topic = _topic(subject)
    writer = wire_codec(REPORT_SCHEMA, topic=topic, registry=_client(registry_url))
    payload = writer.encode(REPORT.to_avro())

    schema_id = writer.schema_id()
    assert schema_id is not None
    assert payload[:1] == CONFLUENT_MAGIC
    assert int.from_bytes(payload[1:5], "big") == schema_id
    # A consumer with a cold cache fetches the writer schema by id from the registry.
    reader = wire_codec(REPORT_SCHEMA, topic=topic, registry=_client(registry_url))
    # fastavro gives the uuid logical type back as a UUID.
    expected = {**REPORT.to_avro(), "report_id": uuid.UUID(REPORT.report_id)}
    assert reader.decode(payload) == expected


def test_v2_reader_reads_a_v1_writer_by_id(registry_url: str, subject: str) -> None:
    topic = _topic(subject)
    old_writer = wire_codec("commune_report.v1", topic=topic, registry=_client(registry_url))
    record = {k: v for k, v in REPORT.to_avro().items() if k in _v1_fields()}
    payload = old_writer.encode(record)

    decoded = wire_codec(REPORT_SCHEMA, topic=topic, registry=_client(registry_url)).decode(payload)
    assert {k: decoded[k] for k in record} == {
        **record,
        "report_id": uuid.UUID(REPORT.report_id),
    }
    assert decoded["notes"] is None  # v2's default for a field the v1 writer did not have
    assert decoded["reporter_name"] is None


def _v1_fields() -> set[str]:
    schema = json.loads(avro_schema_path("commune_report.v1").read_text(encoding="utf-8"))
    return {f["name"] for f in schema["fields"]}
