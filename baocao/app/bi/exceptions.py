"""Errors of BI access: each says what is wrong and what the operator can do about it."""

from __future__ import annotations

__all__ = [
    "BiAccessError",
    "BiApplyError",
    "CredentialsError",
    "UnsupportedServerError",
]


class BiAccessError(RuntimeError):
    """Root of every error ``baocao bi`` raises; the command prints it without a traceback."""


class CredentialsError(BiAccessError):
    """The credentials file is missing, unreadable or malformed, or a password is required."""


class UnsupportedServerError(BiAccessError):
    """The ClickHouse server has neither of the two supported privilege mechanisms."""


class BiApplyError(BiAccessError):
    """ClickHouse refused a statement while the access objects were being created."""
