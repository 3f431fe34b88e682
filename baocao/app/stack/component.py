"""What every server of the stack offers the commands, whatever the server is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from baocao.app.stack.process import ManagedProcess

__all__ = ["Component", "Health"]


@dataclass(frozen=True, slots=True)
class Health:
    """The answer to one real protocol request (Kafka metadata, ClickHouse ``SELECT 1``)."""

    ok: bool
    #: What the server said ("cluster Xy.., 1 broker", "ClickHouse 18.16.1") or why it failed.
    detail: str


class Component(Protocol):
    """A server the stack runs: its files, its process and how to ask it whether it works."""

    name: str
    process: ManagedProcess
    #: The folder of its data (kept across restarts) and its main log file.
    data_dir: Path
    log_file: Path

    @property
    def ports(self) -> tuple[int, ...]: ...

    def prepare(self) -> None:
        """Write its configuration and initialise its data folder if needed (idempotent)."""
        ...

    def probe(self, *, timeout: float) -> Health:
        """Ask the server over its own protocol whether it serves requests."""
        ...
