"""Batches of a Faust stream that go as soon as the input is drained.

Faust's ``Stream.take_events(max, within)`` yields a batch when it holds ``max`` events or
when ``within`` seconds have passed: a lone report waits out the whole window, so at real
loads the window, not the work, set how fresh the figures were. :func:`take_drained` is the
same generator with one more way out: a batch goes as soon as no further event is waiting in
the stream's channel, so ``max`` and ``within`` only cap a batch under load (why, and why
the channel's queue is the signal: docs/worker.md, "Batches").

Acknowledgement is ``take_events``'s: a batch's events are acknowledged when the body of the
``async for`` is left for the next batch (or the generator closes), and an event already
marked acknowledged (``RollupAgent``'s withheld batch) is skipped by Faust's bookkeeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import faust
from faust.types import ChannelT, EventT
from mode.utils.futures import notify

__all__ = ["take_drained"]


async def take_drained(
    stream: faust.Stream[Any], max_: int, *, within: float
) -> AsyncIterator[Sequence[EventT[Any]]]:
    """Yield the stream's events in batches of at most ``max_``: a batch goes when it is
    full, when no further event waits in the channel (drained), or ``within`` seconds after
    the previous one went, whichever comes first.

    Like ``take_events``, it installs a processor that fills the batch while the stream is
    consumed passively in the background, and holds the stream while a batch is processed.
    """
    events: list[EventT[Any]] = []
    ready = asyncio.Event()  # the batch is full or the input drained
    consumed = asyncio.Event()  # a full batch was handed out: the processor may go on
    consuming: asyncio.Future[None] | None = None  # set while the body processes a batch
    channel = cast(ChannelT[Any], stream.channel)
    queue = channel.queue  # the fetched events the stream has not taken yet
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
        if len(events) >= max_:
            ready.set()
            consumed.clear()
            await stream.wait(consumed)  # type: ignore[arg-type]
        elif queue.empty():
            # Nothing more fetched and waiting: this batch is all there is for now.
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
