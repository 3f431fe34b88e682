"""``baocao backup`` and ``baocao restore``: the state that is not rebuilt from the Kafka log.

Kafka is the record of every report, decision and figure; ClickHouse and the worker's state
are rebuilt from it (``baocao rebuild``). What is *not* in the log is kept here, in one
archive (mode 0600: it holds passwords):

* the stack home's secrets: ``secrets/`` (ClickHouse service passwords),
  ``kafka/credentials/`` (the Kafka principals), ``bi/credentials.json`` (BI logins);
* the gateway's SQLite database (API token hashes, the record of submissions), copied with
  SQLite's online backup, which gives a consistent copy while the gateway writes.

Restore puts each back with its mode (files 0600, folders 0700) and refuses to overwrite
what exists unless told to (``--force``); stop the stack first (docs/operations.md).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import typer

from baocao.core.settings import Settings

__all__ = ["BackupError", "backup", "backup_state", "restore", "restore_state"]

logger = logging.getLogger(__name__)

#: Paths under the stack home that hold secrets (files or folders).
SECRET_PATHS = ("secrets", "kafka/credentials", "bi/credentials.json")
#: The gateway's database inside the archive.
GATEWAY_MEMBER = "gateway/gateway.db"


class BackupError(Exception):
    """The archive cannot be written or restored as asked."""


@dataclass(frozen=True, slots=True)
class Saved:
    archive: Path
    members: tuple[str, ...]


def backup_state(settings: Settings, archive: Path) -> Saved:
    """Write the secrets and the gateway's database into ``archive`` (a .tar.gz, 0600)."""
    home = settings.stack.home.absolute()
    members: list[str] = []
    archive.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(archive, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(descriptor)
    with tempfile.TemporaryDirectory() as scratch, tarfile.open(archive, "w:gz") as tar:
        for name in SECRET_PATHS:
            path = home / name
            if path.exists():
                tar.add(path, arcname=name)
                members.append(name)
        database = settings.gateway.db_path
        if database.exists():
            copy = Path(scratch) / "gateway.db"
            _online_copy(database, copy)
            os.chmod(copy, 0o600)
            tar.add(copy, arcname=GATEWAY_MEMBER)
            members.append(GATEWAY_MEMBER)
    os.chmod(archive, 0o600)
    if not members:
        raise BackupError(f"nothing to back up under {home} nor at {settings.gateway.db_path}")
    return Saved(archive, tuple(members))


def _online_copy(source: Path, target: Path) -> None:
    """SQLite's backup API: a consistent copy even while another process writes."""
    with sqlite3.connect(source) as origin, sqlite3.connect(target) as copy:
        origin.backup(copy)
    copy.close()


def restore_state(settings: Settings, archive: Path, *, force: bool = False) -> tuple[str, ...]:
    """Put the archive's secrets back under the stack home and its gateway database at
    ``BAOCAO_GATEWAY_DB_PATH``; return what was restored."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            return _restore(tar, settings, force=force)
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"cannot restore {archive}: {exc}") from exc


def _restore(tar: tarfile.TarFile, settings: Settings, *, force: bool) -> tuple[str, ...]:
    home = settings.stack.home.absolute()
    entries = tar.getmembers()
    targets = {entry.name: _target(entry.name, home, settings) for entry in entries}
    saved = sorted(n for n in targets if n in (*SECRET_PATHS, GATEWAY_MEMBER))
    present = [str(targets[n]) for n in saved if targets[n].exists()]
    if present and not force:
        raise BackupError(
            f"{', '.join(present)} exist already: stop the stack and pass --force to overwrite them"
        )
    for entry in entries:
        target = targets[entry.name]
        if entry.isdir():
            target.mkdir(parents=True, exist_ok=True, mode=0o700)
        elif entry.isfile():
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            source = tar.extractfile(entry)
            assert source is not None
            descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                out.write(source.read())
        else:
            raise BackupError(f"{entry.name} is neither a file nor a folder")
        target.chmod(entry.mode & 0o777)
    return tuple(saved)


def _target(name: str, home: Path, settings: Settings) -> Path:
    """Where the archive member ``name`` goes; a name outside the known paths is refused."""
    if name == GATEWAY_MEMBER:
        return settings.gateway.db_path
    if any(name == p or name.startswith(f"{p}/") for p in SECRET_PATHS) and ".." not in name:
        return home / name
    raise BackupError(f"the archive holds {name!r}, which is not part of a baocao backup")


def backup(
    archive: Path = typer.Argument(..., help="The .tar.gz to write (mode 0600)."),
) -> None:
    """Back up the state that is not rebuilt from Kafka: the stack home's secrets and the
    gateway's database (consistent while the gateway runs). See docs/operations.md."""
    try:
        saved = backup_state(Settings(), archive)
    except (BackupError, OSError, sqlite3.Error) as exc:
        logger.error("%s", exc)
        raise typer.Exit(1) from exc
    typer.echo(f"backed up {', '.join(saved.members)} into {saved.archive}")


def restore(
    archive: Path = typer.Argument(..., help="A .tar.gz written by `baocao backup`."),
    force: bool = typer.Option(False, "--force", help="Overwrite files that exist."),
) -> None:
    """Restore what `baocao backup` saved, with its modes. Stop the stack first."""
    try:
        restored = restore_state(Settings(), archive, force=force)
    except (BackupError, OSError) as exc:
        logger.error("%s", exc)
        raise typer.Exit(1) from exc
    typer.echo(f"restored {', '.join(restored)} from {archive}")
