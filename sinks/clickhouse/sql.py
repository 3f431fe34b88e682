"""Splitting a migration file into statements.

clickhouse-driver sends one statement per query, so a file of several statements is split
at the semicolons that end them: not at a semicolon inside a quoted string, a quoted
identifier or a comment. Comments are dropped (ClickHouse would store a view's text without
them anyway), which also drops files' explanatory headers from the statements sent.
"""

from __future__ import annotations

__all__ = ["split_statements"]

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
