"""The ClickHouse sink: Kafka batches in, one insert per table, then the offset commit.

The rule: offsets are committed only once every row of their batch is in ClickHouse; while
ClickHouse refuses, the same batch is retried forever with the partitions paused, and the
consumer keeps polling so it stays in its group. The loop's steps and why a replay is
harmless are in docs/clickhouse.md ("The sink").
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from clickhouse_driver import Client
from kafka import ConsumerRebalanceListener
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from baocao.core import kafka
from baocao.core.clickhouse import connect
from baocao.core.settings import Settings
from baocao.core.topics import Topics
from baocao.sinks.clickhouse.migrate import check_schema
from baocao.sinks.clickhouse.rows.routing import (
    MessageRow,
    Route,
    message_row,
    routes_for,
    submitted_at_of,
)
from baocao.sinks.clickhouse.writer import BatchWriter, Flight, TableClients
from baocao.sinks.exceptions import ClickHouseUnavailableError, SinkWriteError
from baocao.sinks.metrics import SinkStats

__all__ = ["ClickHouseSink", "commit_offsets", "retry_delay", "run_sink", "sink_consumer"]

logger = logging.getLogger(__name__)

#: An insert still running after this long pauses the partitions: the sink stops fetching
#: and only polls to stay in its group until the insert is done.
PAUSE_AFTER_SECONDS = 1.0
#: How often a paused sink polls Kafka (far below any sensible ``max.poll.interval.ms``).
KEEP_ALIVE_SECONDS = 0.5
#: How long a stopping sink lets a running insert finish, so its batch can be committed.
STOP_GRACE_SECONDS = 10.0
#: While an insert runs, how often the next batch's poll looks whether it has finished: the
#: next batch goes at most this long after it (a poll cannot be woken by the insert thread).
#: 0.01 s looked faster at 200 reports/s but within noise, and CI's ZooKeeper-outage test
#: then lost the sink's place in its group once: kept at 0.05 s (README, "Freshness").
INSERT_CHECK_SECONDS = 0.05


def consumer_lag(consumer: Any) -> dict[tuple[str, int], int]:
    """Records behind the end of each assigned partition, from what the last fetch learnt of
    its high watermark (no extra request); partitions not fetched yet are left out."""
    lags: dict[tuple[str, int], int] = {}
    for partition in consumer.assignment():
        highwater = consumer.highwater(partition)
        if highwater is None:
            continue
        lags[(partition.topic, partition.partition)] = max(
            0, highwater - consumer.position(partition)
        )
    return lags


def sink_consumer(settings: Settings) -> Any:
    """The sink's Kafka consumer, in its group, with its timing settings (``SinkSettings``)."""
    sink = settings.sink
    return kafka.consumer(
        settings.kafka,
        group_id=sink.group_id,
        max_poll_interval_ms=int(sink.max_poll_interval_seconds * 1000),
        session_timeout_ms=int(sink.session_timeout_seconds * 1000),
        heartbeat_interval_ms=int(sink.session_timeout_seconds * 1000 / 3),
        fetch_max_wait_ms=round(sink.fetch_max_wait_seconds * 1000),
    )


