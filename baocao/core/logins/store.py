"""Logins and their sessions in SQLite: the password's Argon2 hash, never the password, and
the SHA-256 of each session id, never the id.

The store runs on a database the door owns (the gateway's SQLite file): :data:`LOGIN_SCHEMA`
is applied by that database's own migration, and anything with ``connection()`` and
``transaction()`` (:class:`LoginDatabase`) will do. A session id is 256 random bits, so a
plain hash of it cannot be reversed; a stolen copy of the database holds no usable session.
Disabling a login or resetting its password ends its sessions at once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["LOGIN_SCHEMA", "Login", "LoginDatabase", "LoginError", "LoginStore", "Session"]

LOGIN_SCHEMA = """
CREATE TABLE IF NOT EXISTS logins (
    login_id         TEXT PRIMARY KEY,
    realm            TEXT NOT NULL,
    code             TEXT NOT NULL,
    label            TEXT NOT NULL DEFAULT '',
    password_hash    TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    password_set_at  TEXT NOT NULL,
    disabled_at      TEXT
);
CREATE INDEX IF NOT EXISTS logins_by_place ON logins (realm, code);
CREATE TABLE IF NOT EXISTS login_sessions (
    session_hash  TEXT PRIMARY KEY,
    login_id      TEXT NOT NULL REFERENCES logins (login_id),
    created_at    REAL NOT NULL,
    expires_at    REAL NOT NULL,
    ended_at      REAL
);
CREATE INDEX IF NOT EXISTS login_sessions_by_login ON login_sessions (login_id);
"""

_LOGIN_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
_SESSION_BYTES = 32


class LoginError(ValueError):
    """A login that cannot be added or changed (taken name, unknown login, bad name)."""


class LoginDatabase(Protocol):
    def connection(self) -> sqlite3.Connection: ...
    def transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...


@dataclass(frozen=True, slots=True)
class Login:
    login_id: str
    #: Whose login: ``commune`` (a clerk) or ``province`` (an officer, next).
    realm: str
    #: The commune's or province's code.
    code: str
    label: str
    created_at: str
    password_set_at: str
    disabled_at: str | None

    @property
    def active(self) -> bool:
        return self.disabled_at is None


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in login; ``token`` (the cookie's value) only when just created."""

    login: Login
    expires_at: float
    token: str = ""


