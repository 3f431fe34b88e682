"""``baocao publish`` and ``baocao simulate``: reports into the pipeline's input topic.

Exit codes, the same for both commands:

* 0: every report was delivered to Kafka (``publish``: rejected lines do not change this,
  unless ``--strict``);
* 1: ``publish --strict`` rejected at least one line, or a file could not be opened;
* 2: Kafka failed (unreachable, or reports not acknowledged); also a usage error.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from baocao.core.catalogue import load_catalogue
from baocao.core.principals import Principal, with_principal
from baocao.core.reference import load_reference
from baocao.core.registry import registry_client
from baocao.core.settings import Settings
from baocao.core.validation import MONTHLY_PERIOD
from baocao.producers.exceptions import DeliveryFailedError, PublishError, ReportFileError
from baocao.producers.jsonl import (
    STDIO,
    JsonLinesWriter,
    RejectsWriter,
    ReportLineReader,
    open_input,
    open_output,
)
from baocao.producers.pacing import Pacer
from baocao.producers.publisher import ReportPublisher
from baocao.producers.runs import PublishOutcome, SendOutcome, publish_lines, send_reports
from baocao.producers.simulate import default_period, expected_report_count, generate_reports
from baocao.producers.summary import reason_table

__all__ = [
    "print_error",
    "print_kafka_failure",
    "print_publish_summary",
    "publish",
    "publishing_settings",
    "simulate",
]

logger = logging.getLogger(__name__)

EXIT_REJECTED = 1
EXIT_FILE = 1
EXIT_KAFKA = 2

HISTORIC_OPTION: bool = typer.Option(
    False,
    "--historic",
    help="Load reports of past periods: they go to the historic topic as the "
    "historic-loader principal, and the worker judges them on their own submitted_at "
    "(without it, on-time and lock are judged on when Kafka receives each report).",
)


def publish(
    file: str = typer.Option(
        ..., "--file", "-f", help="JSON-lines file of reports, one per line; - reads stdin."
    ),
    skip_validation: bool = typer.Option(
        False,
        "--skip-validation",
        help="Publish structurally valid reports even when the semantic rules refuse them "
        "(unknown commune, bad period, ...), to exercise the stream's dead-letter path. "
        "Lines that are not a report at all are still rejected.",
    ),
    rejects_file: Path | None = typer.Option(
        None,
        "--rejects-file",
        help="Write rejected lines to this file as JSON lines {line, reasons, raw}.",
        dir_okay=False,
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Exit with code 1 when any line was rejected."
    ),
    historic: bool = HISTORIC_OPTION,
) -> None:
    """Publish commune reports from a JSON-lines file to the commune-reports topic.

    Every line is checked with the stream's own rules; a rejected line is
    reported with its line number and every reason, and is not published.

    Exit codes: 0 published (rejected lines allowed unless --strict);
    1 lines rejected with --strict, or a file cannot be opened; 2 Kafka failure.
    """
    settings = publishing_settings(historic=historic)
    console = Console()
    try:
        outcome = _publish_file(
            settings,
            historic=historic,
            file=file,
            validate=not skip_validation,
            rejects_path=None if rejects_file is None else str(rejects_file),
            console=console,
        )
    except ReportFileError as exc:
        print_error("error", exc)
        raise typer.Exit(EXIT_FILE) from exc
    except PublishError as exc:
        print_kafka_failure(exc)
        raise typer.Exit(EXIT_KAFKA) from exc
    print_publish_summary(console, outcome, rejects_file=rejects_file)
    if strict and outcome.rejected:
        raise typer.Exit(EXIT_REJECTED)


def simulate(
    seed: int = typer.Option(
        2025, "--seed", help="Seed: the same seed and period give the same reports."
    ),
    period: str | None = typer.Option(
        None,
        "--period",
        help="Month reported on, YYYY-MM. Default: the previous month in Vietnam time "
        "(communes report on a month in the first days of the next).",
    ),
    rate: float = typer.Option(
        0.0, "--rate", min=0.0, help="Reports per second, evenly paced; 0 = as fast as possible."
    ),
    communes: int | None = typer.Option(
        None,
        "--communes",
        min=1,
        help="Only the first N communes of a seeded shuffle of all 3,321 (default: all).",
    ),
    revisions: float = typer.Option(
        0.05,
        "--revisions",
        min=0.0,
        max=1.0,
        help="Share of communes that later send a corrected revision 2.",
    ),
    output: str | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Write the reports as JSON lines to this file (- for stdout) instead of publishing.",
    ),
    historic: bool = HISTORIC_OPTION,
) -> None:
    """Generate realistic monthly reports for every commune and publish them.

    Figures scale with the kind of commune (ward, rural commune, special zone)
    and a seeded size, and agree with each other (resolved = on time + late,
    disbursed <= plan, ...). A seed and a period always give the same reports.

    Exit codes: 0 all delivered (or written); 1 the output file cannot be
    written; 2 Kafka failure.
    """
    settings = publishing_settings(historic=historic)
    period = period or default_period()
    if not MONTHLY_PERIOD.match(period):
        raise typer.BadParameter(
            f"{period!r} is not a month written YYYY-MM", param_hint="--period"
        )
    reference, catalogue = load_reference(), load_catalogue()
    if communes is not None and communes > len(reference.communes):
        raise typer.BadParameter(
            f"there are {len(reference.communes):,} communes, not {communes:,}",
            param_hint="--communes",
        )
    selected = len(reference.communes) if communes is None else communes
    total = expected_report_count(selected, revisions)
    reports = generate_reports(
        reference, catalogue, period=period, seed=seed, communes=communes, revisions=revisions
    )
    # Keep stdout clean for the reports when they are written there.
    console = Console(stderr=output == STDIO)
    pacer = Pacer(rate)
    try:
        with _progress(console, "simulating" if output else "publishing", total) as advance:
            if output is not None:
                with open_output(output) as stream:
                    outcome = send_reports(
                        reports, JsonLinesWriter(stream), pacer=pacer, on_progress=advance
                    )
                destination = output if output != STDIO else "standard output"
            else:
                with ReportPublisher(
                    settings.kafka,
                    registry=registry_client(settings.schema_registry),
                    historic=historic,
                ) as publisher:
                    outcome = send_reports(
                        reports, publisher, pacer=pacer, flush=publisher.flush, on_progress=advance
                    )
                destination = publisher.topic
    except ReportFileError as exc:
        print_error("error", exc)
        raise typer.Exit(EXIT_FILE) from exc
    except PublishError as exc:
        print_kafka_failure(exc)
        raise typer.Exit(EXIT_KAFKA) from exc
    _print_simulate_summary(
        console, outcome, period=period, written=output is not None, destination=destination
    )


# -- the publish run -----------------------------------------------------------------------


def publishing_settings(*, historic: bool) -> Settings:
    """The settings of a publishing command, as the principal of its mode."""
    principal = Principal.HISTORIC_LOADER if historic else Principal.PUBLISHER
    return with_principal(Settings(), principal)


def _publish_file(
    settings: Settings,
    *,
    historic: bool,
    file: str,
    validate: bool,
    rejects_path: str | None,
    console: Console,
) -> PublishOutcome:
    reference, catalogue = load_reference(), load_catalogue()
    with (
        open_input(file) as stream,
        open_output(rejects_path) if rejects_path else nullcontext() as rejects_stream,
        ReportPublisher(
            settings.kafka, registry=registry_client(settings.schema_registry), historic=historic
        ) as publisher,
    ):
        size = _size_of(stream.fileno()) if file != STDIO else None
        reader = ReportLineReader(
            stream, reference=reference, catalogue=catalogue, validate=validate
        )
        progress = Progress(
            SpinnerColumn(),
            TextColumn("publishing {task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[lines]:,} lines"),
            TimeRemainingColumn(),
            console=console,
            disable=not console.is_terminal,
            transient=True,
        )
        with progress:
            task = progress.add_task(file, total=size, lines=0)
            return publish_lines(
                reader,
                publisher,
                rejects=RejectsWriter(rejects_stream),
                on_progress=lambda: progress.update(
                    task, completed=reader.bytes_read, lines=reader.lines_read
                ),
            )


def _size_of(fileno: int) -> int | None:
    """The byte size of a regular file, for the progress bar (a pipe has none)."""
    try:
        stat = os.fstat(fileno)
    except OSError:
        return None
    return stat.st_size if stat.st_size > 0 else None


@contextmanager
def _progress(console: Console, what: str, total: int) -> Iterator[Callable[[int], None]]:
    progress = Progress(
        SpinnerColumn(),
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    )
    with progress:
        task = progress.add_task(what, total=total)
        yield lambda done: progress.update(task, completed=done)


# -- what the operator reads ---------------------------------------------------------------


def print_publish_summary(
    console: Console,
    outcome: PublishOutcome,
    *,
    rejects_file: Path | None,
    unit: str = "lines",
    dry_run: bool = False,
) -> None:
    """What a publishing run did (``publish``; ``import`` counts rows, maybe as a dry run)."""
    rate = outcome.published / outcome.elapsed if outcome.elapsed > 0 else 0.0
    verb = "would publish" if dry_run else "published"
    console.print(
        f"{verb} {outcome.published:,}, rejected {outcome.rejected.lines:,} "
        f"(of {outcome.lines:,} {unit}, {outcome.elapsed:.1f}s, {rate:,.0f} reports/s)",
        soft_wrap=True,
    )
    if dry_run:
        console.print("dry run: nothing was published", soft_wrap=True, markup=False)
    if outcome.rejected:
        console.print(
            reason_table(
                outcome.rejected, title=f"Rejected {unit} (not published)", unit=unit.rstrip("s")
            )
        )
        if rejects_file is not None:
            console.print(f"rejected lines written to {rejects_file}", soft_wrap=True, markup=False)
    if outcome.published_invalid:
        invalid = outcome.published_invalid
        console.print(reason_table(invalid, title="Published although invalid"))
        console.print(
            f"--skip-validation: {invalid.lines:,} invalid reports were published; "
            "the stream will dead-letter them",
            soft_wrap=True,
            markup=False,
        )


def _print_simulate_summary(
    console: Console, outcome: SendOutcome, *, period: str, written: bool, destination: str
) -> None:
    verb = "wrote" if written else "published"
    console.print(
        f"{verb} {outcome.reports:,} reports ({outcome.reports - outcome.revisions:,} communes, "
        f"{outcome.revisions:,} revisions) for {period} to {destination} in "
        f"{outcome.elapsed:.1f}s ({outcome.rate:,.0f} reports/s)",
        soft_wrap=True,
        markup=False,
    )


def print_error(label: str, exc: Exception) -> None:
    Console(stderr=True).print(f"[red]{label}:[/red] {escape(str(exc))}", soft_wrap=True)


def print_kafka_failure(exc: PublishError) -> None:
    print_error("Kafka failure", exc)
    if isinstance(exc, DeliveryFailedError):
        Console(stderr=True).print(f"delivered {exc.delivered:,}, not delivered {exc.failed:,}")
