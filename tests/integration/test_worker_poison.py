"""No record stops ``baocao worker``, nor a registry outage, and a worker that must stop
does exit (issue 10).

Against the real Kafka, with the worker as a subprocess: poison records of every kind end as
bounded dead letters while the roll-up goes on; a bug injected into the real process (a
``sitecustomize`` that replaces one function before the worker imports it) sets the record it
fails on aside, and when it fails every record the worker says why on ``/healthz`` and exits
non-zero; a worker whose writes Kafka refuses exits instead of idling; a schema registry
that answers 503 (a real HTTP server in the test) is waited out.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from kafka.admin import ConfigResource, ConfigResourceType
from support.net import free_port
from support.registry import running_registry
from support.worker import (
    PROVINCE,
    TopicReader,
    Worker,
    delete_topics_of,
    encoded,
    figure_check,
    metrics_page,
    publish,
    report,
    wait_for,
    with_worker,
    worker_starter,
)

from baocao.core.kafka import admin_client, ensure_topics, producer
from baocao.core.reference import load_reference
from baocao.core.registry import SchemaRegistryClient, wire_codec
from baocao.core.settings import SchemaRegistrySettings, Settings
from baocao.core.topics import Topics

REFERENCE = load_reference()
C, D, E = REFERENCE.communes_by_province[PROVINCE][2:5]
#: The broker's default limit of a record batch (``message.max.bytes``): topics created
#: before issue 10 accept values up to it.
BROKER_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588

#: Replaces ``validate_report`` in the worker process before the step imports it: a report
#: with ``tthc_received == 666`` (or, with BAOCAO_TEST_FAIL_EVERY=1, every report) raises.
INJECTED_BUG = """
import os
import baocao.core.validation as validation

_real = validation.validate_report

def validate_report(report, *args, **kwargs):
    every = os.environ.get("BAOCAO_TEST_FAIL_EVERY") == "1"
    if every or report.indicators.get("tthc_received") == 666:
        raise ZeroDivisionError("injected bug")
    return _real(report, *args, **kwargs)

validation.validate_report = validate_report
"""


@pytest.fixture
def topics(test_settings: Settings) -> Iterator[Topics]:
    ensure_topics(test_settings.kafka)
    yield Topics(test_settings.kafka.topic_prefix)
    delete_topics_of(test_settings)


@pytest.fixture
def start_worker(test_settings: Settings, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    yield from worker_starter(test_settings, tmp_path)


@pytest.fixture
def readers(test_settings: Settings, topics: Topics) -> Iterator[dict[str, TopicReader]]:
    opened = {
        "figures": TopicReader(test_settings, topics.province_indicators, "province_indicator.v2"),
        "dead": TopicReader(test_settings, topics.dead_letter, "rejected_report.v2"),
    }
    yield opened
    for reader in opened.values():
        reader.close()


@pytest.fixture
def injected_bug(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "inject"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(INJECTED_BUG)
    monkeypatch.setenv("PYTHONPATH", str(folder))


def topic_config(settings: Settings, topic: str, name: str) -> str:
    """A topic's config value, once the brokers know the (new) topic."""
    admin = admin_client(settings.kafka)
    deadline = time.monotonic() + 15
    try:
        while True:
            described = admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic, configs=[name])]
            )
            found = described["topic"][topic]
            if isinstance(found, dict) and name in found:
                return str(found[name]["value"])
            assert time.monotonic() < deadline, f"no {name} for {topic}: {found}"
            time.sleep(0.2)
    finally:
        admin.close()


def set_topic_config(settings: Settings, topic: str, **configs: str) -> None:
    admin = admin_client(settings.kafka)
    try:
        admin.alter_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC,
                    topic,
                    configs={k.replace("_", "."): v for k, v in configs.items()},
                )
            ],
            raise_on_unknown=False,
        )
    finally:
        admin.close()
    # The brokers apply a config change a moment after they acknowledged it.
    deadline = time.monotonic() + 15
    while any(topic_config(settings, topic, k.replace("_", ".")) != v for k, v in configs.items()):
        assert time.monotonic() < deadline, f"{topic} did not take {configs}"
        time.sleep(0.2)


