"""The ClickHouse sink in a thread and the Kafka side of its tests: publishing records to
its topics and reading back what its group committed (shared by the sink and outage tests)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from baocao.core import kafka
from baocao.core.settings import Settings
from baocao.core.topics import Topics
from baocao.sinks.clickhouse.sink import run_sink
from baocao.sinks.metrics import SinkStats
from support.records import Message


def fast(settings: Settings, **sink_changes: Any) -> Settings:
    """The test's settings with a short flush interval and quick retries."""
    changes = {
        "flush_interval_seconds": 0.3,
        "retry_initial_seconds": 0.1,
        "retry_max_seconds": 0.4,
        **sink_changes,
    }
    return settings.model_copy(update={"sink": settings.sink.model_copy(update=changes)})


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
    names = [name for name in topics.all() if name != topics.commune_reports]
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
