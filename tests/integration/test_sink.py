"""The ClickHouse sink against the real Kafka and ClickHouse.

Records are encoded with the project's Avro codecs and published with kafka-python to the
test's own topics; the sink runs in a thread (or as the `baocao sink` command) and the test
reads the BI views. Offsets are read back from the broker to check they are committed only
after ClickHouse has the rows.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from clickhouse_driver import Client
from conftest import settings_env
from kafka import KafkaConsumer, TopicPartition

from baocao import kafka
from baocao.avro import codec_for
from baocao.reference import load_reference
from baocao.settings import Settings
from baocao.topics import Topics
from sinks.clickhouse.client import connect
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.sink import run_sink
from sinks.metrics import SinkStats

T0 = datetime(2025, 9, 1, 8, 0, tzinfo=UTC)
PERIOD = "2025-08"

Message = tuple[str, bytes | None, bytes | None]  # topic, key, value

# -- helpers ------------------------------------------------------------------------------


def fast(settings: Settings, **sink_changes: Any) -> Settings:
    """The test's settings with a short flush interval and quick retries."""
    changes = {
        "flush_interval_seconds": 0.3,
        "retry_initial_seconds": 0.1,
        "retry_max_seconds": 0.4,
        **sink_changes,
    }
    return settings.model_copy(update={"sink": settings.sink.model_copy(update=changes)})


def wait_until(condition: Callable[[], bool], what: str, *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


@contextmanager
def running_sink(
    settings: Settings, **options: Any
) -> Iterator[tuple[SinkStats, threading.Thread]]:
    """Run the sink in a thread; stop it (and surface its error) when the block ends."""
    stop = threading.Event()
    stats = SinkStats()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            run_sink(settings, stop=stop, stats=stats, **options)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name="sink", daemon=True)
    thread.start()
    try:
        yield stats, thread
    finally:
        stop.set()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the sink did not stop within 60s"
        if errors:
            raise errors[0]


def publish(settings: Settings, messages: list[Message]) -> None:
    producer = kafka.producer(settings.kafka)
    try:
        for topic, key, value in messages:
            producer.send(topic, key=key, value=value)
        producer.flush(timeout=30)
    finally:
        producer.close()


def committed(settings: Settings) -> dict[TopicPartition, int]:
    admin = kafka.admin_client(settings.kafka)
    try:
        offsets = admin.list_group_offsets(settings.sink.group_id)[settings.sink.group_id]
    finally:
        admin.close()
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


def end_offsets(settings: Settings) -> dict[TopicPartition, int]:
    """Offset after the last record of each non-empty partition of the sink's topics."""
    topics = Topics(settings.kafka.topic_prefix)
    names = (topics.accepted_reports, topics.province_indicators, topics.dead_letter)
    consumer = KafkaConsumer(**kafka.client_options(settings.kafka), enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(name, p) for name in names for p in consumer.partitions_for_topic(name)
        ]
        ends = consumer.end_offsets(partitions)
    finally:
        consumer.close()
    return {tp: offset for tp, offset in ends.items() if offset > 0}


def all_committed(settings: Settings) -> bool:
    return committed(settings) == end_offsets(settings)


def report_message(
    topics: Topics, commune: str, revision: int, values: dict[str, float]
) -> Message:
    record = {
        "report_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{commune}/{PERIOD}/{revision}")),
        "commune_code": commune,
        "province_code": load_reference().communes[commune].province_code,
        "period": PERIOD,
        "revision": revision,
        "submitted_at": T0.replace(day=revision),
        "indicators": values,
    }
    key = f"{commune}|{PERIOD}".encode()
    return topics.accepted_reports, key, codec_for("commune_report.v1").encode(record)


def figure_message(
    topics: Topics, province: str, indicator: str, version: int, value: float | None, reported: int
) -> Message:
    record = {
        "province_code": province,
        "period": PERIOD,
        "indicator_code": indicator,
        "value": value,
        "numerator": None,
        "denominator": None,
        "communes_reported": reported,
        "version": version,
        "updated_at": T0.replace(minute=version),
    }
    key = f"{province}|{PERIOD}|{indicator}".encode()
    return topics.province_indicators, key, codec_for("province_indicator.v1").encode(record)


