"""The ``baocao`` command: one entry point for operators, analysts and scripts.

Rule: each command lives with the code it drives; this module only names them, and a
command's module is imported when that command runs (or ``--help`` lists it), never when
``baocao`` starts, which the sink's cold start pays for (docs/stack.md).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

import typer
from typer.core import TyperGroup

from baocao.core.logs import configure_logging

__all__ = ["COMMANDS", "app"]

#: Command name -> ``"module:attribute"`` of its function (or of its ``typer.Typer`` group).
COMMANDS: dict[str, str] = {
    "kafka-access": "baocao.app.stack.commands:kafka_access",
    "migrate": "baocao.sinks.commands:migrate",
    "compact": "baocao.app.compact:compact_command",
    "worker": "baocao.streams.commands:worker",
    "sink": "baocao.sinks.commands:sink",
    "publish": "baocao.producers.commands:publish",
    "simulate": "baocao.producers.commands:simulate",
    "approve": "baocao.producers.approve:approve",
    "obligations": "baocao.producers.obligations:obligations_app",
    "gateway": "baocao.producers.gateway.commands:gateway",
    "import": "baocao.producers.spreadsheet.commands:import_reports",
    "template": "baocao.producers.spreadsheet.commands:template",
    "indicators": "baocao.app.commands:indicators",
    "demo": "baocao.app.commands:demo",
    "dashboard": "baocao.app.commands:dashboard",
    "export": "baocao.app.export.commands:export",
    "stack": "baocao.app.stack.commands:stack_app",
    "bi": "baocao.app.bi.commands:bi_app",
    "tokens": "baocao.producers.gateway.commands:tokens_app",
    "rebuild": "baocao.app.rebuild.commands:rebuild_app",
    "backup": "baocao.app.stack.backup:backup",
    "restore": "baocao.app.stack.backup:restore",
    "clerks": "baocao.producers.gateway.clerks:clerks_app",
    "officers": "baocao.app.dashboard.officers_cli:officers_app",
    "contacts": "baocao.app.dashboard.contacts_cli:contacts_app",
    "notifier": "baocao.app.notifier.commands:notifier",
}


# Click's types are written ``Any`` here: recent Typer releases vendor their own click
# (``typer._click``), older ones use click itself; this module works with either.


def load_command(name: str) -> Any:
    """The click command ``name`` names in :data:`COMMANDS`, its module imported now."""
    module, attribute = COMMANDS[name].split(":")
    target = getattr(import_module(module), attribute)
    if isinstance(target, typer.Typer):
        group = typer.main.get_group(target)
        group.name = name
        return group
    single = typer.Typer(add_completion=False)
    single.command(name)(target)
    return typer.main.get_command(single)


class LazyCommands(TyperGroup):
    """A group whose commands are built from :data:`COMMANDS` on first use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.add_command(load_command(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)


app = typer.Typer(
    name="baocao",
    cls=LazyCommands,
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