def retry_delay(attempt: int, *, initial: float, maximum: float) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based): doubling from ``initial``,
    capped at ``maximum``."""
    if attempt >= 64:  # 2**64 * initial overflows nothing in Python, but is pointless
        return maximum
    return float(min(maximum, initial * 2**attempt))


def commit_offsets(records: Iterable[Any]) -> dict[TopicPartition, OffsetAndMetadata]:
    """The offsets to commit once ``records`` are stored: per partition, one past the
    highest offset (Kafka's committed offset is the next record to read)."""
    offsets: dict[TopicPartition, OffsetAndMetadata] = {}
    for record in records:
        partition = TopicPartition(record.topic, record.partition)
        current = offsets.get(partition)
        if current is None or record.offset + 1 > current.offset:
            offsets[partition] = OffsetAndMetadata(record.offset + 1, "", record.leader_epoch)
    return offsets


class _Assignments(ConsumerRebalanceListener):
    """Logs and counts the group's assignments: a sink that waits out an outage correctly
    is assigned its partitions once, not again after every long insert."""

    def __init__(self, stats: SinkStats) -> None:
        self._stats = stats

    def on_partitions_revoked(self, revoked: Any) -> None:
        if revoked:
            logger.info("partitions revoked: %s", _names(revoked))

    def on_partitions_assigned(self, assigned: Any) -> None:
        self._stats.record_partitions_assigned(len(assigned))
        logger.info("partitions assigned: %s", _names(assigned) or "none")


def _names(partitions: Iterable[TopicPartition]) -> str:
    return ", ".join(f"{p.topic}[{p.partition}]" for p in sorted(partitions))


class ClickHouseSink:
    """One sink process's loop; :meth:`run` returns when stopped or idle long enough."""

    def __init__(
        self,
        settings: Settings,
        *,
        stop: threading.Event,
        max_idle_seconds: float | None = None,
        stats: SinkStats | None = None,
    ) -> None:
        self._settings = settings
        self._stop = stop
        self._max_idle = max_idle_seconds
        self.stats = stats if stats is not None else SinkStats()
        # The outputs of the worker it lands (a rebuilt worker's: BAOCAO_WORKER_OUTPUT_PREFIX).
        topics = Topics(settings.kafka.topic_prefix, outputs=settings.worker.output_prefix)
        self._routes: dict[str, Route] = routes_for(topics, deadlines=settings.deadlines)
        #: When the next insert may start (``SinkSettings.min_insert_interval_seconds``).
        self._next_insert_at = 0.0

    @property
    def topics(self) -> list[str]:
        return list(self._routes)

    def run(self) -> SinkStats:
        client = connect(self._settings.clickhouse)
        tables = TableClients(self._settings.clickhouse)
        consumer: Any = None
        try:
            if not self._wait_for_schema(client):
                return self.stats
            kafka.wait_for_kafka(self._settings.kafka)
            kafka.ensure_topics(self._settings.kafka)
            consumer = sink_consumer(self._settings)
            consumer.subscribe(self.topics, listener=_Assignments(self.stats))
            logger.info(
                "sink consuming %s as group %s into ClickHouse database %s",
                ", ".join(self.topics),
                self._settings.sink.group_id,
                self._settings.clickhouse.database,
            )
            self._loop(consumer, tables)
        finally:
            if consumer is not None:
                consumer.close(autocommit=False)
                logger.info("sink stopped: %s", self.stats.snapshot())
            client.disconnect()
            tables.disconnect()
        return self.stats

    # -- start-up -------------------------------------------------------------------------

    def _wait_for_schema(self, client: Client) -> bool:
        """Wait (with backoff) until ClickHouse answers, then insist the migrations are
        applied. Returns False when stopped while waiting."""
        sink = self._settings.sink
        attempt = 0
        while True:
            try:
                check_schema(client, database=self._settings.clickhouse.database)
                return True
            except ClickHouseUnavailableError as exc:
                client.disconnect()
                delay = retry_delay(
                    attempt, initial=sink.retry_initial_seconds, maximum=sink.retry_max_seconds
                )
                attempt += 1
                logger.warning("%s; retrying in %.1fs", exc, delay)
                if self._stop.wait(delay):
                    return False

    # -- the loop -------------------------------------------------------------------------

    def _loop(self, consumer: Any, tables: TableClients) -> None:
        flight: Flight | None = None  # the batch being inserted while the next one is read
        last_record = time.monotonic()
        while not self._stop.is_set():
            batch = self._poll_batch(consumer, flight)
            self.stats.record_assignment(len(consumer.assignment()))
            self.stats.record_lag(consumer_lag(consumer))
            # Decoded while the previous batch is still being inserted.
            staged = self._stage(batch, BatchWriter(tables)) if batch else None
            if batch:
                last_record = time.monotonic()
            if flight is not None and (staged is not None or flight.wait(0)):
                if not self._land(consumer, flight):
                    return
                flight = None
            if staged is not None:
                flight = staged
                flight.launch()
                gap = self._settings.sink.min_insert_interval_seconds
                self._next_insert_at = time.monotonic() + gap
            elif flight is None:
                idle = time.monotonic() - last_record
                if self._max_idle is not None and idle >= self._max_idle:
                    logger.info("no message for %.1fs: stopping (--max-idle-seconds)", idle)
                    return
        if flight is not None:
            self._land(consumer, flight)

    def _poll_batch(self, consumer: Any, flight: Flight | None) -> list[Any]:
        """The next batch: it goes as soon as the input is drained (a poll brought fewer
        records than it asked for: nothing more was fetched), no insert is running and the
        last one began ``min_insert_interval_seconds`` ago; it grows while it waits.
        ``batch_rows`` and one flush interval after its first record only cap it under load.
        With nothing to read it waits up to one flush interval, and while a batch is being
        inserted it returns empty-handed once that insert has finished, to commit it.
        Why: docs/clickhouse.md ("The sink")."""
        sink = self._settings.sink
        interval = sink.flush_interval_seconds
        batch: list[Any] = []
        deadline = time.monotonic() + interval
        while len(batch) < sink.batch_rows and not self._stop.is_set():
            now = time.monotonic()
            remaining = deadline - now
            if remaining <= 0:
                break
            inserting = flight is not None and not flight.wait(0)
            if flight is not None and not inserting and not batch:
                break  # the insert has finished: commit it
            early = self._next_insert_at - now  # > 0: too soon after the last insert began
            if inserting:
                remaining = min(remaining, INSERT_CHECK_SECONDS)
            elif not batch:
                remaining = min(remaining, KEEP_ALIVE_SECONDS)  # so a stop is seen soon
            else:
                # Nothing in the way: take what is fetched, then go (once the gap is over).
                remaining = min(remaining, max(0.0, early))
            wanted = sink.batch_rows - len(batch)
            polled = consumer.poll(timeout_ms=int(remaining * 1000), max_records=wanted)
            received = sum(len(records) for records in polled.values())
            if received and not batch:
                deadline = time.monotonic() + interval
            for records in polled.values():
                batch.extend(records)
            drained = received < wanted
            if batch and drained and not inserting and time.monotonic() >= self._next_insert_at:
                break  # drained, and nothing in the way: write it now
        return batch

    def _stage(self, batch: Sequence[Any], writer: BatchWriter) -> Flight:
        """Turn the batch into rows of the writer: the flight that will insert them."""
        received_at = datetime.now(UTC)
        per_topic: dict[str, int] = {}
        staged: list[MessageRow] = []
        for record in batch:
            per_topic[record.topic] = per_topic.get(record.topic, 0) + 1
            placed = message_row(self._routes.get(record.topic), record, received_at=received_at)
            staged.append(placed)
            if placed.error is not None:
                self.stats.record_poison()
                logger.error(
                    "poison message %s[%d]@%d stored in %s: %s",
                    record.topic,
                    record.partition,
                    record.offset,
                    placed.table.name,
                    placed.error,
                )
            writer.add(placed.table, placed.row)
        for topic, count in per_topic.items():
            self.stats.record_consumed(topic, count)
        return Flight(batch, staged, writer)

    # -- landing a batch: wait, retry while ClickHouse refuses, commit ---------------------

    def _land(self, consumer: Any, flight: Flight) -> bool:
        """Wait for the flight's insert, retrying with backoff while ClickHouse refuses or
        hangs, the partitions paused meanwhile; then commit its offsets. False when stopped
        before the batch was written (its offsets stay uncommitted: it is replayed)."""
        sink = self._settings.sink
        attempt = 0
        try:
            while True:
                if not self._wait_for(consumer, flight):
                    return self._stopped(flight)
                try:
                    flight.result()
                    break
                except SinkWriteError as exc:
                    delay = retry_delay(
                        attempt, initial=sink.retry_initial_seconds, maximum=sink.retry_max_seconds
                    )
                    attempt += 1
                    self.stats.record_retry()
                    self.stats.record_flush_failure(str(exc))
                    logger.warning(
                        "%s; retry %d in %.1fs (batch kept, partitions paused,"
                        " offsets not committed)",
                        exc,
                        attempt,
                        delay,
                    )
                    self._pause(consumer)
                    if not self._hold(consumer, delay):
                        return self._stopped(flight)
                    flight.launch()
        finally:
            self._resume(consumer)
        self._committed(consumer, flight)
        return True

    def _wait_for(self, consumer: Any, flight: Flight) -> bool:
        """Wait until the current insert attempt finishes; past :data:`PAUSE_AFTER_SECONDS`
        pause the partitions and keep polling. False when stopped first (after letting the
        attempt finish for up to :data:`STOP_GRACE_SECONDS`)."""
        while not flight.wait(0.1 if flight.waited < PAUSE_AFTER_SECONDS else 0):
            if self._stop.is_set():
                return flight.wait(STOP_GRACE_SECONDS)
            if flight.waited >= PAUSE_AFTER_SECONDS:
                self._pause(consumer)
                self._keep_alive(consumer, KEEP_ALIVE_SECONDS)
        return True

    def _stopped(self, flight: Flight) -> bool:
        logger.warning(
            "stopping before %d rows were written; their offsets are not committed,"
            " so they are consumed again at the next start",
            len(flight.writer),
        )
        return False

    def _pause(self, consumer: Any) -> None:
        """Stop fetching from every assigned partition (the group sees no change)."""
        assigned = consumer.assignment()
        unpaused = set(assigned) - consumer.paused()
        if not unpaused:
            return
        if not consumer.paused():
            logger.warning(
                "ClickHouse has not taken the batch: %d partitions paused, polling on"
                " to stay in the group",
                len(assigned),
            )
            self.stats.record_paused(True)
        consumer.pause(*unpaused)

    def _resume(self, consumer: Any) -> None:
        paused = consumer.paused()
        if paused:
            consumer.resume(*paused)
            self.stats.record_paused(False)
            logger.info("batch written: %d partitions resumed", len(paused))

    def _keep_alive(self, consumer: Any, seconds: float) -> None:
        """Poll with every partition paused, for the group's sake. A rebalance in between
        may assign partitions that are not paused yet: whatever they return is handed back
        (the position reset to it) and they are paused too, so nothing is read past what
        was written."""
        polled = consumer.poll(timeout_ms=max(1, int(seconds * 1000)))
        for partition, records in polled.items():
            if records:
                consumer.seek(partition, records[0].offset)
        self._pause(consumer)

    def _hold(self, consumer: Any, seconds: float) -> bool:
        """Keep polling, paused, for ``seconds``; False when stopped meanwhile."""
        until = time.monotonic() + seconds
        while not self._stop.is_set():
            remaining = until - time.monotonic()
            if remaining <= 0:
                return True
            self._keep_alive(consumer, min(remaining, KEEP_ALIVE_SECONDS))
        return False

    def _committed(self, consumer: Any, flight: Flight) -> None:
        """Commit a written batch and record what it did."""
        flushed = flight.result()
        stored_at = flight.stored_at or datetime.now(UTC)
        committed = self._commit(consumer, flight.records)
        self.stats.record_batch(flushed.rows, flushed.seconds)
        self.stats.record_freshness(
            [
                (stored_at - submitted).total_seconds()
                for submitted in submitted_at_of(flight.placed)
            ]
        )
        logger.info(
            "flushed %d records in %.3fs: %s%s",
            len(flight.records),
            flushed.seconds,
            ", ".join(f"{table}={rows}" for table, rows in sorted(flushed.rows.items())),
            "" if committed else " (offsets not committed; the batch will be replayed)",
        )

    def _commit(self, consumer: Any, batch: Sequence[Any]) -> bool:
        """Commit the batch's offsets. A refused commit is logged, not raised: the rows are
        stored, so the worst outcome is that the batch is consumed and written again."""
        offsets = commit_offsets(batch)
        try:
            consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            self.stats.record_commit_failure()
            logger.warning("offset commit failed (%s); the batch will be consumed again", exc)
            return False
        return True


def run_sink(
    settings: Settings,
    *,
    stop: threading.Event | None = None,
    max_idle_seconds: float | None = None,
    stats: SinkStats | None = None,
) -> SinkStats:
    """Run the sink until ``stop`` is set or no message came for ``max_idle_seconds``.

    Raises :class:`~baocao.sinks.exceptions.SchemaNotReadyError` when the database lacks
    migrations, and Kafka's :class:`~baocao.core.kafka.KafkaUnavailableError` when no broker
    answers at start-up. Once running, outages are waited out, not raised.
    """
    sink = ClickHouseSink(
        settings,
        stop=stop if stop is not None else threading.Event(),
        max_idle_seconds=max_idle_seconds,
        stats=stats,
    )
    return sink.run()
