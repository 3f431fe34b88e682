"""Errors of the export, under one root so the command and the web app report them alike."""

from __future__ import annotations

from baocao.app.views.exceptions import ViewQueryError

__all__ = ["ExportError", "ExportQueryError", "NothingToExportError"]


class ExportError(RuntimeError):
    """Root of the export's errors."""


class ExportQueryError(ExportError, ViewQueryError):
    """ClickHouse did not answer (down, or the views are missing: not migrated)."""


class NothingToExportError(ExportError):
    """The views know no such province, report type or period; the message says which ones
    they do know."""
