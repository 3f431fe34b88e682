"""Errors of the dashboard, under one root; a query error is a :class:`ViewQueryError` too."""

from __future__ import annotations

from baocao.app.views.exceptions import ViewQueryError

__all__ = ["DashboardError", "DashboardQueryError"]


class DashboardError(RuntimeError):
    """Root of the dashboard's errors."""


class DashboardQueryError(DashboardError, ViewQueryError):
    """ClickHouse did not answer a dashboard query (down, or the views are missing)."""
