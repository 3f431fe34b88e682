"""Passwords generated into the stack home: a JSON file of user -> password, readable by its
owner only.

The ClickHouse service logins (``<stack home>/secrets/clickhouse.json``) and the BI logins
(``<stack home>/bi/credentials.json``) are both such files. A password is generated once, with
:func:`secrets.token_urlsafe` (no character needs quoting in a URL, XML or SQL string), and
never changed after, so running ``baocao stack up`` again rewrites nothing and every client
keeps working. The folder is 0700 and the file 0600 from its first byte (written to a
``.partial`` file created with that mode, then renamed).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["PasswordFileError", "ensure_passwords", "load_passwords", "store_passwords"]

logger = logging.getLogger(__name__)

#: 32 random bytes, URL-safe.
PASSWORD_BYTES = 32
_FORMAT_VERSION = 1


class PasswordFileError(RuntimeError):
    """The file exists but cannot be read or is not a password file."""


def load_passwords(path: Path) -> dict[str, str]:
    """The stored passwords (user -> password); a missing file holds none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise PasswordFileError(f"cannot read {path}: {exc}") from exc
    try:
        document = json.loads(text)
        users = document["users"]
        if not isinstance(users, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in users.items()
        ):
            raise TypeError("users must map names to non-empty strings")
    except (ValueError, KeyError, TypeError) as exc:
        raise PasswordFileError(
            f"{path} is not a baocao credentials file ({exc}); move it away and run"
            " `baocao stack up` again to generate new passwords"
        ) from exc
    return dict(users)


def ensure_passwords(
    path: Path, users: Iterable[str], *, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Generate a password for each of ``users`` that has none, store them, return them all
    (``overrides`` win and are never written to the file)."""
    imposed = dict(overrides or {})
    stored = load_passwords(path)
    missing = [user for user in users if user not in stored and user not in imposed]
    if missing:
        for user in missing:
            stored[user] = secrets.token_urlsafe(PASSWORD_BYTES)
        store_passwords(path, stored)
        logger.info("generated passwords for %s into %s", ", ".join(missing), path)
    elif path.exists():
        _protect(path)
    return {**stored, **imposed}


def store_passwords(path: Path, passwords: Mapping[str, str]) -> None:
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


def _protect(path: Path) -> None:
    """An existing file keeps its passwords but gets the modes back if someone loosened them."""
    path.parent.chmod(0o700)
    path.chmod(0o600)
