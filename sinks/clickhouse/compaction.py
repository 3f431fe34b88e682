"""Closed years merged into one part per table: what keeps a view's ``FINAL`` cheap as the
years pile up.

Every insert leaves a part, and ClickHouse's background merges leave a partition at a few
parts for as long as nothing pushes them (on 18.16, hours to never for small ones). A view
reads its ``ReplacingMergeTree`` tables with ``FINAL``, which merges those parts again at
every read: at 10 years the BI query of a province took twice its 1-month time, almost all
of it in ``FINAL`` over two parts per year. A year before the current one gets no more than a
late correction, so ``OPTIMIZE ... PARTITION ID ... FINAL`` on it once (and again after a
correction) makes every later ``FINAL`` on it a plain read. Rows never change: a merge keeps
what ``FINAL`` keeps (docs/read-side.md, "Closed years").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from clickhouse_driver import Client

__all__ = ["Partition", "compact", "unmerged_closed_partitions"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Partition:
    """A year partition of a ``ReplacingMergeTree`` table held in more than one part."""

    database: str
    table: str
    year: str
    partition_id: str
    parts: int
    rows: int


def unmerged_closed_partitions(
    client: Client, databases: Sequence[str], *, before_year: int
) -> list[Partition]:
    """The partitions of ``databases``' ``ReplacingMergeTree`` tables (replicated or not)
    named by a year before ``before_year`` and held in more than one active part."""
    if not databases:
        return []
    rows = client.execute(
        "SELECT database, table, partition, partition_id, count() AS parts, sum(rows)"
        " FROM system.parts"
        " WHERE active AND database IN %(databases)s AND engine LIKE '%%ReplacingMergeTree'"
        " GROUP BY database, table, partition, partition_id"
        " HAVING parts > 1"
        " ORDER BY database, table, partition",
        {"databases": tuple(databases)},
    )
    return [
        Partition(database, table, partition, partition_id, int(parts), int(count))
        for database, table, partition, partition_id, parts, count in rows
        if len(partition) == 4 and partition.isdigit() and int(partition) < before_year
    ]


def compact(client: Client, partitions: Sequence[Partition]) -> float:
    """Merge each partition into one part (``OPTIMIZE ... FINAL``); the seconds it took."""
    started = time.monotonic()
    for partition in partitions:
        begun = time.monotonic()
        client.execute(
            f"OPTIMIZE TABLE `{partition.database}`.`{partition.table}`"
            f" PARTITION ID '{partition.partition_id}' FINAL"
        )
        logger.info(
            "merged %s.%s year %s: %d parts, %d rows, in %.2fs",
            partition.database,
            partition.table,
            partition.year,
            partition.parts,
            partition.rows,
            time.monotonic() - begun,
        )
    return time.monotonic() - started