def rejection_message(topics: Topics, offset: int) -> Message:
    raw = b"\xc3\x01 not really a report"
    record = {
        "rejection_id": f"{topics.commune_reports}:0:{offset}",
        "report_id": None,
        "commune_code": "99999",
        "province_code": "01",
        "period": PERIOD,
        "revision": 1,
        "reasons": [
            {
                "code": "unknown_commune",
                "field": "commune_code",
                "message_en": "Unknown commune code 99999",
                "message_vi": "Mã xã 99999 không tồn tại",
            },
            {
                "code": "empty_report",
                "field": None,
                "message_en": "The report has no indicator values",
                "message_vi": "Báo cáo không có số liệu chỉ tiêu nào",
            },
        ],
        "raw_payload": raw,
        "source_topic": topics.commune_reports,
        "source_partition": 0,
        "source_offset": offset,
        "rejected_at": T0,
    }
    return topics.dead_letter, b"99999", codec_for("rejected_report.v1").encode(record)


def communes_of(province: str, count: int) -> list[str]:
    return list(load_reference().communes_by_province[province][:count])


@pytest.fixture
def prepared(test_settings: Settings, clickhouse_db: str) -> Iterator[Client]:
    """A migrated database and the test's topics; yields a client of that database."""
    migrate(test_settings.clickhouse)
    kafka.ensure_topics(test_settings.kafka)
    client = connect(test_settings.clickhouse)
    yield client
    client.disconnect()


def views(client: Client) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "province_indicators": client.execute(
            "SELECT * FROM province_indicators ORDER BY province_code, indicator_code"
        ),
        "commune_indicators": client.execute(
            "SELECT * FROM commune_indicators ORDER BY commune_code, indicator_code"
        ),
        "rejected_reports": client.execute(
            "SELECT * FROM rejected_reports ORDER BY rejection_id, reason_code"
        ),
    }


# -- tests --------------------------------------------------------------------------------


def test_sink_writes_every_topic_and_a_replay_changes_nothing(
    test_settings: Settings, prepared: Client
) -> None:
    topics = Topics(test_settings.kafka.topic_prefix)
    reference = load_reference()
    c1, c2, c3 = communes_of("01", 3)
    (c4,) = communes_of("79", 1)
    messages = [
        report_message(topics, c1, 1, {"births": 1.0, "deaths": 4.0}),
        report_message(topics, c2, 1, {"births": 2.0}),
        report_message(topics, c3, 1, {"births": 3.0}),
        report_message(topics, c4, 1, {"births": 9.0}),
        report_message(topics, c1, 2, {"births": 5.0}),  # correction of c1
        figure_message(topics, "01", "births", 1, 6.0, 3),
        figure_message(topics, "01", "births", 2, 10.0, 3),
        figure_message(topics, "79", "births", 1, 9.0, 1),
        rejection_message(topics, 17),
    ]
    publish(test_settings, messages)
    settings = fast(test_settings)

    with running_sink(settings) as (stats, _):
        wait_until(lambda: stats.records == len(messages), "the sink to consume every record")
        wait_until(lambda: all_committed(settings), "the offsets to be committed")
    assert stats.poison == 0 and stats.retries == 0
    assert stats.rows_written == {
        "commune_reports": 5,
        "province_indicator_values": 3,
        "rejections": 1,
    }
    # One insert per table per batch: never more parts than batches (merges only lower it).
    parts = prepared.execute(
        "SELECT table, count() FROM system.parts WHERE database = currentDatabase()"
        " AND active AND table IN ('commune_reports', 'province_indicator_values')"
        " GROUP BY table"
    )
    assert all(count <= stats.batches for _, count in parts), (parts, stats.batches)

    seen = views(prepared)
    name = {code: reference.communes[code].name for code in (c1, c2, c3, c4)}
    assert [row[:7] for row in seen["commune_indicators"]] == [
        (c1, name[c1], "01", PERIOD, "births", 5.0, 2),
        (c2, name[c2], "01", PERIOD, "births", 2.0, 1),
        (c3, name[c3], "01", PERIOD, "births", 3.0, 1),
        (c4, name[c4], "79", PERIOD, "births", 9.0, 1),
    ]
    assert seen["province_indicators"] == [
        (
            "01",
            reference.provinces["01"].name,
            PERIOD,
            "births",
            10.0,
            3,
            reference.communes_expected("01"),
            T0.replace(minute=2),
        ),
        (
            "79",
            reference.provinces["79"].name,
            PERIOD,
            "births",
            9.0,
            1,
            reference.communes_expected("79"),
            T0.replace(minute=1),
        ),
    ]
    assert [(r[0], r[2], r[6], r[7]) for r in seen["rejected_reports"]] == [
        (f"{topics.commune_reports}:0:17", "99999", "empty_report", None),
        (f"{topics.commune_reports}:0:17", "99999", "unknown_commune", "commune_code"),
    ]

    # Replay everything with a new consumer group: rows are written again, views unchanged.
    replay = fast(test_settings, group_id=f"{test_settings.sink.group_id}-replay")
    with running_sink(replay, max_idle_seconds=3) as (again, thread):
        thread.join(timeout=60)
        assert not thread.is_alive(), "--max-idle-seconds did not stop the sink"
    assert again.records == len(messages)
    assert again.rows_written == stats.rows_written
    assert prepared.execute("SELECT count() FROM commune_reports FINAL") == [(4,)]
    assert views(prepared) == seen


