"""Passwords: Argon2id through argon2-cffi, verified off the event loop, a few at a time.

Argon2id with argon2-cffi's default profile (RFC 9106's second recommendation: 64 MiB, 3
passes) costs tens of milliseconds of CPU and 64 MiB per verification. It runs in a worker
thread so the event loop keeps answering, and at most ``concurrency`` at once so a burst of
sign-ins cannot take the gateway's memory.
"""

from __future__ import annotations

import asyncio
import secrets

import argon2

__all__ = ["PasswordHasher", "generate_password"]

#: Letters and digits that cannot be misread on paper or a phone screen (no 0/O, 1/l/I).
_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def generate_password(length: int = 14) -> str:
    """A random password for a new or reset login (about 81 bits at 14 characters)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


class PasswordHasher:
    def __init__(self, *, concurrency: int = 2, hasher: argon2.PasswordHasher | None = None):
        self._hasher = hasher or argon2.PasswordHasher()
        self._slots = asyncio.Semaphore(concurrency)
        #: Verified for unknown logins, so a wrong name costs as long as a wrong password.
        self._decoy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored`` (``None``: an unknown login, checked
        against a decoy so the time taken does not tell)."""
        try:
            return self._hasher.verify(stored or self._decoy, password) and stored is not None
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)

    async def verify_async(self, stored: str | None, password: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(self.verify, stored, password)
