"""The gateway's own small database: API tokens (hashes only), the submissions it published,
and the clerks' logins and sessions (:mod:`baocao.core.logins`; hashes only).

SQLite (standard library) in WAL mode, one file from ``BAOCAO_GATEWAY_DB_PATH``. Why SQLite:
the data is tiny (a token per commune, a row per submission), must survive restarts, and must
be shared by ``baocao tokens`` and every gateway process *on one host*; WAL lets readers run
while one writer commits, and ``BEGIN IMMEDIATE`` makes the claim of a report id atomic across
processes. The trade-off: it is one host's file. Gateways on several hosts would need a shared
server database (PostgreSQL) behind the same two classes (:class:`~baocao.producers.gateway.tokens.
TokenStore`, :class:`~baocao.producers.gateway.submissions.SubmissionLog`); nothing else changes.

``synchronous=NORMAL``: a commit survives a crash of the process, and only a power loss may
lose the last commits. That is acceptable here: a lost submission row means a resend is
published a second time, which the stream treats as the exact duplicate it is.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from baocao.core.logins import LOGIN_SCHEMA
from baocao.producers.gateway.exceptions import TokenStoreError

__all__ = ["SCHEMA_VERSION", "GatewayStore"]

logger = logging.getLogger(__name__)

#: ``PRAGMA user_version`` of the schema below; a later change adds a step in :meth:`_migrate`.
SCHEMA_VERSION = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    token_id    TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    scope       TEXT NOT NULL CHECK (scope IN ('commune', 'province')),
    code        TEXT NOT NULL,
    label       TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE TABLE IF NOT EXISTS submissions (
    report_id       TEXT NOT NULL,
    body_digest     TEXT NOT NULL,
    content_digest  TEXT NOT NULL,
    commune_code    TEXT NOT NULL,
    province_code   TEXT NOT NULL,
    period          TEXT NOT NULL,
    revision        INTEGER NOT NULL,
    token_id        TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('publishing', 'published')),
    received_at     TEXT NOT NULL,
    claimed_at      REAL NOT NULL,
    published_at    TEXT,
    kafka_partition INTEGER,
    kafka_offset    INTEGER,
    response        TEXT,
    PRIMARY KEY (commune_code, report_id)
);
CREATE INDEX IF NOT EXISTS submissions_by_commune ON submissions (commune_code, received_at);
"""


class GatewayStore:
    """The SQLite file, with one connection per thread (a connection is not thread-safe;
    the gateway uses the store from its event loop and from the threads of its GET routes)."""

    def __init__(self, path: Path, *, busy_timeout: float = 10.0) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._opened = False

    def open(self) -> GatewayStore:
        """Create the file and its schema if needed; safe in several processes at once."""
        if self._opened:
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Token hashes and every submission: the user's alone, from the first byte (the
            # WAL and shared-memory files SQLite creates next to it take the file's mode).
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            self.path.chmod(0o600)
            connection = self.connection()
            connection.execute("PRAGMA journal_mode=WAL")
            with self.transaction() as tx:
                version = int(tx.execute("PRAGMA user_version").fetchone()[0])
                self._migrate(tx, version)
        except (sqlite3.Error, OSError) as exc:
            raise TokenStoreError(f"cannot open the gateway database {self.path}: {exc}") from exc
        self._opened = True
        return self

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
        """``BEGIN IMMEDIATE`` ... ``COMMIT``: takes the write lock up front, so a
        read-then-write (the claim of a report id) cannot interleave with another process.

        Every write goes through here. The threads of one process queue on a Python lock
        first: SQLite's own wait for a busy database sleeps in steps of up to 100 ms, which
        under concurrent requests costs far more than the writes themselves."""
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
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            try:
                connection.close()
            except sqlite3.Error as exc:  # closing must not hide why we are shutting down
                logger.warning("closing a gateway database connection failed: %s", exc)
        self._local = threading.local()
        self._opened = False

    def __enter__(self) -> GatewayStore:
        return self.open()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @staticmethod
    def _migrate(tx: sqlite3.Connection, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise TokenStoreError(
                f"the gateway database has schema version {version}, newer than this "
                f"baocao ({SCHEMA_VERSION}); upgrade baocao"
            )
        if version == 1:
            # Version 1 keyed submissions by report_id alone: a commune could take another
            # commune's (predictable) report id first. Re-key by (commune, report id).
            tx.execute("ALTER TABLE submissions RENAME TO submissions_v1")
            tx.execute("DROP INDEX IF EXISTS submissions_by_commune")
        if version < SCHEMA_VERSION:
            # Version 3 adds the clerks' logins and sessions (baocao.core.logins).
            for statement in (_SCHEMA + LOGIN_SCHEMA).split(";"):
                if statement.strip():
                    tx.execute(statement)
        if version == 1:
            tx.execute("INSERT INTO submissions SELECT * FROM submissions_v1")
            tx.execute("DROP TABLE submissions_v1")
        tx.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
