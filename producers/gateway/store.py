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

import sqlite3
from pathlib import Path

from baocao.core.logins import LOGIN_SCHEMA
from baocao.core.sqlite_file import SqliteFile
from baocao.producers.gateway.exceptions import TokenStoreError

__all__ = ["SCHEMA_VERSION", "GatewayStore"]


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


class GatewayStore(SqliteFile):
    """The SQLite file (:class:`~baocao.core.sqlite_file.SqliteFile`: private, one connection
    per thread; the gateway uses it from its event loop and from the threads of its GET routes)."""

    def __init__(self, path: Path, *, busy_timeout: float = 10.0) -> None:
        super().__init__(path, busy_timeout=busy_timeout)
        self._opened = False

    def open(self) -> GatewayStore:
        """Create the file and its schema if needed; safe in several processes at once."""
        if self._opened:
            return self
        try:
            self.create()
            with self.transaction() as tx:
                version = int(tx.execute("PRAGMA user_version").fetchone()[0])
                self._migrate(tx, version)
        except (sqlite3.Error, OSError) as exc:
            raise TokenStoreError(f"cannot open the gateway database {self.path}: {exc}") from exc
        self._opened = True
        return self

    def close(self) -> None:
        super().close()
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
