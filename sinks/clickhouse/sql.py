"""Reading migration files: splitting them into statements, and spotting column additions.

clickhouse-driver sends one statement per query, so a file is split at the semicolons that
end statements, never inside a quoted string, a quoted identifier or a comment; comments are
dropped. :func:`added_columns` lets the runner skip an ``ADD COLUMN`` that ran before (18.16
has no ``ADD COLUMN IF NOT EXISTS``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ColumnAddition", "added_columns", "split_statements"]

_QUOTES = frozenset("'\"`")


def split_statements(sql: str) -> list[str]:
    """The statements of ``sql``, stripped, without comments, empty ones left out."""
    statements: list[str] = []
    current: list[str] = []
    i = 0
    length = len(sql)
    while i < length:
        char = sql[i]
        pair = sql[i : i + 2]
        if pair == "--":
            end = sql.find("\n", i)
            i = length if end < 0 else end  # keep the newline as a separator
            continue
        if pair == "/*":
            end = sql.find("*/", i + 2)
            i = length if end < 0 else end + 2
            current.append(" ")
            continue
        if char in _QUOTES:
            end = _end_of_quoted(sql, i)
            current.append(sql[i:end])
            i = end
            continue
        if char == ";":
            statements.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    statements.append("".join(current))
    return [text for text in (s.strip() for s in statements) if text]


def _end_of_quoted(sql: str, start: int) -> int:
    """Index just past the quoted literal or identifier opening at ``start``; a backslash
    escapes the next character and a doubled quote stands for itself, as in ClickHouse."""
    quote = sql[start]
    i = start + 1
    while i < len(sql):
        char = sql[i]
        if char == "\\":
            i += 2
            continue
        if char == quote:
            if sql[i + 1 : i + 2] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return len(sql)  # unterminated: the server will report it


@dataclass(frozen=True, slots=True)
class ColumnAddition:
    """An ``ALTER TABLE <table> ADD COLUMN ...`` statement: its table and the columns it adds."""

    table: str
    columns: tuple[str, ...]


_IDENTIFIER = r"(?:`(?:[^`\\]|\\.)+`|[A-Za-z_][A-Za-z0-9_]*)"
_ALTER_TABLE = re.compile(
    rf"^ALTER\s+TABLE\s+(?P<table>{_IDENTIFIER})\s+(?P<clauses>.+)$", re.I | re.S
)
_ADD_COLUMN = re.compile(
    rf"^ADD\s+COLUMN\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<column>{_IDENTIFIER})\s", re.I | re.S
)


def added_columns(statement: str) -> ColumnAddition | None:
    """The table and columns of an ``ALTER TABLE`` made only of ``ADD COLUMN`` clauses, or
    None for any other statement (an ALTER that also modifies or drops is not recognised:
    skipping it because its new columns exist could skip the rest)."""
    match = _ALTER_TABLE.match(statement.strip())
    if match is None:
        return None
    columns: list[str] = []
    for clause in _top_level_clauses(match["clauses"]):
        added = _ADD_COLUMN.match(clause.strip() + " ")
        if added is None:
            return None
        columns.append(_unquote(added["column"]))
    return ColumnAddition(_unquote(match["table"]), tuple(columns)) if columns else None


def _top_level_clauses(text: str) -> list[str]:
    """``text`` split at the commas outside parentheses, brackets and quotes."""
    clauses: list[str] = []
    depth = 0
    start = 0
    i = 0
    while i < len(text):
        char = text[i]
        if char in _QUOTES:
            i = _end_of_quoted(text, i)
            continue
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "," and depth == 0:
            clauses.append(text[start:i])
            start = i + 1
        i += 1
    clauses.append(text[start:])
    return clauses


def _unquote(identifier: str) -> str:
    if identifier.startswith("`"):
        return re.sub(r"\\(.)", r"\1", identifier[1:-1])
    return identifier
