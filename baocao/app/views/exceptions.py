"""Errors of the read model, under one root; the dashboard's and the export's query errors
are :class:`ViewQueryError` too, so the web app answers them alike."""

from __future__ import annotations

__all__ = ["OutOfScopeError", "ViewError", "ViewQueryError"]


class ViewError(RuntimeError):
    """Root of the read model's errors."""


class ViewQueryError(ViewError):
    """ClickHouse did not answer a read of the views (down, or the views are missing)."""


class OutOfScopeError(ViewError):
    """A read asked for a province (or the nation) outside the reader's scope."""
