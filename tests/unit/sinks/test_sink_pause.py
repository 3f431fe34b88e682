"""How the sink lands a batch while ClickHouse refuses or hangs, against a fake consumer:
partitions paused while it waits, polled all along, resumed after the write, committed last,
and records a rebalance hands over meanwhile given back (nothing read past what was written).
The real servers version is ``tests/integration/test_sink_outage.py``."""

from __future__ import annotations

import threading
from collections import namedtuple
from typing import Any

import pytest
from kafka.structs import OffsetAndMetadata, TopicPartition

from baocao.core.settings import Settings, SinkSettings
from baocao.sinks.clickhouse import sink as sink_module
from baocao.sinks.clickhouse.sink import ClickHouseSink
from baocao.sinks.clickhouse.writer import Flight, FlushResult
from baocao.sinks.exceptions import SinkWriteError

Record = namedtuple("Record", "topic partition offset leader_epoch")
A0, A1 = TopicPartition("a", 0), TopicPartition("a", 1)


class FakeConsumer:
    """Records what the sink asks of Kafka; ``handed_over`` is what a poll returns once
    (as after a rebalance that assigned a partition not paused yet)."""

    def __init__(self) -> None:
        self.assigned = {A0, A1}
        self.paused_partitions: set[TopicPartition] = set()
        self.events: list[str] = []
        self.polls_while_paused = 0
        self.handed_over: dict[TopicPartition, list[Record]] = {}
        self.seeks: list[tuple[TopicPartition, int]] = []
        self.commits: list[dict[TopicPartition, OffsetAndMetadata]] = []

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def paused(self) -> set[TopicPartition]:
        return set(self.paused_partitions)

    def pause(self, *partitions: TopicPartition) -> None:
        self.paused_partitions.update(partitions)
        self.events.append("pause")

    def resume(self, *partitions: TopicPartition) -> None:
        self.paused_partitions.difference_update(partitions)
        self.events.append("resume")

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, Any]:
        if self.paused_partitions >= self.assigned:
            self.polls_while_paused += 1
        handed, self.handed_over = self.handed_over, {}
        return handed

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks.append((partition, offset))

    def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        self.events.append("commit")
        self.commits.append(offsets)


class FlakyWriter:
    """Refuses the first ``failures`` flushes, optionally hanging each attempt a while."""

    def __init__(self, failures: int, *, hang: float = 0.0) -> None:
        self.failures = failures
        self.attempts = 0
        self.hang = hang

    def flush(self) -> FlushResult:
        self.attempts += 1
        threading.Event().wait(self.hang)
        if self.attempts <= self.failures:
            raise SinkWriteError("insert into t failed (2 rows): refused", table="t", rows=2)
        return FlushResult({"t": 2}, 0.01)

    def __len__(self) -> int:
        return 2


def _sink(stop: threading.Event | None = None) -> ClickHouseSink:
    sink = SinkSettings(retry_initial_seconds=0.05, retry_max_seconds=0.1)
    return ClickHouseSink(Settings(sink=sink), stop=stop or threading.Event())


def _flight(writer: FlakyWriter) -> Flight:
    records = [Record("a", 0, 7, 1), Record("a", 1, 3, 1)]
    flight = Flight(records, [], writer)  # type: ignore[arg-type]
    flight.launch()
    return flight


@pytest.fixture(autouse=True)
def _quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sink_module, "PAUSE_AFTER_SECONDS", 0.05)
    monkeypatch.setattr(sink_module, "KEEP_ALIVE_SECONDS", 0.01)


def test_refused_batch_is_retried_paused_and_committed_after_it_lands() -> None:
    sink, consumer, writer = _sink(), FakeConsumer(), FlakyWriter(failures=3)
    assert sink._land(consumer, _flight(writer))
    assert writer.attempts == 4 and sink.stats.retries == 3
    assert consumer.polls_while_paused >= 3  # it kept polling while it waited
    assert consumer.events[0] == "pause" and consumer.events[-2:] == ["resume", "commit"]
    assert consumer.paused() == set() and not sink.stats.paused and sink.stats.pauses == 1
    assert consumer.commits == [{A0: OffsetAndMetadata(8, "", 1), A1: OffsetAndMetadata(4, "", 1)}]


def test_a_hanging_insert_pauses_the_partitions_and_keeps_polling() -> None:
    sink, consumer, writer = _sink(), FakeConsumer(), FlakyWriter(failures=0, hang=0.4)
    assert sink._land(consumer, _flight(writer))
    assert writer.attempts == 1 and sink.stats.retries == 0
    assert consumer.polls_while_paused >= 5
    assert consumer.events == ["pause", "resume", "commit"]


def test_a_quick_insert_neither_pauses_nor_polls() -> None:
    sink, consumer = _sink(), FakeConsumer()
    assert sink._land(consumer, _flight(FlakyWriter(failures=0)))
    assert consumer.events == ["commit"] and consumer.polls_while_paused == 0


def test_records_handed_over_while_paused_are_given_back() -> None:
    sink, consumer, writer = _sink(), FakeConsumer(), FlakyWriter(failures=2)
    a2 = TopicPartition("a", 2)
    consumer.assigned.add(a2)  # assigned by a rebalance: not paused yet when polled
    consumer.handed_over = {a2: [Record("a", 2, 40, 1), Record("a", 2, 41, 1)]}
    assert sink._land(consumer, _flight(writer))
    assert consumer.seeks == [(a2, 40)]  # read again later, after this batch
    assert a2 not in {tp for offsets in consumer.commits for tp in offsets}


def test_stopping_while_refused_commits_nothing() -> None:
    stop = threading.Event()
    sink, consumer, writer = _sink(stop), FakeConsumer(), FlakyWriter(failures=10**6)
    threading.Timer(0.3, stop.set).start()
    assert not sink._land(consumer, _flight(writer))
    assert consumer.commits == [] and sink.stats.retries >= 1
    assert consumer.paused() == set()  # resumed on the way out; the consumer closes next
