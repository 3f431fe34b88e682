"""The ``baocao`` command: one entry point for operators, analysts and scripts.

Each command lives with the code it drives (``baocao.streams.commands.worker`` runs the
stream processors, ``baocao.sinks.commands.sink`` the ClickHouse sink, ...); this module only
assembles them.
"""

from __future__ import annotations

import typer

from baocao.app.bi.commands import bi_app
from baocao.app.commands import demo, indicators
from baocao.app.dashboard.commands import dashboard
from baocao.app.export.commands import export
from baocao.app.stack.commands import kafka_access, stack_app
from baocao.core.logs import configure_logging
from baocao.producers.approve import approve
from baocao.producers.commands import publish, simulate
from baocao.producers.gateway.commands import gateway, tokens_app
from baocao.producers.spreadsheet.commands import import_reports, template
from baocao.sinks.commands import migrate, sink
from baocao.streams.commands import worker

__all__ = ["app"]

app = typer.Typer(
    name="baocao",
    help="Commune-to-province reporting pipeline: Avro on Kafka, Faust roll-ups, ClickHouse views.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(
    log_level: str = typer.Option(
        "INFO",
        "--log-level",
        envvar="BAOCAO_LOG_LEVEL",
        help="Logging level (DEBUG, INFO, WARNING, ERROR).",
    ),
) -> None:
    configure_logging(log_level)


app.add_typer(stack_app, name="stack")
app.command("kafka-access")(kafka_access)
app.add_typer(bi_app, name="bi")
app.command()(migrate)
app.command()(worker)
app.command()(sink)
app.command()(publish)
app.command()(simulate)
app.command()(approve)
app.command()(gateway)
app.add_typer(tokens_app, name="tokens")
app.command("import")(import_reports)
app.command()(template)
app.command()(indicators)
app.command()(demo)
app.command()(dashboard)
app.command()(export)
