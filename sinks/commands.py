"""``baocao migrate`` and ``baocao sink``: the ClickHouse side of the pipeline.

Both build :class:`~baocao.core.settings.Settings` once (environment ``BAOCAO_CLICKHOUSE_*``,
``BAOCAO_KAFKA_*``, ``BAOCAO_SINK_*``) and pass it down. Errors of the package's family are
reported in one line and end the command with exit code 1, without a traceback.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import typer

from baocao.core.clickhouse import TRANSIENT_ERRORS, connect, describe_error
from baocao.core.collector import settle_heap
from baocao.core.kafka import KafkaUnavailableError
from baocao.core.principals import Principal, with_principal
from baocao.core.settings import Settings
from baocao.sinks.clickhouse.migrate import migrate as apply_migrations
from baocao.sinks.clickhouse.migrate import migration_status
from baocao.sinks.clickhouse.sink import run_sink
from baocao.sinks.exceptions import ClickHouseError, ClickHouseUnavailableError, SinkError
from baocao.sinks.metrics import SinkMetrics, SinkStats, sink_checks

__all__ = ["migrate", "sink"]

logger = logging.getLogger(__name__)


def migrate(
    status: bool = typer.Option(
        False,
        "--status",
        help="Only list the migrations and when each was applied; change nothing.",
    ),
) -> None:
    """Create or upgrade the ClickHouse schema and reload the reference tables.

    Creates the database BAOCAO_CLICKHOUSE_DATABASE if it is missing.
    Applies, in order, the migrations not yet recorded in schema_migrations.
    Makes the provinces, communes and indicators tables equal to the reference data
    and the indicator catalogue.
    Running it again changes nothing.
    A changed file of an applied migration is an error: add a new migration.
    """
    settings = Settings()
    try:
        if status:
            _print_status(settings)
            return
        result = apply_migrations(settings.clickhouse)
    except (SinkError, ClickHouseError) as exc:
        logger.error("%s", exc)
        raise typer.Exit(1) from exc
    for migration in result.applied:
        typer.echo(f"applied   {migration.file_name}")
    total = len(result.applied) + len(result.already_applied)
    typer.echo(
        f"database {result.database} is up to date: {total} migrations,"
        f" {len(result.applied)} applied now"
    )
    if result.reference is not None:
        reloaded = ", ".join(result.reference.replaced) or "unchanged"
        typer.echo(
            f"reference tables: {result.reference.provinces} provinces,"
            f" {result.reference.communes} communes, {result.reference.indicators} indicators,"
            f" {result.reference.legacy_communes} pre-2025 communes,"
            f" {result.reference.lineage} lineage rows ({reloaded})"
        )


def _print_status(settings: Settings) -> None:
    try:
        _list_migrations(settings)
    except TRANSIENT_ERRORS as exc:
        raise ClickHouseUnavailableError(
            f"cannot read the migrations of {settings.clickhouse.database!r}: {describe_error(exc)}"
        ) from exc


def _list_migrations(settings: Settings) -> None:
    client = connect(settings.clickhouse, use_database=False)
    try:
        exists = client.execute(
            "SELECT count() FROM system.databases WHERE name = %(db)s",
            {"db": settings.clickhouse.database},
        )[0][0]
    finally:
        client.disconnect()
    if not exists:
        typer.echo(f"database {settings.clickhouse.database} does not exist: nothing applied")
        return
    client = connect(settings.clickhouse)
    try:
        for entry in migration_status(client):
            when = (
                f"applied {entry.applied.applied_at:%Y-%m-%d %H:%M:%S} UTC"
                if entry.applied is not None
                else "pending"
            )
            typer.echo(f"{entry.migration.file_name:45} {when}")
    finally:
        client.disconnect()


def sink(
    max_idle_seconds: float | None = typer.Option(
        None,
        "--max-idle-seconds",
        min=0,
        help="Stop after this many seconds without a message (default: run until stopped).",
    ),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        min=1,
        max=65535,
        help="Serve Prometheus metrics (rows, retries, poison, report freshness) on this port,"
        " and /healthz (200 when ClickHouse, the Kafka assignment and the last flush are fine,"
        " else 503).",
    ),
) -> None:
    """Write the pipeline's Kafka topics into ClickHouse.

    Needs the schema: run `baocao migrate` first.
    Consumes accepted reports, provincial figures, completeness, figure changes,
    warnings, reporting periods, missing-report alerts, approvals and rejections.
    Reads records of older workers too (commune_report.v1, province_indicator.v1).
    Writes each batch with one insert per table, then commits its offsets.
    When ClickHouse refuses or hangs, pauses its partitions and keeps polling (it stays in
    its consumer group), retries the same batch with backoff; skips nothing.
    Stores an undecodable message in sink_poison_messages and goes on.
    Replaying a topic is harmless: rows are replaced by key and version.
    SIGTERM or Ctrl-C finishes the current batch, commits and exits.
    """
    settings = with_principal(Settings().with_clickhouse_login("sink"), Principal.SINK)
    metrics = SinkMetrics()
    stats = SinkStats(metrics=metrics)
    if metrics_port is not None:
        metrics.serve(
            metrics_port,
            address=settings.sink.metrics_host,
            checks=sink_checks(stats, settings.clickhouse),
        )
        logger.info("Prometheus metrics and /healthz on port %d", metrics_port)
    stop = threading.Event()
    # Everything alive now (the modules, above all) stays: moved out of the collector's
    # reach, the decoded batches are all a full collection scans (measured: the collector's
    # share of decoding a batch fell from 13% to 5%).
    settle_heap()
    with _stop_on_signals(stop):
        try:
            run_sink(
                settings,
                stop=stop,
                max_idle_seconds=max_idle_seconds,
                stats=stats,
            )
        except (SinkError, ClickHouseError, KafkaUnavailableError) as exc:
            logger.error("%s", exc)
            raise typer.Exit(1) from exc


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set ``stop`` on SIGTERM and SIGINT (the loop then finishes its batch and exits)."""

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if not stop.is_set():
            logger.info("%s received: finishing the current batch", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
