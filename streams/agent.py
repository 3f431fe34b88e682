"""The Faust agent of the roll-up worker: moves batches between Kafka and the pure step.

Per batch, in this order:

1. run :class:`~streams.step.RollupStep` over the events and the two tables (every table
   access in the focus of the event it is made for, see :func:`event_focus`);
2. wait until Kafka acknowledged every changelog write of the batch: the state is durable;
3. publish the batch's outputs (accepted reports, dead letters, figures) and wait until Kafka
   acknowledged every one;
4. hand the batch back to ``take_events``, which acknowledges its events; Faust commits only
   acknowledged offsets.

Nothing is lost: an event's offset is committed only after its state and outputs are durable,
so a crash anywhere before that replays the event. Nothing is counted twice: figures are
recomputed from the latest revision of each commune, never incremented, and a replayed event
finds its own revision already stored (a DUPLICATE), which re-emits the same absolute records.
Step 2 before step 3 makes every published version number durable first, so versions keep
growing across crashes and "highest version wins" downstream stays right.

One visible trace of a replay remains: an event accepted before the crash and superseded by a
later revision of the same batch window comes back as STALE and gets a dead letter (with the
same ``rejection_id`` on every replay), which is true by then but was not at first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import faust
from faust.types import EventT
from faust.types.tuples import FutureMessage

from streams.exceptions import DeliveryError
from streams.metrics import WorkerMetrics
from streams.step import BatchResult, OutputRecord, RollupStep, SourceRecord

__all__ = ["ChangelogTrackingTable", "RollupAgent", "event_focus"]

logger = logging.getLogger(__name__)


class ChangelogTrackingTable(faust.Table):
    """A Faust table that keeps the futures of its changelog writes until they are drained.

    Faust sends a table's changelog through a buffer of its own and gives no way to wait for
    it (``producer.flush()`` gives up on that buffer after 0.1 s of quiet). The agent needs to
    know the state is durable before it publishes anything computed from it, so the table
    hands its writes over.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending_changelog: list[FutureMessage] = []

    def send_changelog(self, *args: Any, **kwargs: Any) -> FutureMessage:
        future = cast(FutureMessage, super().send_changelog(*args, **kwargs))
        self._pending_changelog.append(future)
        return future

    def drain_changelog(self) -> list[FutureMessage]:
        """The changelog writes made since the last call (each resolves once Kafka has it)."""
        pending, self._pending_changelog = self._pending_changelog, []
        return pending


@contextmanager
def event_focus(stream: faust.Stream[Any], event: EventT[Any]) -> Iterator[None]:
    """Make ``event`` the stream's current event while the body reads or writes tables.

    Faust routes a table's changelog write, and its RocksDB lookup, by the partition of the
    *current event*. Inside a ``take_events`` batch there is no current event (writes fail with
    "Cannot modify table key from outside of stream iteration") and a batch mixes partitions,
    so every table access must run in the focus of the event it is made for.
    """
    previous = stream.current_event
    stream._set_current_event(event)
    try:
        yield
    finally:
        stream._set_current_event(previous)


def _source_record(event: EventT[Any]) -> SourceRecord:
    message = event.message
    return SourceRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=cast(bytes | None, message.key),
        value=cast(bytes | None, message.value),
    )


async def _await_all(futures: Sequence[Awaitable[Any]], *, what: str) -> None:
    """Wait for every write; raise :class:`DeliveryError` if any failed (after all settled)."""
    if not futures:
        return
    results = await asyncio.gather(*futures, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise DeliveryError(
            f"Kafka refused {len(errors)} of {len(results)} {what} (first: {errors[0]!r}); "
            "the batch is not acknowledged and will be processed again",
            failed=len(errors),
            total=len(results),
        ) from errors[0]


class RollupAgent:
    """Moves batches between Faust and :class:`RollupStep`: the only Kafka-aware part."""

    def __init__(
        self,
        *,
        step: RollupStep,
        latest: ChangelogTrackingTable,
        versions: ChangelogTrackingTable,
        app: faust.App,
        metrics: WorkerMetrics,
        batch_max: int,
        batch_within: float,
    ) -> None:
        self._step = step
        self._latest = latest
        self._versions = versions
        self._app = app
        self._metrics = metrics
        self._batch_max = batch_max
        self._batch_within = batch_within

    async def __call__(self, stream: faust.Stream[Any]) -> None:
        async for events in stream.take_events(self._batch_max, within=self._batch_within):
            await self.process(stream, events)
            # Leaving the body lets take_events acknowledge the batch's events.

    async def process(
        self, stream: faust.Stream[Any], events: Sequence[EventT[Any]]
    ) -> BatchResult:
        started = time.perf_counter()
        records = [_source_record(event) for event in events]
        result = self._step.run(
            records,
            latest=self._latest,
            versions=self._versions,
            focus=lambda index: event_focus(stream, events[index]),
        )
        stepped = time.perf_counter()
        changelog = self._latest.drain_changelog() + self._versions.drain_changelog()
        await _await_all(changelog, what="table changelog writes")
        durable = time.perf_counter()
        await _await_all(await self._publish(result.outputs), what="output records")
        seconds = time.perf_counter() - started
        logger.debug(
            "batch phases: step %.3fs, %d changelog writes %.3fs, %d outputs %.3fs",
            stepped - started,
            len(changelog),
            durable - stepped,
            len(result.outputs),
            started + seconds - durable,
        )
        self._metrics.observe_batch(result, seconds=seconds)
        logger.info(
            "batch of %d events in %.3fs: %d accepted, %d duplicates, %d rejected; "
            "%d figures for %d province periods",
            result.events,
            seconds,
            result.accepted,
            result.duplicates,
            result.rejected,
            result.figures,
            result.recomputed,
        )
        return result

    async def _publish(self, outputs: Sequence[OutputRecord]) -> list[Awaitable[Any]]:
        """Start sending every output; return the futures that resolve on acknowledgement.

        Straight to the app's producer (the one the changelogs use): Faust's ``topic.send``
        adds a future and sensor calls per record, which halved the worker's throughput.
        """
        pending: list[Awaitable[Any]] = []
        producer = self._app.producer
        for output in outputs:
            pending.append(
                await producer.send(
                    output.topic, output.key.encode(), output.value, None, None, None
                )
            )
        return pending