def test_poison_messages_are_kept_and_the_sink_goes_on(
    test_settings: Settings, prepared: Client
) -> None:
    topics = Topics(test_settings.kafka.topic_prefix)
    (commune,) = communes_of("01", 1)
    valid = report_message(topics, commune, 1, {"births": 4.0})
    negative = report_message(topics, commune, 1, {"births": 4.0})
    negative_record = codec_for("commune_report.v1").decode(negative[2] or b"")
    negative_record["revision"] = -1  # Avro can carry it; the UInt32 column cannot
    single = 0
    messages: list[Message] = [
        (topics.accepted_reports, b"k", b"\x00 not avro"),
        (topics.province_indicators, b"k", None),
        (topics.accepted_reports, b"k", codec_for("commune_report.v1").encode(negative_record)),
        valid,
    ]
    settings = fast(test_settings)
    # All on one partition, so the valid record is consumed after the poison ones.
    producer = kafka.producer(settings.kafka)
    try:
        for topic, key, value in messages:
            producer.send(topic, key=key, value=value, partition=single)
        producer.flush(timeout=30)
    finally:
        producer.close()

    with running_sink(settings) as (stats, _):
        wait_until(lambda: stats.records == len(messages), "the sink to consume every record")
        wait_until(lambda: all_committed(settings), "the offsets to be committed")
    assert stats.poison == 3
    poison = prepared.execute(
        "SELECT source_topic, source_partition, source_offset, message_key, hex(raw_payload),"
        " error"
        " FROM sink_poison_messages FINAL ORDER BY source_topic, source_offset"
    )
    assert [row[:4] for row in poison] == [
        (topics.accepted_reports, 0, 0, "k"),
        (topics.accepted_reports, 0, 1, "k"),
        (topics.province_indicators, 0, 0, "k"),
    ]
    assert bytes.fromhex(poison[0][4]) == b"\x00 not avro"
    assert poison[0][5].startswith("DecodeError: not Avro single-object encoding")
    assert poison[1][5] == "RowError: revision -1 is outside the column's range 0..4294967295"
    assert poison[2][4] == "" and "tombstone" in poison[2][5]
    assert prepared.execute(
        "SELECT commune_code, indicator_code, value FROM commune_indicators"
    ) == [(commune, "births", 4.0)]


