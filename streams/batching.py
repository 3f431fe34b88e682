"""Batches of a Faust stream that go as soon as the input is drained.

Faust's ``Stream.take_events(max, within)`` yields a batch when it holds ``max`` events or
when ``within`` seconds have passed: a lone report waits out the whole window, so at real
loads the window, not the work, set how fresh the figures were. :func:`take_drained` is the
same generator with one more way out: a batch goes as soon as the input is drained (no
further event waits in the stream's channel, and the consumer saw nothing more on the
broker), so ``max`` and ``within`` only cap a batch under load (why these two signals:
docs/worker.md, "When a batch goes").

Acknowledgement is ``take_events``'s: a batch's events are acknowledged when the body of the
``async for`` is left for the next batch (or the generator closes), and an event already
marked acknowledged (``RollupAgent``'s withheld batch) is skipped by Faust's bookkeeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import faust
from faust.types import TP, ChannelT, ConsumerT, EventT
from mode.utils.futures import notify

__all__ = ["take_drained"]


async def take_drained(
    stream: faust.Stream[Any], max_: int, *, within: float
) -> AsyncIterator[Sequence[EventT[Any]]]:
    """Yield the stream's events in batches of at most ``max_``: a batch goes when it is
    full, when the input is drained (no further event waits in the channel and no partition
    read has records below its high watermark), or ``within`` seconds after the previous one
    went, whichever comes first.

    Like ``take_events``, it installs a processor that fills the batch while the stream is
    consumed passively in the background, and holds the stream while a batch is processed.
    """
    events: list[EventT[Any]] = []
    ready = asyncio.Event()  # the batch is full or the input drained
    consumed = asyncio.Event()  # a full batch was handed out: the processor may go on
    consuming: asyncio.Future[None] | None = None  # set while the body processes a batch
    channel = cast(ChannelT[Any], stream.channel)
    queue = channel.queue  # the fetched events the stream has not taken yet
    read: dict[TP, int] = {}  # per input partition, the offset of the last event taken
    stream_enable_acks = stream.enable_acks

    async def add_to_batch(value: Any) -> Any:
        nonlocal consuming
        if consuming is not None:
            try:
                await consuming
            finally:
                consuming = None
        event = stream.current_event
        if event is None:
            raise RuntimeError("take_drained found no current event")
        events.append(event)
        read[event.message.tp] = event.message.offset
        if len(events) >= max_:
            ready.set()
            consumed.clear()
            await stream.wait(consumed)  # type: ignore[arg-type]
        elif queue.empty() and not _behind(stream.app.consumer, read):
            # Nothing fetched is waiting, nothing more is on the broker: this is all for now.
            ready.set()
        return value

    stream.enable_acks = False  # the events are acknowledged here, after their batch
    stream.add_processor(add_to_batch)
    stream._enable_passive(aiter(channel))  # consume the stream in the background
    try:
        while not stream.should_stop:
            await stream.wait_for_stopped(ready, timeout=within)  # type: ignore[arg-type]
            if not events:
                ready.clear()
                continue
            consuming = stream.loop.create_future()
            try:
                yield list(events)
            finally:
                events_done = list(events)
                events.clear()
                ready.clear()
                for event in events_done:
                    await stream.ack(event)
                notify(consuming)
                consumed.set()
    finally:
        stream.enable_acks = stream_enable_acks
        stream._processors.remove(add_to_batch)


def _behind(consumer: ConsumerT, read: dict[TP, int]) -> bool:
    """Whether a partition read has records below the high watermark the consumer last saw
    (fetched but not yet handed to the stream, or not fetched yet): a backlog, not a trickle."""
    for tp, offset in read.items():
        try:
            highwater = consumer.highwater(tp)
        except (KeyError, AssertionError, AttributeError):
            continue  # not assigned (any more) or not fetched yet: nothing known
        if highwater is not None and highwater > offset + 1:
            return True
    return False
