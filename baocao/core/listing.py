"""What a ``list`` command prints: a JSON array for scripts (``--json``), a table for people.
One place, so every list of the CLI (tokens, clerks, officers) reads and parses alike."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
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
    """``rows`` as JSON (every key), or as a table of ``columns`` (key -> heading; an empty
    value shows as ``-``) titled ``title``."""
    if as_json:
        typer.echo(json.dumps(list(rows), ensure_ascii=False, indent=2))
        return
    table = Table(title=title, title_justify="left")
    for heading in columns.values():
        table.add_column(heading)
    for row in rows:
        table.add_row(*(_cell(row.get(key)) for key in columns))
    Console().print(table)


def _cell(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)
