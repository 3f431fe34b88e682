"""Compare two databases of the same schema relation by relation: every view's rows, and
every table's rows read with ``FINAL``.

What is left out, and why:

* ``ingested_at`` (every table's ``DEFAULT now()``) and ``sink_poison_messages.received_at``
  say when a sink stored a row, not what it stored: a rebuild stores them at another time;
* the migration ledger (``schema_migrations``), whose ``applied_at`` is the migration's time.

Tables are read with ``FINAL``: a ``ReplacingMergeTree`` holds the duplicates of an
at-least-once delivery until it merges, and two databases merge at different times. Floating
point values are equal within a relative tolerance: a sum added up in another order may differ
in its last bits.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clickhouse_driver import Client

from baocao.app.rebuild.exceptions import RebuildError
from baocao.core.clickhouse import quote_identifier
from baocao.sinks.clickhouse.migrate import LEDGER_TABLE

__all__ = [
    "LEFT_OUT_COLUMNS",
    "Comparison",
    "RelationComparison",
    "compare_databases",
    "rows_differing",
]

#: (table or ``*``, column) left out of the comparison: when a sink stored a row.
LEFT_OUT_COLUMNS = frozenset({("*", "ingested_at"), ("sink_poison_messages", "received_at")})
#: Relative tolerance of floating point values.
REL_TOL = 1e-9
#: Rows left over after the keyed pairing are paired one by one up to this many tries; past
#: it (databases far apart) they all count as different.
_MAX_PAIRINGS = 4_000_000

Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class RelationComparison:
    """One view or table in both databases."""

    name: str
    kind: str  # "view" or "table"
    live_rows: int | None  # None: missing in that database
    rebuilt_rows: int | None
    differing: int  # rows of one without an equal row in the other (both ways)

    @property
    def equal(self) -> bool:
        return self.live_rows is not None and self.rebuilt_rows is not None and not self.differing


@dataclass(frozen=True, slots=True)
class Comparison:
    live: str
    rebuilt: str
    relations: tuple[RelationComparison, ...]

    @property
    def equal(self) -> bool:
        return all(relation.equal for relation in self.relations)

    def verdict(self) -> str:
        """One line: equal, or how many relations differ and which."""
        views = sum(1 for r in self.relations if r.kind == "view")
        tables = len(self.relations) - views
        if self.equal:
            return (
                f"equal: {views} views and {tables} tables (FINAL) of {self.live} and"
                f" {self.rebuilt} hold the same rows (ingested_at left out)"
            )
        wrong = [r for r in self.relations if not r.equal]
        names = ", ".join(f"{r.name} ({_what(r)})" for r in wrong)
        return (
            f"different: {len(wrong)} of {len(self.relations)} relations of {self.live} and"
            f" {self.rebuilt} differ: {names}"
        )

    def table(self) -> str:
        """One line per relation: its rows in each database and how many differ."""
        width = max((len(r.name) for r in self.relations), default=8)
        lines = [f"{'relation':<{width}}  kind   {'live':>9} {'rebuilt':>9} {'differing':>9}"]
        for r in self.relations:
            lines.append(
                f"{r.name:<{width}}  {r.kind:<5}  {_count(r.live_rows):>9}"
                f" {_count(r.rebuilt_rows):>9} {r.differing:>9}  {'ok' if r.equal else 'DIFFERENT'}"
            )
        return "\n".join(lines)


def _count(rows: int | None) -> str:
    return "missing" if rows is None else str(rows)


def _what(relation: RelationComparison) -> str:
    if relation.live_rows is None or relation.rebuilt_rows is None:
        return "missing in one"
    return f"{relation.differing} rows differ"


def compare_databases(
    client: Client, live: str, rebuilt: str, *, rel_tol: float = REL_TOL
) -> Comparison:
    """Compare every view and table of ``live`` and ``rebuilt`` (see the module docstring).

    Raises :class:`RebuildError` when either database is missing or holds nothing to compare.
    """
    live_relations = _relations(client, live)
    rebuilt_relations = _relations(client, rebuilt)
    for database, relations in ((live, live_relations), (rebuilt, rebuilt_relations)):
        if not relations:
            raise RebuildError(
                f"database {database} does not exist or holds no table: nothing to compare"
                " (`baocao migrate`, `baocao rebuild clickhouse --database ...`)"
            )
    results: list[RelationComparison] = []
    for name in sorted(set(live_relations) | set(rebuilt_relations)):
        kind, engine = live_relations.get(name) or rebuilt_relations[name]
        if name not in live_relations or name not in rebuilt_relations:
            present = live if name in live_relations else rebuilt
            count = _count_rows(client, present, name)
            results.append(
                RelationComparison(
                    name,
                    kind,
                    count if name in live_relations else None,
                    count if name in rebuilt_relations else None,
                    count,
                )
            )
            continue
        columns = _compared_columns(client, live, name)
        final = kind == "table" and "Replacing" in engine
        left = _rows(client, live, name, columns, final=final)
        right = _rows(client, rebuilt, name, columns, final=final)
        results.append(
            RelationComparison(
                name, kind, len(left), len(right), rows_differing(left, right, rel_tol=rel_tol)
            )
        )
    return Comparison(live=live, rebuilt=rebuilt, relations=tuple(results))


def _relations(client: Client, database: str) -> dict[str, tuple[str, str]]:
    """Name -> (kind, engine) of the views and tables compared in ``database``."""
    rows = client.execute(
        "SELECT name, engine FROM system.tables WHERE database = %(db)s AND name != %(ledger)s"
        " AND (engine = 'View' OR engine LIKE '%%MergeTree%%')",
        {"db": database, "ledger": LEDGER_TABLE},
    )
    return {name: ("view" if engine == "View" else "table", engine) for name, engine in rows}


def _count_rows(client: Client, database: str, relation: str) -> int:
    source = f"{quote_identifier(database)}.{quote_identifier(relation)}"
    return int(client.execute(f"SELECT count() FROM {source}")[0][0])


def _compared_columns(client: Client, database: str, table: str) -> list[str]:
    rows = client.execute(
        "SELECT name FROM system.columns WHERE database = %(db)s AND table = %(t)s",
        {"db": database, "t": table},
    )
    return [
        name
        for (name,) in rows
        if ("*", name) not in LEFT_OUT_COLUMNS and (table, name) not in LEFT_OUT_COLUMNS
    ]


def _rows(
    client: Client, database: str, relation: str, columns: Sequence[str], *, final: bool
) -> list[Row]:
    selected = ", ".join(quote_identifier(c) for c in columns)
    source = f"{quote_identifier(database)}.{quote_identifier(relation)}"
    # Ordered by the server, so two equal relations compare equal in one pass (the usual
    # case); only unequal ones go through the tolerant pairing.
    query = f"SELECT {selected} FROM {source}{' FINAL' if final else ''} ORDER BY {selected}"
    return [tuple(row) for row in client.execute(query)]


def rows_differing(left: Sequence[Row], right: Sequence[Row], *, rel_tol: float = REL_TOL) -> int:
    """How many rows of ``left`` and ``right`` have no equal partner in the other (duplicates
    count: a row twice on one side and once on the other is one difference), floats equal
    within ``rel_tol``. Rows are paired on a key whose floats are rounded; the few left over
    (a float rounded across a boundary) are then paired one by one with the tolerance."""
    if left == right:
        return 0
    by_key: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
    for row in left:
        by_key[_sort_order(row)].append(row)
    unmatched_right: list[Row] = []
    for row in right:
        partners = by_key.get(_sort_order(row))
        if partners:
            partners.pop()
        else:
            unmatched_right.append(row)
    unmatched_left = [row for rows in by_key.values() for row in rows]
    if len(unmatched_left) * len(unmatched_right) > _MAX_PAIRINGS:
        return len(unmatched_left) + len(unmatched_right)
    for row in list(unmatched_left):
        partner = next((r for r in unmatched_right if _same(row, r, rel_tol)), None)
        if partner is not None:
            unmatched_left.remove(row)
            unmatched_right.remove(partner)
    return len(unmatched_left) + len(unmatched_right)


def _sort_order(row: Row) -> tuple[Any, ...]:
    return tuple(_sortable(value) for value in row)


def _sortable(value: Any) -> tuple[Any, ...]:
    if value is None:
        return (0, 0)
    if isinstance(value, float):
        if math.isnan(value):
            return (1, "nan")
        return (2, float(f"{value:.8g}"))
    if isinstance(value, list | tuple):
        return (3, tuple(_sortable(v) for v in value))
    return (4, value)


def _same(a: Any, b: Any, rel_tol: float) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=1e-12)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y, rel_tol) for x, y in zip(a, b, strict=True))
    return bool(a == b)
