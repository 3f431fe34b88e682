"""The BI users' passwords: generated once into the stack home, never written to the repository.

``<stack home>/bi/credentials.json`` (folder 0700, file 0600) maps each user to its password.
A password given in the environment (``BAOCAO_BI_PASSWORD`` for ``baocao_bi``) wins over the
file and is not copied into it. ClickHouse itself only ever receives SHA-256 digests
(``password_sha256_hex`` on 18.16, ``IDENTIFIED WITH sha256_hash`` on a current server); the
file keeps the clear text because ``baocao bi credentials`` must be able to hand it out.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from baocao.app.bi.access import BI_USER
from baocao.app.bi.exceptions import CredentialsError
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

#: 32 random bytes, URL-safe: no character needs quoting in a URL, XML or SQL string.
_PASSWORD_BYTES = 32
_FORMAT_VERSION = 1


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
    imposed = dict(overrides or {})
    stored = _load(path)
    missing = [user for user in users if user not in stored and user not in imposed]
    if missing:
        for user in missing:
            stored[user] = secrets.token_urlsafe(_PASSWORD_BYTES)
        _store(path, stored)
        logger.info("generated BI passwords for %s into %s", ", ".join(missing), path)
    return Credentials({**stored, **imposed})


def _load(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise CredentialsError(f"cannot read {path}: {exc}") from exc
    try:
        document = json.loads(text)
        users = document["users"]
        if not isinstance(users, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in users.items()
        ):
            raise TypeError("users must map names to non-empty strings")
    except (ValueError, KeyError, TypeError) as exc:
        raise CredentialsError(
            f"{path} is not a baocao credentials file ({exc}); move it away and run"
            " `baocao stack up` again to generate new passwords"
        ) from exc
    return dict(users)


def _store(path: Path, passwords: Mapping[str, str]) -> None:
    """Write atomically, readable by the owner only, from the first byte on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    partial = path.with_name(path.name + ".partial")
    text = json.dumps(
        {"version": _FORMAT_VERSION, "users": dict(sorted(passwords.items()))}, indent=2
    )
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    os.chmod(partial, 0o600)
    os.replace(partial, path)