def test_clickhouse_outage_is_retried_and_offsets_wait_for_success(
    test_settings: Settings, prepared: Client
) -> None:
    topics = Topics(test_settings.kafka.topic_prefix)
    c1, c2 = communes_of("01", 2)
    settings = fast(test_settings)
    first = [
        report_message(topics, c1, 1, {"births": 1.0}),
        figure_message(topics, "01", "births", 1, 1.0, 1),
    ]
    second = [
        report_message(topics, c2, 1, {"births": 2.0}),
        figure_message(topics, "01", "births", 2, 3.0, 2),
    ]
    with running_sink(settings) as (stats, _):
        publish(settings, first)
        wait_until(lambda: stats.batches >= 1 and all_committed(settings), "the first batch")
        before = committed(settings)

        prepared.execute("DETACH TABLE province_indicator_values")
        try:
            publish(settings, second)
            wait_until(lambda: stats.retries >= 3, "the sink to retry the refused insert")
            assert committed(settings) == before, "offsets were committed before the insert"
            # The table that did accept its rows keeps them; only the failed one is retried.
            assert prepared.execute(
                "SELECT count() FROM commune_reports WHERE commune_code = %(c)s", {"c": c2}
            ) == [(1,)]
        finally:
            prepared.execute("ATTACH TABLE province_indicator_values")

        wait_until(lambda: all_committed(settings), "the batch to be written and committed")
        assert committed(settings) != before
    assert stats.poison == 0
    assert stats.rows_written == {"commune_reports": 2, "province_indicator_values": 2}
    assert prepared.execute("SELECT count() FROM commune_reports") == [(2,)]  # no duplicate
    assert prepared.execute(
        "SELECT province_code, indicator_code, value, communes_reported FROM province_indicators"
    ) == [("01", "births", 3.0, 2)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_sink_command_stops_when_idle_and_on_sigterm(
    test_settings: Settings, prepared: Client
) -> None:
    topics = Topics(test_settings.kafka.topic_prefix)
    settings = fast(test_settings)
    env = {**os.environ, **settings_env(settings)}
    baocao = str(Path(sys.executable).with_name("baocao"))
    c1, c2 = communes_of("01", 2)
    publish(settings, [report_message(topics, c1, 1, {"births": 1.0})])

    idle = subprocess.run(
        [baocao, "sink", "--max-idle-seconds", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert idle.returncode == 0, idle.stderr
    assert "flushed 1 records" in idle.stderr
    assert "no message for" in idle.stderr
    assert all_committed(settings)

    port = free_port()
    process = subprocess.Popen(
        [baocao, "sink", "--metrics-port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        publish(settings, [report_message(topics, c2, 1, {"births": 2.0})])
        wait_until(
            lambda: prepared.execute("SELECT count() FROM commune_indicators") == [(2,)],
            "the running command to write the second report",
        )

        def metric_written() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    text = r.read().decode()
            except OSError:
                return False
            return 'baocao_sink_rows_written_total{table="commune_reports"} 1.0' in text

        wait_until(metric_written, "the metrics endpoint to count the row")
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "SIGTERM received" in stderr
    assert "sink stopped" in stderr
    assert all_committed(settings)


def test_stopping_during_an_outage_commits_nothing_and_the_next_run_writes_the_batch(
    test_settings: Settings, prepared: Client
) -> None:
    topics = Topics(test_settings.kafka.topic_prefix)
    (commune,) = communes_of("01", 1)
    settings = fast(test_settings)
    prepared.execute("DETACH TABLE commune_reports")
    try:
        publish(settings, [report_message(topics, commune, 1, {"births": 7.0})])
        with running_sink(settings) as (stats, _):
            wait_until(lambda: stats.retries >= 2, "the sink to retry the refused insert")
        assert stats.batches == 0
        assert committed(settings) == {}, "offsets were committed without the rows"
    finally:
        prepared.execute("ATTACH TABLE commune_reports")

    with running_sink(settings, max_idle_seconds=2) as (again, thread):
        thread.join(timeout=60)
    assert again.records == 1 and again.retries == 0
    assert all_committed(settings)
    assert prepared.execute(
        "SELECT commune_code, indicator_code, value FROM commune_indicators"
    ) == [(commune, "births", 7.0)]
