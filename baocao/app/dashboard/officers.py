"""The officers' logins: province and national officers of the dashboard, kept in a SQLite file
of the dashboard's own (``BAOCAO_DASHBOARD_DB_PATH``, default ``<stack home>/dashboard/
officers.db``, mode 0600), which no ClickHouse login, BI or otherwise, can read.

The logins and sessions are :mod:`baocao.core.logins` (the commune door's module): realm
``officer``, code the province's two digits or :data:`NATIONAL` for a national officer. An
administrator's unlock is a row of ``login_unlocks``: the running dashboard reads the newest
one before each sign-in and clears that account's backoff (the limiter lives in its process).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from baocao.app.views.scope import EVERYTHING, Scope
from baocao.core.logins import LOGIN_SCHEMA, Login, LoginStore, PasswordHasher, generate_password
from baocao.core.settings import Settings
from baocao.core.sqlite_file import SqliteFile

__all__ = [
    "NATIONAL",
    "OFFICER_REALM",
    "Officer",
    "OfficerDatabase",
    "OfficerError",
    "add_officer",
    "officer_of",
    "open_officers",
]

#: The realm of the officers' logins in :mod:`baocao.core.logins` (clerks are ``commune``).
OFFICER_REALM = "officer"
#: The code of a national officer's login (a province's is its two digits).
NATIONAL = "national"

_UNLOCKS = """
CREATE TABLE IF NOT EXISTS login_unlocks (
    login_id  TEXT NOT NULL,
    at        REAL NOT NULL,
    by        TEXT NOT NULL
);
"""


class OfficerError(RuntimeError):
    """The officers' database cannot be opened or used."""


@dataclass(frozen=True, slots=True)
class Officer:
    """A signed-in officer: who, and which province (``None``: national)."""

    login_id: str
    name: str
    province: str | None

    @property
    def scope(self) -> Scope:
        return EVERYTHING if self.province is None else Scope.of_province(self.province)

    def as_json(self) -> dict[str, str | None]:
        return {"login": self.login_id, "name": self.name, "province": self.province}


def officer_of(login: Login) -> Officer:
    return Officer(
        login_id=login.login_id,
        name=login.label or login.login_id,
        province=None if login.code == NATIONAL else login.code,
    )


class OfficerDatabase(SqliteFile):
    """The SQLite file (:class:`~baocao.core.sqlite_file.SqliteFile`) behind :class:`LoginStore`."""

    def open(self) -> OfficerDatabase:
        try:
            self.create()
            self.connection().executescript(LOGIN_SCHEMA + _UNLOCKS)  # idempotent
        except (sqlite3.Error, OSError) as exc:
            raise OfficerError(f"cannot open the officers' database {self.path}: {exc}") from exc
        return self

    # -- unlocks -------------------------------------------------------------------------

    def record_unlock(self, login_id: str, *, by: str) -> None:
        with self.transaction() as tx:
            tx.execute(
                "INSERT INTO login_unlocks (login_id, at, by) VALUES (?, ?, ?)",
                (login_id, time.time(), by),
            )

    def last_unlock(self, login_id: str) -> float | None:
        row = (
            self.connection()
            .execute("SELECT max(at) FROM login_unlocks WHERE login_id = ?", (login_id,))
            .fetchone()
        )
        return None if row is None or row[0] is None else float(row[0])


def add_officer(
    logins: LoginStore, *, province: str | None, name: str, login_id: str | None = None
) -> tuple[Login, str]:
    """A new officer login (named ``o<province>-<n>`` or ``national-<n>`` unless given) and its
    generated password."""
    password = generate_password()
    code = NATIONAL if province is None else province
    stem = "national" if province is None else f"o{province}"
    chosen = login_id or logins.next_free_id(stem)
    hashed = PasswordHasher().hash(password)
    login = logins.add(chosen, realm=OFFICER_REALM, code=code, password_hash=hashed, label=name)
    return login, password


def open_officers(settings: Settings) -> OfficerDatabase:
    """The officers' database of these settings, created if needed."""
    return OfficerDatabase(settings.dashboard.database_path(settings.stack.home)).open()
