"""``baocao rebuild``: recompute ClickHouse (and the worker's state) from the Kafka log.

The commands act as the stack's administrator: on ClickHouse (a new database, renames) and
on Kafka (a consumer group of their own, read from the first offset). Errors of the family
end the command with exit code 2 and one line; a comparison that finds a difference ends
it with exit code 1.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NoReturn

import typer
from kafka.errors import KafkaError

from baocao.app.bi.apply import ServerKind
from baocao.app.bi.exceptions import BiAccessError
from baocao.app.rebuild.clickhouse import compare_with_live, rebuild_clickhouse, rebuild_group
from baocao.app.rebuild.compare import Comparison
from baocao.app.rebuild.exceptions import RebuildError
from baocao.app.rebuild.replay import replay
from baocao.app.rebuild.swap import Swap, plan_swap, swap_databases
from baocao.app.rebuild.worker import rebuild_worker
from baocao.core.clickhouse import ClickHouseError
from baocao.core.kafka import KafkaUnavailableError
from baocao.core.principals import Principal, with_principal
from baocao.core.settings import Settings
from baocao.sinks.exceptions import SinkError

__all__ = ["rebuild_app"]

logger = logging.getLogger(__name__)

rebuild_app = typer.Typer(
    help="Rebuild ClickHouse or the worker's state from the Kafka log (docs/operations.md).",
    no_args_is_help=True,
)

_FAILURES = (
    RebuildError,
    SinkError,
    ClickHouseError,
    BiAccessError,
    KafkaUnavailableError,
    KafkaError,
    OSError,
)

_DATABASE = typer.Option(..., "--database", help="The new ClickHouse database to rebuild into.")
_TIMEOUT = typer.Option(
    3600.0, "--timeout", min=1, help="Give up when a replay has not reached the end by then (s)."
)
_VERBOSE = typer.Option(False, "--verbose", "-v", help="Print the table of every relation.")


def _settings() -> Settings:
    """The configured settings as the administrator (Kafka principal and ClickHouse login)."""
    return with_principal(Settings().with_clickhouse_login("admin"), Principal.ADMIN)


def _fail(exc: Exception) -> NoReturn:
    logger.error("%s", exc)
    raise typer.Exit(2) from exc


def _report(comparison: Comparison, *, verbose: bool) -> None:
    if verbose or not comparison.equal:
        typer.echo(comparison.table())
    typer.echo(comparison.verdict())
    if not comparison.equal:
        raise typer.Exit(1)


def _report_swap(result: Swap, settings: Settings) -> None:
    typer.echo(
        f"swapped: {settings.clickhouse.database} now holds the rebuilt {len(result.tables)}"
        f" tables; the previous ones are in {result.backup}"
        + (
            f"; {result.bi_provinces} province BI databases made again"
            if result.bi_provinces
            else ""
        )
    )


@rebuild_app.command("clickhouse")
def clickhouse(
    database: str = _DATABASE,
    swap: bool = typer.Option(
        False, "--swap", help="When equal, swap the rebuilt database into the live one's place."
    ),
    timeout: float = _TIMEOUT,
    verbose: bool = _VERBOSE,
) -> None:
    """Rebuild ClickHouse from the Kafka topics into a new database, and compare.

    Migrates DATABASE, replays every topic the sink reads from its first offset with a sink
    group of its own (<sink group>-rebuild-<DATABASE>) while the live pipeline runs, then
    compares every view and table (FINAL, without ingested_at) with the live database.
    Prints a one-line verdict; exit code 0 when equal, 1 when different.
    """
    settings = _settings()
    try:
        result = rebuild_clickhouse(settings, database=database, timeout_seconds=timeout)
    except _FAILURES as exc:
        _fail(exc)
    typer.echo(
        f"rebuilt {database} from {result.records} records in {result.seconds:.1f}s"
        f" (group {rebuild_group(settings, database)})"
    )
    _report(result.comparison, verbose=verbose)
    if swap:
        _swap(settings, database, backup=None, timeout=timeout)


@rebuild_app.command("compare")
def compare(database: str = _DATABASE, timeout: float = _TIMEOUT, verbose: bool = _VERBOSE) -> None:
    """Compare a database with the live one, as they are (nothing is replayed).

    Waits (up to 2 minutes) for the live sink to land what the topics hold, then compares
    every view and table (FINAL, without ingested_at). Exit code 0 when equal, 1 when not.
    """
    settings = _settings()
    try:
        comparison, _replays = compare_with_live(
            settings, database=database, timeout_seconds=timeout, replay_first=False
        )
    except _FAILURES as exc:
        _fail(exc)
    _report(comparison, verbose=verbose)


@rebuild_app.command("swap")
def swap_command(
    database: str = _DATABASE,
    backup: str | None = typer.Option(
        None, "--backup", help="Where the live tables go (default <live>_before_<UTC time>)."
    ),
    timeout: float = _TIMEOUT,
    print_sql: bool = typer.Option(
        False, "--print-sql", help="Print the statements this server would run; run nothing."
    ),
    current: bool = typer.Option(
        False,
        "--current-clickhouse",
        help="With --print-sql: the statements of a current ClickHouse (EXCHANGE TABLES).",
    ),
) -> None:
    """Put a rebuilt database in the live one's place.

    ClickHouse 18.16 has no RENAME DATABASE nor EXCHANGE TABLES: the live tables are renamed
    into a backup database and the rebuilt ones into the live database, table by table; the
    live views stay (they read the tables by name); the province BI databases and their
    feeds are made again from the rebuilt rows. A current ClickHouse swaps with EXCHANGE
    TABLES. Before and after the renames, the rebuild's group replays on to the topics' end,
    so no record lands only in the tables moved out.
    """
    settings = _settings()
    if print_sql:
        kind = ServerKind.MODERN if current else None
        try:
            plan = plan_swap(settings, rebuilt=database, backup=backup, kind=kind)
        except _FAILURES as exc:
            _fail(exc)
        for statement in plan.statements:
            typer.echo(f"{statement};")
        if plan.bi is not None:
            typer.echo(
                f"-- then `baocao bi apply` for {plan.live} ({len(plan.bi.provinces)} provinces)"
            )
        return
    _swap(settings, database, backup=backup, timeout=timeout)


def _swap(settings: Settings, database: str, *, backup: str | None, timeout: float) -> None:
    live = settings.clickhouse.database
    group = rebuild_group(settings, database)
    try:
        replay(settings, database=database, group=group, timeout_seconds=timeout)
        result = swap_databases(settings, rebuilt=database, backup=backup)
        # What the live sink landed in the moved-out tables just before the renames.
        replay(settings, database=live, group=group, timeout_seconds=timeout)
    except _FAILURES as exc:
        _fail(exc)
    _report_swap(result, settings)


@rebuild_app.command("worker")
def worker(
    app_id: str = typer.Option(
        ..., "--app-id", help="The rebuild worker's app id: its group, changelogs and outputs."
    ),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Its state and log (default <stack home>/rebuild/<app id>)."
    ),
    timeout: float = _TIMEOUT,
    verbose: bool = _VERBOSE,
) -> None:
    """Recompute the worker's whole state from the input topics alone, and compare.

    Runs `baocao worker` with app id APP_ID (new changelogs, a new group reading the inputs
    from their first offset) writing its own output topics (<prefix>.<APP_ID>.*: the live
    outputs and ClickHouse are untouched) until it has consumed every input record there is
    now, then stops it and compares its decisions with the live worker's: accepted reports
    (id and revision), refusals with their reasons, the final figures and completeness, the
    warnings. Exit code 0 when equal, 1 when different.
    On the local stack `baocao stack up` grants APP_ID its Kafka access when it is listed in
    BAOCAO_WORKER_REBUILD_APP_IDS.
    """
    configured = Settings()
    names = [a.strip() for a in configured.worker.rebuild_app_ids.split(",")]
    if app_id not in names and not configured.kafka.sasl_username:
        _fail(
            RebuildError(
                f"{app_id} is not in BAOCAO_WORKER_REBUILD_APP_IDS: the worker's principal has"
                " no access for it; add it there and run `baocao stack up` (it grants the"
                " group, changelogs and output topics)"
            )
        )
    admin = _settings()
    folder = data_dir or configured.stack.home / "rebuild" / app_id
    try:
        result = rebuild_worker(
            configured, admin, app_id=app_id, data_dir=folder, timeout_seconds=timeout
        )
    except _FAILURES as exc:
        _fail(exc)
    typer.echo(
        f"rebuilt the worker state as {app_id} from {result.records} input records in"
        f" {result.seconds:.1f}s; its outputs: {result.outputs.outputs}.*"
    )
    if verbose or not result.equal:
        typer.echo(result.table())
    typer.echo(result.verdict())
    if not result.equal:
        raise typer.Exit(1)
