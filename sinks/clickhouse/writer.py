"""Batches rows per table and writes each table's rows of a batch in a single insert.

ClickHouse wants few, large inserts (each one makes a part on disk), so the sink collects a
whole Kafka batch before writing. :meth:`BatchWriter.flush` writes the tables one after the
other; a table whose insert succeeded is not written again when a later table fails and the
flush is retried, so a retry only re-sends what is missing. Re-sending would be harmless
anyway (rows are replaced by key and version), but it would grow the tables until a merge.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clickhouse_driver import Client

from baocao.core.clickhouse import TRANSIENT_ERRORS, describe_error
from baocao.sinks.clickhouse.rows import TABLES, Row, Table
from baocao.sinks.exceptions import SinkWriteError

__all__ = ["BatchWriter", "FlushResult", "columnar"]

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


class BatchWriter:
    """Collects rows with :meth:`add`; :meth:`flush` writes them, one insert per table."""

    def __init__(self, client: Client, *, tables: Sequence[Table] = TABLES) -> None:
        self._client = client
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
        """Write every pending row; raise :class:`SinkWriteError` at the first refused insert.

        After an error the rows of the failed table and of the tables after it stay pending,
        and the client is disconnected (the driver reconnects on the next query), so calling
        ``flush`` again retries exactly what is missing.
        """
        if self._started is None:
            self._started = time.monotonic()
        for name in sorted(self._pending, key=self._order.__getitem__):
            rows = self._pending[name]
            if rows:
                self._insert(self._tables[name], rows)
                self._written[name] += len(rows)
            del self._pending[name]
        result = FlushResult(dict(self._written), time.monotonic() - self._started)
        self._written.clear()
        self._started = None
        return result

    def _insert(self, table: Table, rows: list[Row]) -> None:
        names = ", ".join(table.columns)
        try:
            self._client.execute(
                f"INSERT INTO {table.name} ({names}) VALUES", columnar(table, rows), columnar=True
            )
        except TRANSIENT_ERRORS as exc:
            self._client.disconnect()
            raise SinkWriteError(
                f"insert into {table.name} failed ({len(rows)} rows): {describe_error(exc)}",
                table=table.name,
                rows=len(rows),
            ) from exc
