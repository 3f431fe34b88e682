"""``baocao compact``: merge the closed years of every ``ReplacingMergeTree`` table into one
part, in the main database and in every province's BI database, so the views' ``FINAL`` stays
a plain read as the years pile up (``sinks/clickhouse/compaction.py``, docs/read-side.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import typer

from baocao.app.bi.access import AccessPlan
from baocao.core.clickhouse import TRANSIENT_ERRORS, connect, describe_error
from baocao.core.reference import load_reference
from baocao.core.settings import ClickHouseSettings, Settings
from baocao.sinks.clickhouse.compaction import Partition, compact, unmerged_closed_partitions

__all__ = ["Compacted", "compact_command", "compact_databases"]


def compact_command(
    before_year: int = typer.Option(
        None,
        "--before-year",
        help="Merge the years before this one (default: the current year, UTC).",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="List the partitions that would be merged; merge nothing."
    ),
) -> None:
    """Merge each closed year of the fact tables into one part.

    Every insert leaves a part, and a view's FINAL merges a year's parts again at every read.
    A year before the current one gets no more than a late correction: merged once, its
    FINAL is a plain read. Covers the main database and every province's BI database
    (baocao_pNN). A year already in one part is skipped, so it is cheap to run daily (cron).
    """
    settings = Settings()
    year = before_year if before_year is not None else datetime.now(UTC).year
    try:
        result = compact_databases(settings.clickhouse, before_year=year, dry_run=dry_run)
    except TRANSIENT_ERRORS as exc:
        typer.echo(f"error: ClickHouse: {describe_error(exc)}", err=True)
        raise typer.Exit(1) from exc
    for partition in result.partitions:
        typer.echo(
            f"{'would merge' if dry_run else 'merged'}  {partition.database}.{partition.table}"
            f" {partition.year}: {partition.parts} parts, {partition.rows:,} rows"
        )
    verb = "to merge" if dry_run else f"merged in {result.seconds:.1f}s"
    typer.echo(
        f"{len(result.partitions)} partitions before {year} {verb},"
        f" in {len(result.databases)} databases"
    )


@dataclass(frozen=True)
class Compacted:
    databases: list[str]
    partitions: list[Partition]
    seconds: float


def compact_databases(
    clickhouse: ClickHouseSettings, *, before_year: int, dry_run: bool = False
) -> Compacted:
    """Merge the closed years of ``clickhouse``'s database and of its provinces' BI
    databases that exist (``dry_run``: only find them)."""
    plan = AccessPlan.for_reference(clickhouse.database, load_reference())
    wanted = [plan.database, *(plan.province_database(code) for code in plan.provinces)]
    client = connect(clickhouse)
    try:
        existing = {name for (name,) in client.execute("SELECT name FROM system.databases")}
        databases = [name for name in wanted if name in existing]
        partitions = unmerged_closed_partitions(client, databases, before_year=before_year)
        seconds = 0.0 if dry_run else compact(client, partitions)
    finally:
        client.disconnect()
    return Compacted(databases, partitions, seconds)
