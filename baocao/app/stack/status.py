"""The state of each part of the stack, as a table for people and as JSON for scripts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from rich.table import Table

__all__ = ["ComponentState", "ComponentStatus", "render_table", "to_json"]


class ComponentState(StrEnum):
    #: The process runs and answered its health check (servers), or simply runs (others).
    RUNNING = "running"
    #: The process runs but its server did not answer.
    UNHEALTHY = "unhealthy"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    """One row of ``baocao stack status``."""

    component: str
    state: ComponentState
    pid: int | None
    ports: tuple[int, ...]
    data_dir: Path | None
    log_file: Path
    #: What the health check found; empty for processes without one (worker, sink).
    health: str

    @property
    def healthy(self) -> bool:
        return self.state is ComponentState.RUNNING

    def as_dict(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "state": self.state.value,
            "healthy": self.healthy,
            "pid": self.pid,
            "ports": list(self.ports),
            "data_dir": str(self.data_dir) if self.data_dir else None,
            "log_file": str(self.log_file),
            "health": self.health,
        }


_STYLE = {
    ComponentState.RUNNING: "green",
    ComponentState.UNHEALTHY: "yellow",
    ComponentState.STOPPED: "red",
}


def render_table(statuses: list[ComponentStatus], *, home: Path, title: str | None = None) -> Table:
    """The status rows; paths below ``home`` are shown relative to it to keep rows short."""
    table = Table(title=title, title_justify="left")
    for column in ("component", "state", "pid", "ports"):
        table.add_column(column, no_wrap=True)
    for column in ("data", "log", "health"):
        table.add_column(column, overflow="fold")
    for status in statuses:
        table.add_row(
            status.component,
            f"[{_STYLE[status.state]}]{status.state.value}[/]",
            str(status.pid) if status.pid else "-",
            " ".join(str(port) for port in status.ports) or "-",
            _short(status.data_dir, home) if status.data_dir else "-",
            _short(status.log_file, home),
            status.health or "-",
        )
    return table


def _short(path: Path, home: Path) -> str:
    return str(path.relative_to(home)) if path.is_relative_to(home) else str(path)


def to_json(statuses: list[ComponentStatus]) -> str:
    return json.dumps([status.as_dict() for status in statuses], indent=2)
