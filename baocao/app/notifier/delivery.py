"""One pass over the outbox: send what is due through its channel, then record the outcome.

The order is the promise: an entry is in the outbox before this runs, and marked ``sent``
only after its channel accepted it. A channel that is down holds its messages (backoff
doubling per attempt up to a cap); a refusal for good marks one message bounced.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from baocao.app.notifier.clock import Clock
from baocao.app.notifier.exceptions import ChannelDown, Refused
from baocao.app.notifier.outbox import Entry, Outbox
from baocao.app.notifier.quiet import in_quiet_hours
from baocao.core.settings import NotifierSettings

__all__ = ["Channel", "Delivered", "backoff", "deliver"]

logger = logging.getLogger(__name__)


class Channel(Protocol):
    def send(self, entry: Entry) -> None: ...
    def close(self) -> None: ...


@dataclass
class Delivered:
    """What one pass did."""

    sent: int = 0
    bounced: int = 0
    deferred: int = 0
    quiet: bool = False
    #: Seconds from each sent message's decision to its acceptance (the benchmark's delay).
    delays: list[float] = field(default_factory=list)


def backoff(attempts: int, settings: NotifierSettings) -> float:
    """Seconds before the next try of a message tried ``attempts`` times already."""
    return min(settings.retry_max_seconds, settings.retry_initial_seconds * 2 ** min(attempts, 30))


def deliver(
    outbox: Outbox,
    channels: Mapping[str, Channel],
    clock: Clock,
    settings: NotifierSettings,
    *,
    stop: threading.Event | None = None,
) -> Delivered:
    """Send the due messages of the outbox (at most ``batch_size``), until ``stop`` is set."""
    done = Delivered()
    if in_quiet_hours(clock.now(), settings.quiet_hours):
        done.quiet = True
        return done
    down: set[str] = set()
    pace = 1.0 / settings.max_messages_per_second if settings.max_messages_per_second else 0.0
    next_send = time.monotonic()
    try:
        for entry in outbox.due(clock.timestamp(), settings.batch_size):
            if stop is not None and stop.is_set():
                break
            if entry.channel in down:
                continue
            channel = channels.get(entry.channel)
            if channel is None:
                down.add(entry.channel)
                _hold(outbox, entry, f"no {entry.channel} channel configured", clock, settings)
                done.deferred += 1
                continue
            if pace:
                time.sleep(max(0.0, next_send - time.monotonic()))
                next_send = max(next_send + pace, time.monotonic())
            try:
                channel.send(entry)
            except Refused as exc:
                outbox.mark_bounced(entry.key, str(exc), now=clock.timestamp())
                logger.warning("bounced %s to %s: %s", entry.key, entry.address, exc)
                done.bounced += 1
            except ChannelDown as exc:
                down.add(entry.channel)
                _hold(outbox, entry, str(exc), clock, settings)
                logger.warning("%s is down, held its messages: %s", entry.channel, exc)
                done.deferred += 1
            else:
                sent_at = clock.timestamp()
                outbox.mark_sent(entry.key, now=sent_at)
                done.sent += 1
                done.delays.append(sent_at - entry.decided_at)
    finally:
        for channel in channels.values():
            channel.close()
    return done


def _hold(
    outbox: Outbox, entry: Entry, reason: str, clock: Clock, settings: NotifierSettings
) -> None:
    at = clock.timestamp() + backoff(entry.attempts, settings)
    outbox.retry_later(entry.key, reason, at=at)
    outbox.defer(entry.channel, until=at)
