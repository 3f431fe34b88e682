"""One batch on its way into ClickHouse, inserted in a thread of its own.

The sink's thread must go on polling Kafka while an insert is slow or the server hangs (a
frozen ClickHouse holds a socket read for minutes): a consumer that stops polling for
``max.poll.interval.ms`` is thrown out of its group. So each insert attempt runs in a daemon
thread; the sink meanwhile polls (its partitions paused when the wait is long) and collects
the result. The same thread lets the sink decode the next batch while this one is written.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from baocao.sinks.clickhouse.rows import MessageRow
from baocao.sinks.clickhouse.writer import BatchWriter, FlushResult

__all__ = ["Flight"]


@dataclass
class Flight:
    """A staged batch: its Kafka records (whose offsets it commits once written), where each
    went, and the writer holding its rows. :meth:`launch` starts one insert attempt."""

    records: Sequence[Any]
    placed: list[MessageRow]
    writer: BatchWriter
    #: When the last successful attempt finished (the freshness metric's "stored" time).
    stored_at: datetime | None = None
    _done: threading.Event = field(default_factory=threading.Event, repr=False)
    _result: FlushResult | None = field(default=None, repr=False)
    _error: BaseException | None = field(default=None, repr=False)
    _started: float = field(default=0.0, repr=False)

    def launch(self) -> None:
        """Start one attempt to write every pending row (a retry re-sends only what an
        earlier attempt did not write: see :class:`BatchWriter`)."""
        self._done.clear()
        self._result = self._error = None
        self._started = time.monotonic()
        threading.Thread(target=self._attempt, name="sink-insert", daemon=True).start()

    def _attempt(self) -> None:
        try:
            self._result = self.writer.flush()
            self.stored_at = datetime.now(UTC)
        except BaseException as exc:  # handed to the sink's thread by result()
            self._error = exc
        finally:
            self._done.set()

    def wait(self, timeout: float) -> bool:
        """Whether the attempt has finished, waiting up to ``timeout`` seconds."""
        return self._done.wait(timeout)

    @property
    def waited(self) -> float:
        """Seconds since the current attempt started."""
        return time.monotonic() - self._started

    def result(self) -> FlushResult:
        """The finished attempt's result; its exception re-raised when it failed."""
        if not self._done.is_set():
            raise RuntimeError("the insert attempt has not finished")
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result