def healthz(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def dead_letters_by_offset(
    reader: TopicReader, count: int, *, topic_suffix: str = ".commune-reports"
) -> dict[tuple[int, int], dict[str, Any]] | None:
    """The dead letters of one input topic by (partition, offset) of their event, once there
    are ``count`` (``None`` before: "not yet" for :func:`wait_for`, which takes an empty
    dict for an answer)."""
    letters = {
        (v["source_partition"], v["source_offset"]): v
        for _, v in reader.poll()
        if v["source_topic"].endswith(topic_suffix)
    }
    return letters if len(letters) >= count else None


def test_topics_are_created_with_a_message_limit_below_the_producers(
    test_settings: Settings, topics: Topics
) -> None:
    limit = topic_config(test_settings, topics.commune_reports, "max.message.bytes")

    assert int(limit) == test_settings.kafka.topic_max_message_bytes == 1_000_000
    assert int(limit) < 1_048_576  # kafka-python's and aiokafka's max_request_size


def test_poison_records_become_bounded_dead_letters_and_the_roll_up_goes_on(
    test_settings: Settings,
    topics: Topics,
    readers: dict[str, TopicReader],
    start_worker: Callable[..., Worker],
) -> None:
    # A topic created before the limit existed takes values up to the broker's default.
    set_topic_config(
        test_settings,
        topics.commune_reports,
        max_message_bytes=str(BROKER_DEFAULT_MAX_MESSAGE_BYTES),
    )
    settings = with_worker(test_settings, dead_letter_max_reasons=5)
    oversized = b"\x5a" * 1_000_010
    _, valid = encoded(report(C, 1, tthc_received=7))
    corrupt = valid[:10] + b"\xff" * 40  # the real magic and fingerprint, a broken body
    many = report(D, 1, **{f"not_an_indicator_{i}": 1.0 for i in range(300)})
    events: list[tuple[str | None, bytes | None]] = [
        encoded(report(C, 1, tthc_received=10)),
        (PROVINCE, oversized),
        (PROVINCE, b""),
        (PROVINCE, b"garbage \x00\x01\x02"),
        (PROVINCE, corrupt),
        (PROVINCE, None),  # a tombstone
        ("79", encoded(report(D, 1, tthc_received=1))[1]),  # keyed by another province
        encoded(many),
        encoded(report(D, 1, tthc_received=20)),
    ]
    offsets = publish_raw(test_settings, topics.commune_reports, events)
    null_keyed = encoded(report(E, 1, tthc_received=1))[1]
    [null_key_offset] = publish_raw(test_settings, topics.commune_reports, [(None, null_keyed)])
    [approval_junk] = publish_raw(test_settings, topics.approvals, [(PROVINCE, b"\xc3\x01junk")])
    worker = start_worker(settings=settings)

    wait_for(
        "figures of the valid reports around the poison",
        figure_check(readers["figures"], {"tthc_received": 30.0}),
        worker=worker,
    )
    letters = wait_for(
        "a dead letter for each poison record",
        lambda: dead_letters_by_offset(readers["dead"], 7),
        worker=worker,
    )
    poisoned = dict(zip(offsets[1:8], events[1:8], strict=True))
    poisoned[null_key_offset] = (None, null_keyed)
    assert set(letters) == set(poisoned)
    for offset, (_, value) in poisoned.items():
        letter = letters[offset]
        raw = value or b""
        assert letter["raw_size"] == len(raw)
        assert letter["raw_sha256"] == hashlib.sha256(raw).hexdigest()
        assert len(letter["reasons"]) <= 5
    big = letters[offsets[1]]
    assert big["raw_truncated"] is True
    assert big["raw_payload"] == oversized[: settings.worker.dead_letter_max_payload_bytes]
    assert big["raw_size"] == 1_000_010
    assert [r["code"] for r in big["reasons"]] == ["malformed_event"]
    assert [r["code"] for r in letters[offsets[7]]["reasons"]] == ["unknown_indicator"] * 4 + [
        "more_reasons"
    ]
    assert "296 more reasons" in letters[offsets[7]]["reasons"][-1]["message_en"]
    assert letters[offsets[6]]["reasons"][0]["code"] == "malformed_event"  # the wrong key
    assert "None" in letters[null_key_offset]["reasons"][0]["message_en"]  # the null key
    for offset in poisoned:
        if offset != offsets[1]:
            assert letters[offset]["raw_truncated"] is False
    on_approvals = wait_for(
        "the dead letter of the junk approval",
        lambda: dead_letters_by_offset(readers["dead"], 1, topic_suffix=".approvals"),
        worker=worker,
    )
    assert list(on_approvals) == [approval_junk]
    assert on_approvals[approval_junk]["raw_payload"] == b"\xc3\x01junk"
    worker.assert_running()
    assert worker.stop() == 0, worker.tail()


def publish_raw(
    settings: Settings, topic: str, events: Sequence[tuple[str | None, bytes | None]]
) -> list[tuple[int, int]]:
    """Send raw keys and values (any bytes, ``None`` included) in order; where they landed
    (partition, offset): a null key lands on any partition."""
    sender = producer(settings.kafka, max_request_size=BROKER_DEFAULT_MAX_MESSAGE_BYTES)
    try:
        futures = [
            sender.send(topic, key=key.encode() if key is not None else None, value=value)
            for key, value in events
        ]
        sender.flush()
        return [(m.partition, m.offset) for m in (f.get(timeout=30) for f in futures)]
    finally:
        sender.close()


@pytest.mark.usefixtures("injected_bug")
def test_a_record_the_worker_fails_on_is_set_aside_as_an_internal_error(
    test_settings: Settings,
    topics: Topics,
    readers: dict[str, TopicReader],
    start_worker: Callable[..., Worker],
) -> None:
    worker = start_worker()
    offsets = publish(
        test_settings,
        [
            encoded(report(C, 1, tthc_received=10)),
            encoded(report(D, 1, tthc_received=666)),  # the injected bug fails on this one
            encoded(report(E, 1, tthc_received=5)),
        ],
    )

    wait_for(
        "figures of the two other reports",
        figure_check(readers["figures"], {"tthc_received": 15.0}),
        worker=worker,
    )
    letters = wait_for(
        "the internal-error dead letter",
        lambda: dead_letters_by_offset(readers["dead"], 1),
        worker=worker,
    )
    [letter] = letters.values()
    assert letter["source_offset"] == offsets[1]
    [why] = letter["reasons"]
    assert why["code"] == "internal_error"
    assert "ZeroDivisionError" in why["message_en"]
    assert letter["raw_size"] > 0 and letter["raw_sha256"] is not None
    worker.assert_running()
    assert worker.stop() == 0, worker.tail()


@pytest.mark.usefixtures("injected_bug")
def test_a_bug_that_fails_every_record_is_reported_then_the_worker_exits_non_zero(
    test_settings: Settings,
    topics: Topics,
    readers: dict[str, TopicReader],
    start_worker: Callable[..., Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BAOCAO_TEST_FAIL_EVERY", "1")
    settings = with_worker(
        test_settings, max_consecutive_internal_errors=5, fatal_exit_delay_seconds=3.0
    )
    port = free_port()
    worker = start_worker("--metrics-port", str(port), settings=settings)
    publish(test_settings, [encoded(report(c, 1, tthc_received=1)) for c in (C, D, E) * 3])

    deadline = time.monotonic() + 90
    said: dict[str, Any] | None = None
    while time.monotonic() < deadline and worker.process is not None:
        if worker.process.poll() is not None:
            break
        try:
            status, body = healthz(port)
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
            continue
        if status == 503 and not body["checks"].get("rollup", {}).get("ok", True):
            said = body
        time.sleep(0.2)
    assert worker.process is not None
    code = worker.process.wait(timeout=60)

    assert said is not None, f"/healthz never named the fatal error; log:\n{worker.tail()}"
    assert "5 events in a row failed with internal errors" in said["checks"]["rollup"]["error"]
    assert code != 0
    # The batch that reached the limit was not acknowledged: its reports are read again after
    # a restart. Batches before it (their failures below the limit) were acknowledged, each
    # report as an internal_error dead letter; how the 9 reports fell into batches depends on
    # timing, so the count is read from the committed offset rather than assumed to be 0.
    admin = admin_client(test_settings.kafka)
    try:
        group = admin.list_group_offsets(settings.worker.app_id).get(settings.worker.app_id, {})
    finally:
        admin.close()
    acknowledged = sum(
        meta.offset for tp, meta in group.items() if tp.topic == topics.commune_reports
    )
    letters = readers["dead"].poll()
    assert acknowledged < 9
    assert len(letters) == acknowledged
    assert {r["code"] for _, letter in letters for r in letter["reasons"]} <= {"internal_error"}

    # The bug fixed, a restart reads the withheld reports again: each commune counts once.
    monkeypatch.delenv("BAOCAO_TEST_FAIL_EVERY")
    fixed = start_worker(settings=settings)
    wait_for(
        "the withheld reports' figures",
        figure_check(readers["figures"], {"tthc_received": 3.0}),
        worker=fixed,
    )
    assert fixed.stop() == 0, fixed.tail()


def test_a_worker_whose_writes_kafka_refuses_exits_instead_of_idling(
    test_settings: Settings,
    topics: Topics,
    start_worker: Callable[..., Worker],
) -> None:
    # The dead-letter topic refuses every record: each batch with a refusal fails to deliver.
    set_topic_config(test_settings, topics.dead_letter, max_message_bytes="64")
    # A backlog behind the poison: fetched events the crashed agent never acknowledges are
    # what Faust's "Wait for streams..." waited for, forever.
    backlog = [encoded(report(c, 1, tthc_received=1)) for c in (C, D, E)] * 1000
    publish(test_settings, [(PROVINCE, b"not avro"), *backlog])
    worker = start_worker()

    assert worker.process is not None
    try:
        code = worker.process.wait(timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the crashed worker did not exit within 90 s; log:\n{worker.tail()}")
    assert code != 0, worker.tail()
    assert "DeliveryError" in worker.log.read_text(errors="replace"), worker.tail()


def test_a_registry_outage_is_waited_out_and_a_malformed_schema_dead_lettered(
    test_settings: Settings,
    topics: Topics,
    readers: dict[str, TopicReader],
    start_worker: Callable[..., Worker],
) -> None:
    with running_registry() as (registry, url):
        writer = wire_codec(
            "commune_report.v2", topic=topics.commune_reports, registry=SchemaRegistryClient(url)
        )
        framed = writer.encode(report(C, 1, tthc_received=10).to_avro())
        registry.texts[7] = '{"type": "map"}'
        malformed = b"\x00\x00\x00\x00\x07" + framed[5:]
        registry.outage = 1_000_000  # the registry is down from now on
        settings = test_settings.model_copy(
            update={
                "schema_registry": SchemaRegistrySettings(
                    url=url, retry_initial_seconds=0.2, retry_max_seconds=1.0
                )
            }
        )
        port = free_port()
        worker = start_worker("--metrics-port", str(port), settings=settings)
        publish(test_settings, [(PROVINCE, framed), (PROVINCE, malformed)])

        wait_for(
            "the worker retrying the registry",
            lambda: True if len(registry.requests) >= 5 else None,
            worker=worker,
        )
        status, body = healthz(port)
        assert status == 503 and not body["checks"]["schema_registry"]["ok"], body
        assert readers["dead"].poll() == []  # nothing refused while the registry is down
        assert retries(port) >= 4

        registry.outage = 0  # the registry is back
        wait_for(
            "the report decoded once the registry answers",
            figure_check(readers["figures"], {"tthc_received": 10.0}),
            worker=worker,
        )
        letters = wait_for(
            "the malformed schema's dead letter",
            lambda: dead_letters_by_offset(readers["dead"], 1),
            worker=worker,
        )
        [letter] = letters.values()
        assert [r["code"] for r in letter["reasons"]] == ["malformed_event"]
        assert "schema id 7" in letter["reasons"][0]["message_en"]
        assert registry.requests.count("GET /schemas/ids/7") == 1
        worker.assert_running()
        assert worker.stop() == 0, worker.tail()


def retries(port: int) -> float:
    for line in metrics_page(port).splitlines():
        if line.startswith("baocao_worker_schema_registry_retries_total "):
            return float(line.split()[1])
    raise AssertionError("no registry retry counter on /metrics")