def hash_session(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", errors="surrogatepass")).hexdigest()


def _now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


_LOGIN_COLUMNS = "login_id, realm, code, label, created_at, password_set_at, disabled_at"
_JOINED_LOGIN_COLUMNS = ", ".join(f"l.{c.strip()}" for c in _LOGIN_COLUMNS.split(","))


class LoginStore:
    def __init__(self, db: LoginDatabase, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    # -- logins --------------------------------------------------------------------------

    def add(
        self, login_id: str, *, realm: str, code: str, password_hash: str, label: str = ""
    ) -> Login:
        login_id = login_id.strip().lower()
        if not _LOGIN_ID.match(login_id):
            raise LoginError(
                f"{login_id!r} is not a login name: 3-64 lowercase letters, digits, '.', '_' or '-'"
            )
        now = _now_text()
        with self._db.transaction() as tx:
            if tx.execute("SELECT 1 FROM logins WHERE login_id = ?", (login_id,)).fetchone():
                raise LoginError(f"the login {login_id!r} exists already")
            tx.execute(
                "INSERT INTO logins (login_id, realm, code, label, password_hash, created_at,"
                " password_set_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (login_id, realm, code, label, password_hash, now, now),
            )
        return self._require(login_id)

    def next_free_id(self, stem: str) -> str:
        """``stem-1``, ``stem-2``...: the first name not taken."""
        taken = {
            row[0]
            for row in self._db.connection().execute(
                "SELECT login_id FROM logins WHERE login_id LIKE ?", (f"{stem}-%",)
            )
        }
        number = 1
        while f"{stem}-{number}" in taken:
            number += 1
        return f"{stem}-{number}"

    def get(self, login_id: str) -> Login | None:
        row = (
            self._db.connection()
            .execute(f"SELECT {_LOGIN_COLUMNS} FROM logins WHERE login_id = ?", (login_id,))
            .fetchone()
        )
        return None if row is None else _login(row)

    def password_hash(self, login_id: str) -> tuple[Login, str] | None:
        """The active login and its stored hash (``None`` when unknown or disabled)."""
        row = (
            self._db.connection()
            .execute(
                f"SELECT {_LOGIN_COLUMNS}, password_hash FROM logins WHERE login_id = ?",
                (login_id.strip().lower(),),
            )
            .fetchone()
        )
        if row is None or row["disabled_at"] is not None:
            return None
        return _login(row), str(row["password_hash"])

    def of_place(self, realm: str, code: str | None = None) -> list[Login]:
        sql = f"SELECT {_LOGIN_COLUMNS} FROM logins WHERE realm = ?"
        params: list[str] = [realm]
        if code is not None:
            sql += " AND code = ?"
            params.append(code)
        rows = self._db.connection().execute(sql + " ORDER BY code, login_id", params)
        return [_login(row) for row in rows]

    def set_password(self, login_id: str, password_hash: str, *, enable: bool = False) -> Login:
        """A new password (a reset, or a rehash on sign-in); a reset ends every session."""
        with self._db.transaction() as tx:
            tx.execute(
                "UPDATE logins SET password_hash = ?, password_set_at = ?"
                + (", disabled_at = NULL" if enable else "")
                + " WHERE login_id = ?",
                (password_hash, _now_text(), login_id),
            )
            self._end_sessions(tx, login_id)
        return self._require(login_id)

    def rehash(self, login_id: str, password_hash: str) -> None:
        """Store a stronger hash of the same password (sessions stay)."""
        with self._db.transaction() as tx:
            tx.execute(
                "UPDATE logins SET password_hash = ? WHERE login_id = ?",
                (password_hash, login_id),
            )

    def disable(self, login_id: str) -> Login:
        """Disable a login and end its sessions at once (disabling again keeps the time)."""
        with self._db.transaction() as tx:
            tx.execute(
                "UPDATE logins SET disabled_at = ? WHERE login_id = ? AND disabled_at IS NULL",
                (_now_text(), login_id),
            )
            self._end_sessions(tx, login_id)
        return self._require(login_id)

    # -- sessions ------------------------------------------------------------------------

    def open_session(self, login: Login, *, lifetime: float) -> Session:
        token = secrets.token_urlsafe(_SESSION_BYTES)
        now = self._clock()
        with self._db.transaction() as tx:
            tx.execute(
                "INSERT INTO login_sessions (session_hash, login_id, created_at, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (hash_session(token), login.login_id, now, now + lifetime),
            )
            # Sessions long over are dropped as new ones open: the table stays small.
            tx.execute("DELETE FROM login_sessions WHERE expires_at < ?", (now - 86_400,))
        return Session(login=login, expires_at=now + lifetime, token=token)

    def session(self, token: str) -> Session | None:
        """The live session of this cookie value: not ended, not expired, login active."""
        if not token or len(token) > 128:
            return None
        row = (
            self._db.connection()
            .execute(
                f"SELECT s.expires_at, s.ended_at, {_JOINED_LOGIN_COLUMNS} FROM login_sessions s"
                " JOIN logins l USING (login_id) WHERE s.session_hash = ?",
                (hash_session(token),),
            )
            .fetchone()
        )
        if row is None or row["ended_at"] is not None or row["disabled_at"] is not None:
            return None
        if float(row["expires_at"]) <= self._clock():
            return None
        return Session(login=_login(row), expires_at=float(row["expires_at"]))

    def end_session(self, token: str) -> None:
        with self._db.transaction() as tx:
            tx.execute(
                "UPDATE login_sessions SET ended_at = ?"
                " WHERE session_hash = ? AND ended_at IS NULL",
                (self._clock(), hash_session(token)),
            )

    def _end_sessions(self, tx: sqlite3.Connection, login_id: str) -> None:
        tx.execute(
            "UPDATE login_sessions SET ended_at = ? WHERE login_id = ? AND ended_at IS NULL",
            (self._clock(), login_id),
        )

    def _require(self, login_id: str) -> Login:
        login = self.get(login_id)
        if login is None:
            raise LoginError(f"no login {login_id!r}")
        return login


def _login(row: sqlite3.Row) -> Login:
    return Login(
        login_id=row["login_id"],
        realm=row["realm"],
        code=row["code"],
        label=row["label"],
        created_at=row["created_at"],
        password_set_at=row["password_set_at"],
        disabled_at=row["disabled_at"],
    )
