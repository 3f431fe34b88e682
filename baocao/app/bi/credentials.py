"""The BI users' passwords: generated once into the stack home, never written to the repository.

``<stack home>/bi/credentials.json`` (folder 0700, file 0600) maps each user to its password.
A password given in the environment (``BAOCAO_BI_PASSWORD`` for ``baocao_bi``) wins over the
file and is not copied into it. ClickHouse itself only ever receives SHA-256 digests
(``password_sha256_hex`` on 18.16, ``IDENTIFIED WITH sha256_hash`` on a current server); the
file keeps the clear text because ``baocao bi credentials`` must be able to hand it out.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from baocao.app.bi.access import BI_USER
from baocao.app.bi.exceptions import CredentialsError
from baocao.core.credentials import PasswordFileError, ensure_passwords, load_passwords
from baocao.core.settings import BiSettings, StackSettings

__all__ = [
    "Credentials",
    "credentials_path",
    "ensure_credentials",
    "environment_passwords",
    "read_credentials",
    "sha256_hex",
]

logger = logging.getLogger(__name__)


def credentials_path(stack: StackSettings) -> Path:
    """Where the passwords of the stack home's BI users live."""
    return stack.home.absolute() / "bi" / "credentials.json"


def sha256_hex(password: str) -> str:
    """What ClickHouse stores instead of the password."""
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


def environment_passwords(settings: BiSettings) -> dict[str, str]:
    """Passwords the environment imposes (user -> password); empty values impose nothing."""
    password = settings.password.get_secret_value()
    return {BI_USER: password} if password else {}


@dataclass(frozen=True)
class Credentials:
    """Every BI user's password: the file's, overridden by the environment's."""

    passwords: Mapping[str, str] = field(default_factory=dict)

    def password(self, user: str) -> str:
        try:
            return self.passwords[user]
        except KeyError:
            raise CredentialsError(
                f"no password for {user!r}: run `baocao stack up` or `baocao bi apply`,"
                " which generate the missing ones"
            ) from None

    def digest(self, user: str) -> str:
        return sha256_hex(self.password(user))


def read_credentials(path: Path, *, overrides: Mapping[str, str] | None = None) -> Credentials:
    """The stored passwords with ``overrides`` applied; a missing file holds none."""
    stored = _load(path)
    return Credentials({**stored, **(overrides or {})})


def ensure_credentials(
    path: Path, users: Iterable[str], *, overrides: Mapping[str, str] | None = None
) -> Credentials:
    """Generate a password for each of ``users`` that has none, store them, return them all.

    Idempotent: an existing password is never changed, so running it again (every
    ``baocao stack up``) rewrites nothing and BI tools keep working.
    """
    try:
        return Credentials(ensure_passwords(path, users, overrides=overrides))
    except (PasswordFileError, OSError) as exc:
        raise CredentialsError(str(exc)) from exc


def _load(path: Path) -> dict[str, str]:
    try:
        return load_passwords(path)
    except PasswordFileError as exc:
        raise CredentialsError(str(exc)) from exc
