"""``baocao stack up|down|status``: the local Kafka and ClickHouse servers, without Docker.

The servers run detached under the stack home (``BAOCAO_STACK_HOME``, default ``.baocao``) on
the ports of ``StackSettings`` (``BAOCAO_STACK_KAFKA_PORT`` ...), which are also the defaults of
every client of the project, so ``baocao stack up`` is all a laptop needs.
"""

from __future__ import annotations

import logging
from typing import NoReturn

import typer
from kafka.errors import KafkaError
from rich.console import Console
from rich.table import Table

from baocao.app.bi.exceptions import BiAccessError
from baocao.app.stack.clickhouse import clickhouse_client_environment
from baocao.app.stack.clickhouse_access import BiAccess
from baocao.app.stack.exceptions import StackError
from baocao.app.stack.kafka import kafka_client_environment
from baocao.app.stack.kafka_access import PipelineNames, apply_kafka_access
from baocao.app.stack.lifecycle import stack_down, stack_status, stack_up
from baocao.app.stack.status import ComponentStatus, render_table, to_json
from baocao.core.principals import (
    CLIENT_PRINCIPALS,
    Principal,
    ensure_credentials,
    with_principal,
)
from baocao.core.settings import Settings

__all__ = ["kafka_access", "stack_app"]

logger = logging.getLogger(__name__)

stack_app = typer.Typer(
    help="Start, stop and inspect the local Kafka and ClickHouse servers.",
    no_args_is_help=True,
)


@stack_app.command(
    "up",
    help="Start Kafka and ClickHouse unless they run, and wait until both answer.\n\n"
    "The first run downloads the Kafka jars with Maven (cached for later runs) and formats"
    " Kafka's storage. Running it again while the servers run changes nothing.\n\n"
    "It also writes ClickHouse's read-only BI users (baocao_bi and one per province,"
    " passwords generated into the stack home); `baocao bi credentials` prints them.\n\n"
    "--brokers 3 runs three Kafka nodes (a KRaft quorum; topics with 3 replicas and"
    " min.insync.replicas=2) on the Kafka ports plus 0, 10 and 20; it prints the client"
    " settings to export.",
)
def up(
    timeout: float | None = typer.Option(
        None,
        "--timeout",
        min=1,
        help="Seconds to wait for the servers to answer"
        " (default: BAOCAO_STACK_STARTUP_TIMEOUT_SECONDS).",
    ),
    brokers: int | None = typer.Option(
        None,
        "--brokers",
        min=1,
        max=9,
        help="Kafka nodes (broker and controller each); fixed when a stack home is first"
        " started (default: BAOCAO_STACK_KAFKA_BROKERS, 1).",
    ),
    clickhouse_replicas: int | None = typer.Option(
        None,
        "--clickhouse-replicas",
        min=1,
        max=9,
        help="ClickHouse servers holding replicated tables, coordinated by a ZooKeeper;"
        " fixed when a stack home is first started"
        " (default: BAOCAO_STACK_CLICKHOUSE_REPLICAS, 1).",
    ),
) -> None:
    """Start the servers that are not running; wait until every one answers."""
    settings = Settings()
    if brokers is not None:
        stack = settings.stack.model_copy(update={"kafka_brokers": brokers})
        settings = settings.model_copy(update={"stack": stack})
    if clickhouse_replicas is not None:
        stack = settings.stack.model_copy(update={"clickhouse_replicas": clickhouse_replicas})
        settings = settings.model_copy(update={"stack": stack})
    bi_access = BiAccess.configured(settings)
    try:
        statuses = stack_up(
            settings.stack,
            timeout=timeout,
            bi_access=bi_access,
            pipeline=PipelineNames.of(settings),
        )
    except (StackError, BiAccessError) as exc:
        _fail(exc)
    console = _console()
    console.print(_table(statuses, settings))
    client_env = kafka_client_environment(settings.stack)
    if client_env:
        console.print(
            "Kafka runs on several nodes: give every client (worker, sink, publish, ...)\n  "
            + " ".join(f"{name}={value}" for name, value in client_env.items()),
            markup=False,
            highlight=False,
        )
    replica_env = clickhouse_client_environment(settings.stack)
    if replica_env:
        console.print(
            "ClickHouse runs as replicas: give every client (migrate, sink, dashboard, ...)\n  "
            + " ".join(f"{name}={value}" for name, value in replica_env.items()),
            markup=False,
            highlight=False,
        )


@stack_app.command(
    "down",
    help="Stop every process of the stack: Kafka, ClickHouse, and the worker and sink that"
    " `baocao demo` started. Data folders are kept.",
)
def down(
    timeout: float | None = typer.Option(
        None,
        "--timeout",
        min=0,
        help="Seconds each process gets to stop after SIGTERM before SIGKILL"
        " (default: per process).",
    ),
) -> None:
    """Stop every managed process of the stack home, clients first."""
    settings = Settings()
    try:
        stopped, statuses = stack_down(settings.stack, timeout=timeout)
    except StackError as exc:
        _fail(exc)
    console = _console()
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    console.print(_table(statuses, settings))


@stack_app.command("status")
def status(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    check: bool = typer.Option(
        False, "--check", help="Exit with code 1 unless every component runs and is healthy."
    ),
) -> None:
    """Show each component: state, pid, ports, data folder, log file and health."""
    settings = Settings()
    statuses = stack_status(settings.stack)
    if as_json:
        typer.echo(to_json(statuses))
    else:
        _console().print(_table(statuses, settings))
    if check and not all(row.healthy for row in statuses):
        raise typer.Exit(code=1)


def kafka_access() -> None:
    """As the Kafka admin: the pipeline's SCRAM users, topics and per-principal ACLs.

    What `baocao stack up` does for its own broker, for a broker run elsewhere (Docker).
    Logs in with BAOCAO_KAFKA_SASL_USERNAME/PASSWORD (or the stack home's admin); the other
    principals' passwords are generated into <stack home>/kafka/credentials (0600) when
    missing, where each service finds its own. Idempotent. See docs/security.md.
    """
    settings = with_principal(Settings(), Principal.ADMIN)
    try:
        credentials = ensure_credentials(settings.stack, CLIENT_PRINCIPALS)
        grants = apply_kafka_access(
            settings.kafka, PipelineNames.of(settings), credentials=credentials
        )
    except (KafkaError, OSError, ValueError) as exc:
        Console(stderr=True, soft_wrap=True).print(
            f"error: {exc}", style="red", markup=False, highlight=False
        )
        raise typer.Exit(code=1) from exc
    typer.echo(
        f"{len(credentials)} principals, {len(grants)} ACLs for topic prefix "
        f"{settings.kafka.topic_prefix!r} on {settings.kafka.bootstrap_servers}"
    )


def _console() -> Console:
    console = Console()
    if not console.is_terminal:
        console.width = 160  # CI logs and pipes: keep one line per row rather than 80 columns
    return console


def _table(statuses: list[ComponentStatus], settings: Settings) -> Table:
    home = settings.stack.home.absolute()
    return render_table(statuses, home=home, title=f"stack home {home}")


def _fail(exc: StackError | BiAccessError) -> NoReturn:
    # The message may quote server logs: print it as it is, not as rich markup.
    Console(stderr=True, soft_wrap=True).print(
        f"error: {exc}", style="red", markup=False, highlight=False
    )
    raise typer.Exit(code=1)
