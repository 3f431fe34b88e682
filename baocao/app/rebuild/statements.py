"""The SQL of ``rebuild swap``, for each kind of server.

Standard library only, so ``scripts/check_current_clickhouse.py`` runs the current
ClickHouse's statements in chdb (whose venv has nothing but chdb), as it does the migrations
(:mod:`baocao.sinks.clickhouse.sql`). Names are quoted here as
:func:`baocao.core.clickhouse.quote_identifier` does, which cannot be imported without the
ClickHouse driver.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

__all__ = ["backup_name", "current_swap_statements", "exchange_statements", "rename_statement"]


def _q(name: str) -> str:
    escaped = name.replace("\\", "\\\\").replace("`", "\\`")
    return f"`{escaped}`"


def backup_name(live: str, now: datetime) -> str:
    """Where the live tables go: ``<live>_before_<UTC time>``."""
    return f"{live}_before_{now:%Y%m%d%H%M%S}"


def rename_statement(live: str, rebuilt: str, backup: str, tables: Sequence[str]) -> str:
    """ClickHouse 18.16: one ``RENAME TABLE`` that moves each live table to ``backup`` and
    the rebuilt one into its place."""
    moves = [
        move
        for table in tables
        for move in (
            f"{_q(live)}.{_q(table)} TO {_q(backup)}.{_q(table)}",
            f"{_q(rebuilt)}.{_q(table)} TO {_q(live)}.{_q(table)}",
        )
    ]
    return "RENAME TABLE " + ", ".join(moves)


def exchange_statements(live: str, rebuilt: str, tables: Sequence[str]) -> list[str]:
    """A current ClickHouse (Atomic databases, 20.1+): each pair swapped atomically; the
    rebuilt database then holds the old tables, as the backup."""
    return [f"EXCHANGE TABLES {_q(live)}.{_q(t)} AND {_q(rebuilt)}.{_q(t)}" for t in tables]


def current_swap_statements(
    live: str, rebuilt: str, backup: str, tables: Sequence[str], rebuilt_views: Sequence[str]
) -> list[str]:
    """A current ClickHouse: exchange every table; drop the rebuilt database's views (their
    stored queries name the rebuilt database, which is renamed next: they would read nothing);
    rename the rebuilt database, which now holds the old tables, to ``backup``."""
    return [
        *exchange_statements(live, rebuilt, tables),
        *(f"DROP VIEW IF EXISTS {_q(rebuilt)}.{_q(view)}" for view in rebuilt_views),
        f"RENAME DATABASE {_q(rebuilt)} TO {_q(backup)}",
    ]
