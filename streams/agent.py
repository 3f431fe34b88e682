"""The Faust side of the roll-up worker: moves batches between Kafka and the pure step
(:class:`~baocao.streams.step.RollupStep`), and runs the schedule's timer.

Rule: per batch, in this order and no other: run the step (nothing stored), publish its
outputs and wait for every acknowledgement, store its table writes and wait for their
changelogs, then let ``take_drained`` acknowledge the events. Why this order is exactly once
in effect, how a record the step fails on is set aside, and what a crash replays:
docs/worker.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, cast

import faust
import faust.exceptions
from faust.types import EventT

from baocao.core.reasons import ReasonCode, reason
from baocao.core.registry import (
    SchemaRegistryClient,
    SchemaRegistryUnavailableError,
    confluent_schema_id,
    prefetch_schemas,
)
from baocao.core.settings import SchemaRegistrySettings
from baocao.streams.batching import take_drained
from baocao.streams.delivery import await_delivery, send_in_batches, store_writes
from baocao.streams.exceptions import WorkerFatalError
from baocao.streams.liveness import WorkerState, arm_exit_watchdog
from baocao.streams.metrics import WorkerMetrics
from baocao.streams.records import BatchResult, OutputRecord, Overlay, SourceRecord, Tables
from baocao.streams.schedule import Schedule
from baocao.streams.step import RollupStep

__all__ = [
    "ENVIRONMENT_ERRORS",
    "CrashPolicy",
    "RollupAgent",
    "ScheduleTimer",
    "event_focus",
]

logger = logging.getLogger(__name__)


@contextmanager
def event_focus(stream: faust.Stream[Any], event: EventT[Any]) -> Iterator[None]:
    """Make ``event`` the stream's current event while the body reads or writes tables.

    Faust routes a table's changelog write, and its RocksDB lookup, by the partition of the
    *current event*. Inside a batch (``take_drained``, like Faust's ``take_events``) there is
    no current event (writes fail with "Cannot modify table key from outside of stream
    iteration") and a batch mixes partitions, so every table access must run in the focus of
    the event it is made for.
    """
    previous = stream.current_event
    stream._set_current_event(event)
    try:
        yield
    finally:
        stream._set_current_event(previous)


def _source_record(event: EventT[Any]) -> SourceRecord:
    message = event.message
    # Faust gives the Kafka timestamp in seconds (a float of the record's milliseconds).
    timestamp = message.timestamp
    return SourceRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=cast(bytes | None, message.key),
        value=cast(bytes | None, message.value),
        timestamp_ms=round(timestamp * 1000) if timestamp is not None else None,
    )


async def _publish(app: faust.App, outputs: Sequence[OutputRecord]) -> list[Awaitable[Any]]:
    """Start sending every output; return the futures that resolve on acknowledgement.

    Straight to the app's aiokafka producer (the one the changelogs use), in batches per
    partition (:mod:`baocao.streams.delivery`): Faust's ``topic.send`` adds a future and
    sensor calls per record, which halved the worker's throughput.
    """
    producer = app.producer._ensure_producer()  # type: ignore[attr-defined]
    return list(await send_in_batches(producer, outputs))


class CrashPolicy:
    """When the agent gives up, and how it leaves (the settings of ``BAOCAO_WORKER_*``)."""

    def __init__(
        self,
        *,
        state: WorkerState | None = None,
        max_consecutive_internal_errors: int = 50,
        fatal_exit_delay_seconds: float = 0.0,
        shutdown_timeout_seconds: float = 30.0,
        exit_watchdog: bool = True,
    ) -> None:
        self.state = state or WorkerState()
        self.max_consecutive_internal_errors = max_consecutive_internal_errors
        self.fatal_exit_delay_seconds = fatal_exit_delay_seconds
        self.shutdown_timeout_seconds = shutdown_timeout_seconds
        self.exit_watchdog = exit_watchdog


#: Failures of the worker's environment, not of an event: they crash the agent (the batch is
#: replayed after the restart) instead of setting events aside as internal errors.
ENVIRONMENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    MemoryError,
    faust.exceptions.FaustError,
)


class RollupAgent:
    """Moves batches between Faust and :class:`RollupStep`: the only Kafka-aware part."""

    def __init__(
        self,
        *,
        step: RollupStep,
        tables: Tables,
        app: faust.App,
        metrics: WorkerMetrics,
        batch_max: int,
        batch_within: float,
        registry: SchemaRegistryClient | None = None,
        registry_settings: SchemaRegistrySettings | None = None,
        crash: CrashPolicy | None = None,
    ) -> None:
        self._step = step
        self._tables = tables
        self._app = app
        self._metrics = metrics
        self._batch_max = batch_max
        self._batch_within = batch_within
        self._registry = registry
        self._registry_settings = registry_settings or SchemaRegistrySettings()
        self._crash = crash or CrashPolicy()
        self._consecutive_internal_errors = 0

    async def __call__(self, stream: faust.Stream[Any]) -> None:
        try:
            batches = take_drained(stream, self._batch_max, within=self._batch_within)
            async for events in batches:
                try:
                    await self.process(stream, events)
                except Exception:
                    _withhold_acknowledgement(events)
                    raise
                # Leaving the body lets take_drained acknowledge the batch's events.
        except Exception as exc:
            await self._give_up(exc)
            raise

    async def _give_up(self, exc: Exception) -> None:
        """Say why on /healthz, wait so it can be read, and make sure the process ends.

        The exception then crashes the agent (``CrashingSupervisor``), Faust stops the app
        and exits non-zero; should that hang, the watchdog ends the process.
        """
        why = f"{type(exc).__name__}: {exc}"
        self._crash.state.set_fatal(why)
        self._metrics.fatal.set(1)
        logger.critical("the roll-up stops: %s; the process will exit non-zero", why)
        if self._crash.exit_watchdog:
            arm_exit_watchdog(
                self._crash.fatal_exit_delay_seconds + self._crash.shutdown_timeout_seconds
            )
        if self._crash.fatal_exit_delay_seconds:
            await asyncio.sleep(self._crash.fatal_exit_delay_seconds)

    async def process(
        self, stream: faust.Stream[Any], events: Sequence[EventT[Any]]
    ) -> BatchResult:
        started = time.perf_counter()
        records = [_source_record(event) for event in events]
        await self._await_schemas(records)

        def focus(index: int) -> AbstractContextManager[None]:
            return event_focus(stream, events[index])

        result = self._run(stream, events, records, focus)
        stepped = time.perf_counter()
        await await_delivery(await _publish(self._app, result.outputs), what="output records")
        delivered = time.perf_counter()
        changelog = await store_writes(
            self._app,
            self._tables,
            result.writes,
            partition_of=lambda anchor: events[anchor].message.partition,
        )
        seconds = time.perf_counter() - started
        logger.debug(
            "batch phases: step %.3fs, %d outputs %.3fs, %d changelog writes %.3fs",
            stepped - started,
            len(result.outputs),
            delivered - stepped,
            changelog,
            started + seconds - delivered,
        )
        self._metrics.observe_batch(result, seconds=seconds)
        self._metrics.observe_lag(_consumer_lag(self._app, events))
        logger.info(
            "batch of %d events in %.3fs: %d accepted, %d duplicates, %d rejected, "
            "%d approvals, %d obligations; %d figures (%d changed) for %d province periods",
            result.events,
            seconds,
            result.accepted,
            result.duplicates,
            result.rejected,
            sum(result.approvals.values()),
            sum(result.obligations.values()),
            result.figures,
            result.changes,
            result.recomputed,
        )
        return result

    async def _await_schemas(self, records: Sequence[SourceRecord]) -> None:
        """Cache the registry schemas the batch needs, waiting out a registry outage (the
        batch waits; no valid report is refused because the registry is down)."""
        if self._registry is None:
            return
        ids = {i for r in records if (i := confluent_schema_id(r.value)) is not None}
        if not ids:
            return
        settings = self._registry_settings

        def on_retry(exc: SchemaRegistryUnavailableError, attempts: int, delay: float) -> None:
            self._metrics.registry_retries.inc()
            self._crash.state.set_registry_waiting(str(exc))
            logger.warning(
                "schema registry unavailable (attempt %d), retrying in %.1fs: %s",
                attempts,
                delay,
                exc,
            )

        try:
            await prefetch_schemas(
                self._registry,
                ids,
                initial_seconds=settings.retry_initial_seconds,
                max_seconds=settings.retry_max_seconds,
                on_retry=on_retry,
            )
        finally:
            self._crash.state.set_registry_waiting(None)

    def _run(
        self,
        stream: faust.Stream[Any],
        events: Sequence[EventT[Any]],
        records: Sequence[SourceRecord],
        focus: Any,
    ) -> BatchResult:
        try:
            result = self._step.run(records, tables=self._tables, focus=focus)
        except ENVIRONMENT_ERRORS:
            raise  # the disk, memory or Faust failing: not the events' fault; crash, replay
        except Exception:
            logger.warning(
                "a batch of %d events failed; running it again event by event to set the "
                "failing ones aside",
                len(records),
                exc_info=True,
            )
            return self._isolate(stream, events, records)
        self._consecutive_internal_errors = 0
        return result

    def _isolate(
        self,
        stream: faust.Stream[Any],
        events: Sequence[EventT[Any]],
        records: Sequence[SourceRecord],
    ) -> BatchResult:
        """The batch, run one event at a time over an overlay of the tables: what every
        event does alone, in order, with an ``internal_error`` dead letter for each event
        the step fails on. The same as the batch for every other event (a batch of one is
        a batch), and nothing is stored until the whole result was delivered."""
        overlay = Overlay(self._tables)
        merged = BatchResult()
        for index, record in enumerate(records):

            def focus(_: int, index: int = index) -> AbstractContextManager[None]:
                return event_focus(stream, events[index])

            try:
                part = self._step.run([record], tables=overlay, focus=focus)
            except ENVIRONMENT_ERRORS:
                raise
            except Exception as exc:
                part = self._internal_error(record, exc)
            else:
                self._consecutive_internal_errors = 0
            for write in part.writes:
                overlay.put(write.table, write.key, write.value, anchor=index)
            merged.merge(part)
        merged.writes = overlay.writes()
        return merged

    def _internal_error(self, record: SourceRecord, exc: Exception) -> BatchResult:
        """Set ``record`` aside as a dead letter; give up when it is one failure too many."""
        kind = type(exc).__name__
        self._consecutive_internal_errors += 1
        self._metrics.internal_errors.labels(exception=kind).inc()
        logger.error(
            "internal error on %s (%d in a row): set aside as a dead letter",
            record.rejection_id,
            self._consecutive_internal_errors,
            exc_info=exc,
        )
        limit = self._crash.max_consecutive_internal_errors
        if self._consecutive_internal_errors >= limit:
            raise WorkerFatalError(
                f"{limit} events in a row failed with internal errors (last: {kind}: {exc} "
                f"at {record.rejection_id}): a bug, not bad input"
            ) from exc
        return self._step.dead_letter(record, [reason(ReasonCode.INTERNAL_ERROR, kind)])


def _withhold_acknowledgement(events: Sequence[EventT[Any]]) -> None:
    """Keep a failed batch's offsets from being committed, so a restart reads it again.

    ``take_drained`` (like Faust's ``take_events``) acknowledges a batch's events when its
    generator closes, also after the body raised (at shutdown), and Faust then commits them:
    the batch would be lost. A message already marked acknowledged is skipped by Faust's
    offset bookkeeping.
    """
    for event in events:
        event.message.acked = True


class ScheduleTimer:
    """The timer body: announces due periods and alerts on missing reports.

    It waits until the worker owns partitions and has recovered its tables (an alert from a
    half-recovered ``latest`` would name communes that did report), reads ``latest`` without
    an event (Faust then looks the key up in every partition's store) and never writes a
    table. Provinces are checked one at a time, yielding to the event loop in between so
    the stream keeps flowing on a worker that owns many.
    """

    def __init__(
        self,
        *,
        schedule: Schedule,
        latest: faust.Table,
        app: faust.App,
        source_topic: str,
        obligations: faust.Table | None = None,
        partitions: int,
        metrics: WorkerMetrics,
    ) -> None:
        self._schedule = schedule
        self._latest = latest
        self._obligations = obligations
        self._app = app
        self._source_topic = source_topic
        self._partitions = partitions
        self._metrics = metrics

    def _ready(self) -> bool:
        app = self._app
        recovery = app.tables.recovery  # type: ignore[attr-defined]
        return bool(recovery.completed.is_set() and not app.rebalancing and not app.in_recovery)

    def _owned_partitions(self) -> set[int]:
        return {
            tp.partition
            for tp in self._app.assignor.assigned_actives()
            if tp.topic == self._source_topic
        }

    async def __call__(self) -> None:
        try:
            await self.tick()
        except Exception:  # a failed tick is retried at the next one; the stream goes on
            logger.exception("the schedule's tick failed; retrying at the next tick")

    async def tick(self) -> None:
        tick = self._schedule.start()
        provinces: list[str] = []
        if self._ready():
            provinces = self._schedule.provinces_of(
                self._owned_partitions(), partition_count=self._partitions
            )
        for province in provinces:
            self._schedule.check_province(tick, province, self._latest, self._obligations)
            await asyncio.sleep(0)
        # Then older periods, with what is left of the tick's budget.
        for province in provinces:
            self._schedule.backfill(tick, [province], self._latest, self._obligations)
            await asyncio.sleep(0)
        if not provinces:
            self._schedule.backfill(tick, [], self._latest)
        await await_delivery(await _publish(self._app, tick.outputs), what="schedule records")
        self._schedule.done(tick)
        self._metrics.observe_tick(announced=len(tick.announced), alerts=tick.alerts)
        if tick.budget <= 0:
            logger.info(
                "schedule at %s: this tick's budget (BAOCAO_DEADLINES_SCHEDULE_MAX_PER_TICK) is "
                "spent; older periods follow at the next ticks",
                tick.now.isoformat(timespec="seconds"),
            )
        if tick.outputs:
            logger.info(
                "schedule at %s: %d periods announced, %d missing-report alerts for %d provinces",
                tick.now.isoformat(timespec="seconds"),
                len(tick.announced),
                tick.alerts,
                len(provinces),
            )


def _consumer_lag(app: faust.App, events: Sequence[EventT[Any]]) -> dict[tuple[str, int], int]:
    """Per input partition of the batch: records between its last event and the partition's
    high watermark as the consumer last saw it (no extra request)."""
    last: dict[Any, int] = {}
    for event in events:
        last[event.message.tp] = max(last.get(event.message.tp, -1), event.message.offset)
    lags: dict[tuple[str, int], int] = {}
    for tp, offset in last.items():
        try:
            highwater = app.consumer.highwater(tp)
        except (KeyError, AssertionError, AttributeError):
            continue  # not fetched yet: no figure rather than a wrong one
        if highwater is not None:
            lags[(tp.topic, tp.partition)] = max(0, int(highwater) - offset - 1)
    return lags
