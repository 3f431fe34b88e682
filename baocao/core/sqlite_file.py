"""A private SQLite file shared by threads: the gateway's logins and submissions, the
dashboard's officers and contacts. Written once because every such file needs the same care:

- it is the user's alone from its first byte (mode 0600; the WAL and shared-memory files
  SQLite creates next to it take the file's mode), in a folder of mode 0700;
- one connection per thread (a connection is not thread-safe), in WAL mode, autocommit;
- every write goes through :meth:`SqliteFile.transaction`: ``BEGIN IMMEDIATE`` takes the
  write lock up front, so a read-then-write cannot interleave with another process, and the
  threads of one process queue on a Python lock first (SQLite's own busy wait sleeps in steps
  of up to 100 ms, which under concurrent requests costs far more than the writes).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["SqliteFile"]

logger = logging.getLogger(__name__)


class SqliteFile:
    def __init__(self, path: Path, *, busy_timeout: float = 10.0) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()

    def create(self) -> None:
        """Create the file (private) if needed and switch it to WAL; raises ``sqlite3.Error``
        or ``OSError``, which the owner turns into its own error with its own words."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        self.path.chmod(0o600)
        self.connection().execute("PRAGMA journal_mode=WAL")

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (autocommit; :meth:`transaction` groups statements)."""
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=False,  # only so close() may run on another thread
            )
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on any exception)."""
        with self._write_lock:
            connection = self.connection()
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def close(self) -> None:
        """Close every thread's connection; a later call opens new ones."""
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            try:
                connection.close()
            except sqlite3.Error as exc:  # closing must not hide why we are shutting down
                logger.warning("closing a connection to %s failed: %s", self.path, exc)
        self._local = threading.local()
