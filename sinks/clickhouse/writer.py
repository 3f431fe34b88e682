"""A batch's rows, written one insert per table, each attempt in a thread of its own.

ClickHouse wants few, large inserts, so a whole Kafka batch is written at once, its tables'
inserts side by side (each table has a client of its own: a batch then takes as long as its
slowest insert, not the sum of them). The rules: a retried flush re-sends only the tables not
yet written, and the insert never runs in the sink's thread, which must keep polling Kafka to
stay in its group (docs/clickhouse.md, "The sink").
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from clickhouse_driver import Client

from baocao.core.clickhouse import TRANSIENT_ERRORS, connect, describe_error
from baocao.core.settings import ClickHouseSettings
from baocao.sinks.clickhouse.rows.columns import Row, Table
from baocao.sinks.clickhouse.rows.routing import MessageRow
from baocao.sinks.clickhouse.rows.tables import TABLES
from baocao.sinks.exceptions import SinkWriteError

__all__ = ["BatchWriter", "Flight", "FlushResult", "TableClients", "columnar"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FlushResult:
    """Rows written per table by one flush (across its retries), and how long it took."""

    rows: dict[str, int]
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def columnar(table: Table, rows: Sequence[Row]) -> list[list[Any]]:
    """``rows`` of ``table`` as its columns, each encoded as its declaration says: the
    driver then sends each column whole instead of taking every row apart."""
    columns = [list(values) for values in zip(*rows, strict=True)]
    for index, column in enumerate(table.declared):
        if column.encode is not None:
            columns[index] = column.encode(columns[index])
    return columns


class TableClients:
    """One ClickHouse client per table, made on first use and kept for the next batches
    (clickhouse-driver's clients are not thread-safe, and a batch inserts its tables at once)."""

    def __init__(self, settings: ClickHouseSettings) -> None:
        self._settings = settings
        self._clients: dict[str, Client] = {}

    def __getitem__(self, table: str) -> Client:
        client = self._clients.get(table)
        if client is None:
            client = self._clients[table] = connect(self._settings)
        return client

    def disconnect(self) -> None:
        for client in self._clients.values():
            client.disconnect()


class BatchWriter:
    """Collects rows with :meth:`add`; :meth:`flush` writes them, one insert per table."""

    def __init__(self, clients: TableClients, *, tables: Sequence[Table] = TABLES) -> None:
        self._clients = clients
        self._order = {table.name: index for index, table in enumerate(tables)}
        self._tables = {table.name: table for table in tables}
        self._pending: dict[str, list[Row]] = {}
        self._written: Counter[str] = Counter()
        self._started: float | None = None

    def add(self, table: Table, row: Row) -> None:
        if table.name not in self._tables:
            raise ValueError(f"table {table.name!r} is not one this writer writes")
        self._pending.setdefault(table.name, []).append(row)

    @property
    def pending(self) -> dict[str, int]:
        """Rows waiting per table."""
        return {name: len(rows) for name, rows in self._pending.items() if rows}

    def __len__(self) -> int:
        return sum(len(rows) for rows in self._pending.values())

    def flush(self) -> FlushResult:
        """Write every pending row, the tables side by side; raise the
        :class:`SinkWriteError` of the first table (in table order) whose insert was refused.

        After an error the rows of every refused table stay pending, and its client is
        disconnected (the driver reconnects on the next query), so calling ``flush`` again
        retries exactly what is missing.
        """
        if self._started is None:
            self._started = time.monotonic()
        names = sorted(
            (n for n, rows in self._pending.items() if rows), key=self._order.__getitem__
        )
        with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
            inserts = [(name, pool.submit(self._insert, name)) for name in names]
        refused: SinkWriteError | None = None
        for name, insert in inserts:
            try:
                insert.result()
            except SinkWriteError as exc:
                refused = refused or exc
                continue
            self._written[name] += len(self._pending.pop(name))
        if refused is not None:
            raise refused
        self._pending.clear()  # tables given no row
        result = FlushResult(dict(self._written), time.monotonic() - self._started)
        self._written.clear()
        self._started = None
        return result

    def _insert(self, name: str) -> None:
        table, rows, client = self._tables[name], self._pending[name], self._clients[name]
        names = ", ".join(table.columns)
        try:
            client.execute(
                f"INSERT INTO {table.name} ({names}) VALUES", columnar(table, rows), columnar=True
            )
        except TRANSIENT_ERRORS as exc:
            client.disconnect()
            raise SinkWriteError(
                f"insert into {table.name} failed ({len(rows)} rows): {describe_error(exc)}",
                table=table.name,
                rows=len(rows),
            ) from exc


@dataclass
class Flight:
    """A staged batch: its Kafka records (whose offsets it commits once written), where each
    went, and the writer holding its rows. :meth:`launch` starts one insert attempt in a
    daemon thread (a frozen ClickHouse can hold a socket read for minutes); the sink's
    thread polls meanwhile and collects the outcome with :meth:`wait` and :meth:`result`."""

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
