"""What a ``list`` command prints: a JSON array for scripts (``--json``), a table for people.
One place, so every list of the CLI (tokens, clerks, officers) reads and parses alike."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["print_listing"]


def print_listing(
    rows: Sequence[Mapping[str, Any]],
    *,
    columns: Mapping[str, str],
    title: str,
    as_json: bool,
) -> None:
    """``rows`` as JSON (every key; dates and times in ISO 8601), or as a table of ``columns``
    (key -> heading; an empty value shows as ``-``) titled ``title``."""
    if as_json:
        typer.echo(json.dumps(list(rows), ensure_ascii=False, indent=2, default=_iso))
        return
    table = Table(title=title, title_justify="left")
    for heading in columns.values():
        # A narrow terminal wraps a long value; it never cuts one short ("mont…").
        table.add_column(heading, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(key)) for key in columns))
    Console().print(table)


def _iso(value: Any) -> str:
    """A date or a time as JSON has none: ISO 8601 text (a datetime is a date too)."""
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _cell(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)
