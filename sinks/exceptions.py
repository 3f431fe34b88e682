"""Errors of the ClickHouse side, one family, so ``baocao migrate`` and ``baocao sink`` can
tell an outage (retry) from a broken schema (stop and tell the operator).

The rule: bad *records* never raise out of the sink (they become ``sink_poison_messages``
rows); these errors are about the sink's environment and schema, with the context an
operator needs (which table, how many rows, which migration).
"""

from __future__ import annotations

from baocao.core.clickhouse import ClickHouseError, ClickHouseUnavailableError

__all__ = [
    "ClickHouseError",
    "ClickHouseUnavailableError",
    "MigrationChecksumError",
    "MigrationError",
    "MigrationFileError",
    "RowError",
    "SchemaNotReadyError",
    "SinkError",
    "SinkWriteError",
]


class SinkError(Exception):
    """Root of every error the ClickHouse migrations and sink raise."""


class MigrationError(SinkError):
    """A migration could not be applied; the statement and migration are in the message."""


class MigrationFileError(MigrationError):
    """The packaged migration files are inconsistent (bad name, duplicate version)."""


class MigrationChecksumError(MigrationError):
    """A migration already applied to the database differs from the packaged file.

    Applied migrations are immutable: a change must be a new, higher-numbered file.
    """


class SchemaNotReadyError(SinkError):
    """The database lacks migrations this code needs: run ``baocao migrate`` first."""


class SinkWriteError(SinkError):
    """An insert was refused; the batch is kept, retried, and its offsets not committed."""

    def __init__(self, message: str, *, table: str, rows: int) -> None:
        super().__init__(message)
        self.table = table
        self.rows = rows


class RowError(SinkError):
    """A decoded record cannot be stored in its table (for example a negative revision for
    an unsigned column). The sink stores the record as a poison message instead."""
