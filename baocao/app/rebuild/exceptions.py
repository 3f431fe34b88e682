"""The errors of ``baocao rebuild``: one family, reported in one line by its commands."""

from __future__ import annotations

__all__ = ["RebuildError"]


class RebuildError(Exception):
    """A rebuild could not be done as asked (a name clash, a replay that did not finish)."""
