"""``baocao template`` and ``baocao import``: reports from the spreadsheets communes fill in.

``import`` exit codes, as ``publish``'s: 0 every accepted row was delivered (rejected rows
allowed unless ``--strict``); 1 rows rejected with ``--strict``, or the file cannot be read;
2 Kafka failed.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table
from rich.text import Text

from baocao.core.catalogue import load_catalogue
from baocao.core.models import LOCAL_TIMEZONE
from baocao.core.periods import ReportType
from baocao.core.principals import Principal, with_principal
from baocao.core.reference import ReferenceData, load_reference
from baocao.core.registry import registry_client
from baocao.core.settings import Settings
from baocao.producers.commands import print_error, print_kafka_failure, print_publish_summary
from baocao.producers.exceptions import PublishError, ReportFileError
from baocao.producers.jsonl import ParsedLine, RejectsWriter, open_output
from baocao.producers.publisher import ReportPublisher
from baocao.producers.runs import DryRun, FlushingSink, PublishOutcome, publish_lines
from baocao.producers.spreadsheet.layout import template_columns
from baocao.producers.spreadsheet.reader import (
    ImportScope,
    SheetHeader,
    SheetLimits,
    SheetReader,
    open_sheet,
)
from baocao.producers.spreadsheet.template import write_template

__all__ = ["import_reports", "template"]

logger = logging.getLogger(__name__)

EXIT_REJECTED = 1
EXIT_FILE = 1
EXIT_KAFKA = 2
#: Rows listed cell by cell in the summary; all of them go to --rejects-file.
SHOWN_ROW_ERRORS = 50


def template(
    report_type: ReportType = typer.Option(
        ReportType.MONTHLY, "--report-type", "-t", help="Which report the sheet is for."
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        dir_okay=False,
        help="File to write, .xlsx or .csv (default: baocao-<report type>.xlsx).",
    ),
) -> None:
    """Write a spreadsheet template for one report type, ready for `baocao import`.

    Row 1 has the column names the import reads, row 2 their Vietnamese labels; one
    column per indicator of the report type (ratios are computed, never filled in).
    """
    path = output or Path(f"baocao-{report_type}.xlsx")
    columns = template_columns(load_catalogue(), report_type)
    try:
        write_template(path, columns, title=f"baocao {report_type}")
    except ReportFileError as exc:
        print_error("error", exc)
        raise typer.Exit(EXIT_FILE) from exc
    indicators = sum(1 for c in columns if c.indicator is not None)
    Console().print(
        f"wrote {path}: {report_type} template with {indicators} indicator columns",
        soft_wrap=True,
        markup=False,
    )


def import_reports(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="The filled-in sheet, .xlsx or .csv."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Check every row and print the summary; publish nothing."
    ),
    sheet: str | None = typer.Option(None, "--sheet", help="Sheet name (default: the first)."),
    rejects_file: Path | None = typer.Option(
        None,
        "--rejects-file",
        dir_okay=False,
        help="Write rejected rows to this file as JSON lines {line, reasons, raw}.",
    ),
    strict: bool = typer.Option(False, "--strict", help="Exit with code 1 if a row is rejected."),
    commune: str | None = typer.Option(
        None,
        "--commune",
        help="Only rows of this commune (5-digit code) are published; others are refused "
        "(outside_import_scope).",
    ),
    province: str | None = typer.Option(
        None,
        "--province",
        help="Only rows of this province's communes (2-digit code) are published.",
    ),
) -> None:
    """Publish the reports of a spreadsheet, one per row, checked with the pipeline's rules.

    A rejected row is listed with its row number, the column at fault and every
    reason; it is not published. A blank report_id is generated from commune, period
    and revision, so importing a sheet twice changes nothing. --commune or --province
    limits the rows it publishes; a file over BAOCAO_GATEWAY_IMPORT_MAX_BYTES or
    BAOCAO_GATEWAY_IMPORT_MAX_ROWS is refused before anything is published.
    """
    settings = with_principal(Settings(), Principal.PUBLISHER)
    console = Console()
    reference, catalogue = load_reference(), load_catalogue()
    scope = _scope(commune, province, reference=reference)
    limits = SheetLimits(
        max_bytes=settings.gateway.import_max_bytes, max_rows=settings.gateway.import_max_rows
    )
    now = datetime.now(LOCAL_TIMEZONE)
    errors = RowErrors()
    try:
        with (
            open_sheet(
                file,
                reference=reference,
                catalogue=catalogue,
                now=now,
                sheet=sheet,
                scope=scope,
                limits=limits,
            ) as reader,
            open_output(str(rejects_file)) if rejects_file else nullcontext() as rejects_stream,
            nullcontext(DryRun())
            if dry_run
            else ReportPublisher(
                settings.kafka, registry=registry_client(settings.schema_registry)
            ) as sink,
        ):
            errors.writer = RejectsWriter(rejects_stream)
            errors.header = reader.header
            outcome = _run(reader, sink, errors=errors, console=console, name=file.name)
    except ReportFileError as exc:
        print_error("error", exc)
        raise typer.Exit(EXIT_FILE) from exc
    except PublishError as exc:
        print_kafka_failure(exc)
        raise typer.Exit(EXIT_KAFKA) from exc
    print_publish_summary(console, outcome, rejects_file=rejects_file, unit="rows", dry_run=dry_run)
    if errors.rows:
        console.print(errors.table())
    if strict and outcome.rejected:
        raise typer.Exit(EXIT_REJECTED)


def _scope(
    commune: str | None, province: str | None, *, reference: ReferenceData
) -> ImportScope | None:
    if commune is not None and province is not None:
        raise typer.BadParameter("give --commune or --province, not both", param_hint="--commune")
    if commune is not None and commune not in reference.communes:
        raise typer.BadParameter(f"no commune {commune!r}", param_hint="--commune")
    if province is not None and province not in reference.provinces:
        raise typer.BadParameter(f"no province {province!r}", param_hint="--province")
    if commune is None and province is None:
        return None
    logger.info("import limited to %s", f"commune {commune}" if commune else f"province {province}")
    return ImportScope(commune_code=commune, province_code=province)


def _run(
    reader: SheetReader, sink: FlushingSink, *, errors: RowErrors, console: Console, name: str
) -> PublishOutcome:
    progress = Progress(
        SpinnerColumn(),
        TextColumn(f"importing {name}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    )
    with progress:
        task = progress.add_task(name, total=reader.total_rows)
        return publish_lines(
            reader,
            sink,
            rejects=errors,
            on_progress=lambda: progress.update(task, completed=reader.rows_read),
        )


class RowErrors:
    """Keeps the first rejected rows for the summary and writes all to a rejects file."""

    def __init__(self) -> None:
        self.rows: list[ParsedLine] = []
        self.total = 0
        self.writer: RejectsWriter = RejectsWriter(None)
        self.header: SheetHeader | None = None

    def write(self, parsed: ParsedLine) -> None:
        self.total += 1
        self.writer.write(parsed)
        if len(self.rows) < SHOWN_ROW_ERRORS:
            self.rows.append(parsed)

    def table(self) -> Table:
        more = self.total - len(self.rows)
        caption = f"and {more:,} more rows (all in --rejects-file)" if more > 0 else None
        table = Table(title="Rejected rows: fix these cells", title_justify="left", caption=caption)
        table.add_column("row", justify="right")
        table.add_column("column")
        table.add_column("reason", style="bold")
        table.add_column("message")
        for parsed in self.rows:
            for r in parsed.reasons:
                column = self.header.column_of(r.field) if self.header is not None else None
                table.add_row(
                    str(parsed.number),
                    column or r.field or "-",
                    str(r.code),
                    Text(f"{r.message_vi}\n{r.message_en}"),
                )
        return table
