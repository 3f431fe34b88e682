"""Replay output topics into ClickHouse with a consumer group of its own, to their end.

The sink itself does the work (:func:`~baocao.sinks.clickhouse.sink.run_sink`, unchanged): it
runs in a thread with its own group, and is stopped once the group's committed offsets reach
the end offsets the topics had when the replay started. Records that arrive meanwhile are left
to the next replay (``rebuild swap`` replays again after renaming) or to the live sink.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition

from baocao.app.rebuild.exceptions import RebuildError
from baocao.core import kafka
from baocao.core.settings import Settings
from baocao.sinks.clickhouse.sink import ClickHouseSink, run_sink
from baocao.sinks.metrics import SinkStats

__all__ = [
    "Offsets",
    "Replay",
    "behind",
    "committed_offsets",
    "end_offsets",
    "replay",
    "sink_topics",
]

logger = logging.getLogger(__name__)

Offsets = dict[TopicPartition, int]


@dataclass(frozen=True, slots=True)
class Replay:
    """What a replay read and how long it took."""

    database: str
    group: str
    records: int
    seconds: float


def sink_topics(settings: Settings) -> list[str]:
    """The topics the sink of ``settings`` consumes (its routes; nothing is connected)."""
    return ClickHouseSink(settings, stop=threading.Event()).topics


def end_offsets(settings: Settings, topics: list[str]) -> Offsets:
    """The offset after the last record of every non-empty partition of ``topics``."""
    consumer = KafkaConsumer(**kafka.client_options(settings.kafka), enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(topic, number)
            for topic in topics
            for number in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        ends = consumer.end_offsets(partitions) if partitions else {}
    finally:
        consumer.close()
    return {partition: offset for partition, offset in ends.items() if offset > 0}


def committed_offsets(settings: Settings, group: str) -> Offsets:
    """The offsets ``group`` has committed (partitions it never committed are left out)."""
    admin = kafka.admin_client(settings.kafka)
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    finally:
        admin.close()
    return {partition: meta.offset for partition, meta in offsets.items() if meta.offset >= 0}


def behind(committed: Mapping[TopicPartition, int], target: Mapping[TopicPartition, int]) -> int:
    """Records of ``target`` not yet committed."""
    return sum(max(0, end - committed.get(partition, 0)) for partition, end in target.items())


def replay(
    settings: Settings,
    *,
    database: str,
    group: str,
    timeout_seconds: float,
    check_interval_seconds: float = 1.0,
) -> Replay:
    """Run the sink of ``settings`` into ``database`` as ``group`` until the group has
    committed everything the sink's topics held at the start. The group reads from the first
    offset the first time, and on from where it stopped after that.

    Raises :class:`RebuildError` when the sink fails or ``timeout_seconds`` pass first.
    """
    sink_settings = settings.model_copy(
        update={
            "clickhouse": settings.clickhouse.model_copy(update={"database": database}),
            "sink": settings.sink.model_copy(update={"group_id": group}),
        }
    )
    target = end_offsets(sink_settings, sink_topics(sink_settings))
    already = committed_offsets(sink_settings, group)
    to_read = behind(already, target)
    logger.info(
        "replaying %d records of %d partitions into %s as group %s",
        to_read,
        len(target),
        database,
        group,
    )
    stop = threading.Event()
    stats = SinkStats()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            run_sink(sink_settings, stop=stop, stats=stats)
        except BaseException as exc:  # surfaced below, in the caller's thread
            errors.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=run, name=f"replay-{database}", daemon=True)
    thread.start()
    try:
        while True:
            left = behind(committed_offsets(sink_settings, group), target)
            if not left:
                break
            if errors or not thread.is_alive():
                raise RebuildError(f"the replay into {database} stopped: {errors[:1] or 'ended'}")
            if time.monotonic() - started > timeout_seconds:
                raise RebuildError(
                    f"the replay into {database} did not finish within {timeout_seconds:.0f}s:"
                    f" {left} of {to_read} records still to commit"
                )
            time.sleep(check_interval_seconds)
    finally:
        stop.set()
        thread.join(timeout=60)
    seconds = time.monotonic() - started
    logger.info("replayed %d records into %s in %.1fs", to_read, database, seconds)
    return Replay(database=database, group=group, records=to_read, seconds=seconds)
