"""Detached processes with pid files: start one, tell whether it still runs, stop it.

Rule: a process is known by its pid *and* its start time (``/proc/<pid>/stat``), never by a
pid alone, which the kernel reuses; every process registered under ``<home>/run/`` is stopped
by ``baocao stack down``. Files and an example: docs/stack.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from baocao.app.stack.exceptions import ProcessStartError, ProcessStopError

__all__ = [
    "ManagedProcess",
    "ProcessState",
    "ProcessStatus",
    "logs_dir",
    "private_dir",
    "private_umask",
    "run_dir",
    "tail_file",
]

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: How often a waiting loop looks at /proc again.
_POLL_SECONDS = 0.1
#: Children this Python process started, kept so that stopping them also reaps them (no
#: zombie, no "subprocess still running" warning from a forgotten Popen object).
_children: dict[int, subprocess.Popen[bytes]] = {}


def private_dir(path: Path) -> Path:
    """Create ``path`` (and its parents) if needed and make it the owner's alone (0700)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """Files and folders created meanwhile are the user's alone (umask 077)."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def run_dir(home: Path) -> Path:
    """Folder of the pid files and records of every managed process of a stack home."""
    return home / "run"


def logs_dir(home: Path) -> Path:
    """Folder of the log files of a stack home (one place for CI to collect)."""
    return home / "logs"


class ProcessState(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class ProcessStatus:
    """What is known about a managed process right now."""

    name: str
    state: ProcessState
    pid: int | None
    log_file: Path
    started_at: datetime | None
    argv: tuple[str, ...]

    @property
    def running(self) -> bool:
        return self.state is ProcessState.RUNNING


@dataclass(frozen=True, slots=True)
class _Record:
    """The content of ``run/<name>.json``."""

    name: str
    pid: int
    start_ticks: int
    argv: tuple[str, ...]
    cwd: str
    log_file: str
    started_at: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "pid": self.pid,
                "start_ticks": self.start_ticks,
                "argv": list(self.argv),
                "cwd": self.cwd,
                "log_file": self.log_file,
                "started_at": self.started_at,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> _Record:
        data: dict[str, Any] = json.loads(text)
        return cls(
            name=str(data["name"]),
            pid=int(data["pid"]),
            start_ticks=int(data["start_ticks"]),
            argv=tuple(str(arg) for arg in data["argv"]),
            cwd=str(data["cwd"]),
            log_file=str(data["log_file"]),
            started_at=str(data["started_at"]),
        )


class ManagedProcess:
    """One named background process of a stack home.

    ``env`` holds variables *added* to the current environment (the child inherits the rest).
    ``argv[0]`` is looked up on ``PATH`` when it has no slash, so the recorded command line is
    the one the kernel shows. Starting a process that already runs, or stopping one that does
    not, is a no-op: every method is safe to call twice.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        home: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        log_file: Path | None = None,
        stop_timeout: float = 20.0,
    ) -> None:
        if not _NAME.match(name):
            raise ValueError(f"process name {name!r} must be letters, digits, '.', '_' or '-'")
        if not argv:
            raise ValueError("argv must name a program")
        self.name = name
        self.argv: tuple[str, ...] = tuple(str(arg) for arg in argv)
        self.home = Path(home).absolute()
        self.env = dict(env) if env is not None else None
        self.cwd = Path(cwd).absolute() if cwd is not None else None
        self.log_file = (
            Path(log_file).absolute()
            if log_file is not None
            else logs_dir(self.home) / f"{name}.log"
        )
        self.stop_timeout = stop_timeout

    def __repr__(self) -> str:
        return f"ManagedProcess({self.name!r}, home={str(self.home)!r})"

    @property
    def pid_file(self) -> Path:
        return run_dir(self.home) / f"{self.name}.pid"

    @property
    def record_file(self) -> Path:
        return run_dir(self.home) / f"{self.name}.json"

    @classmethod
    def registered(cls, home: Path) -> list[ManagedProcess]:
        """Every process recorded under ``home/run/``, running or not, by name."""
        found: list[ManagedProcess] = []
        folder = run_dir(Path(home).absolute())
        for path in sorted(folder.glob("*.json")):
            record = _read_record(path)
            if record is None:
                continue
            found.append(
                cls(
                    record.name,
                    record.argv,
                    home=Path(home),
                    cwd=Path(record.cwd),
                    log_file=Path(record.log_file),
                )
            )
        return found

    def status(self) -> ProcessStatus:
        record = _read_record(self.record_file)
        if record is None or not _is_alive(record):
            return ProcessStatus(
                name=self.name,
                state=ProcessState.STOPPED,
                pid=None,
                log_file=self.log_file,
                started_at=None,
                argv=self.argv,
            )
        return ProcessStatus(
            name=self.name,
            state=ProcessState.RUNNING,
            pid=record.pid,
            log_file=Path(record.log_file),
            started_at=datetime.fromisoformat(record.started_at),
            argv=record.argv,
        )

    def is_running(self) -> bool:
        return self.status().running

    def start(self) -> ProcessStatus:
        """Start the process in its own session unless it already runs; return at once.

        Raises:
            ProcessStartError: the program cannot be executed.
        """
        current = self.status()
        if current.running:
            logger.info("%s already running (pid %d)", self.name, current.pid)
            return current
        self._forget()
        argv = self._resolved_argv()
        private_dir(self.home)
        private_dir(run_dir(self.home))
        private_dir(self.log_file.parent)
        env = {**os.environ, **self.env} if self.env is not None else None
        descriptor = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(descriptor, "ab") as log:
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            log.write(f"--- {stamp} starting {self.name}: {shlex.join(argv)}\n".encode())
            log.flush()
            try:
                child = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.cwd,
                    env=env,
                    start_new_session=True,
                    close_fds=True,
                    # Servers and clients create data only their user may read (Kafka
                    # segments, __cluster_metadata with SCRAM hashes, ClickHouse parts,
                    # RocksDB state, logs): 0600 files, 0700 folders.
                    umask=0o077,
                )
            except OSError as exc:
                raise ProcessStartError(f"cannot start {self.name} ({argv[0]}): {exc}") from exc
        _children[child.pid] = child
        ticks = _start_ticks(child.pid)
        if ticks is None:  # exited before we could look: report it as a failed start
            raise ProcessStartError(
                f"{self.name} exited at once; see {self.log_file}:\n{self.log_tail()}"
            )
        record = _Record(
            name=self.name,
            pid=child.pid,
            start_ticks=ticks,
            argv=argv,
            cwd=str(self.cwd or Path.cwd()),
            log_file=str(self.log_file),
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        _write_atomically(self.record_file, record.to_json())
        _write_atomically(self.pid_file, f"{child.pid}\n")
        logger.info("started %s (pid %d), log %s", self.name, child.pid, self.log_file)
        return self.status()

    def stop(self, *, timeout: float | None = None) -> bool:
        """Stop the process (SIGTERM, then SIGKILL after ``timeout``); return whether it ran.

        The signal goes to the process group the process leads, so helpers it spawned stop
        with it.

        Raises:
            ProcessStopError: the process survived SIGKILL (stuck in the kernel).
        """
        record = _read_record(self.record_file)
        if record is None or not _is_alive(record):
            self._forget()
            return False
        grace = self.stop_timeout if timeout is None else timeout
        logger.info("stopping %s (pid %d)", self.name, record.pid)
        _signal(record, signal.SIGTERM)
        if not _wait_gone(record, grace):
            logger.warning(
                "%s (pid %d) did not stop within %.0fs of SIGTERM; sending SIGKILL",
                self.name,
                record.pid,
                grace,
            )
            _signal(record, signal.SIGKILL)
            if not _wait_gone(record, 10.0):
                raise ProcessStopError(f"{self.name} (pid {record.pid}) survived SIGKILL")
        self._forget()
        return True

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the log file, for error messages."""
        return tail_file(self.log_file, lines)

    def _resolved_argv(self) -> tuple[str, ...]:
        program = self.argv[0]
        if "/" not in program:
            found = shutil.which(program)
            if found is None:
                raise ProcessStartError(f"cannot start {self.name}: {program} is not on PATH")
            program = found
        else:
            program = str(Path(program).absolute())
        return (program, *self.argv[1:])

    def _forget(self) -> None:
        self.pid_file.unlink(missing_ok=True)
        self.record_file.unlink(missing_ok=True)


def tail_file(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a (log) file, read from its end however large it is."""
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 64 * 1024))
            text = log.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join(text.splitlines()[-lines:])


def _read_record(path: Path) -> _Record | None:
    try:
        return _Record.from_json(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("ignoring unreadable process record %s: %s", path, exc)
        return None


def _write_atomically(path: Path, text: str) -> None:
    """Write through a temporary file, so a reader never sees half a record."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def _proc_stat(pid: int) -> list[str] | None:
    """Fields 3.. of ``/proc/<pid>/stat`` (state first), or None when there is no such pid."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) is in parentheses and may itself contain spaces or ')'.
    return raw[raw.rindex(")") + 2 :].split()


def _start_ticks(pid: int) -> int | None:
    fields = _proc_stat(pid)
    return int(fields[19]) if fields is not None else None  # field 22: starttime


def _is_alive(record: _Record) -> bool:
    """Whether the recorded process still runs (a zombie, dead but not reaped, does not)."""
    _reap(record.pid)
    fields = _proc_stat(record.pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return int(fields[19]) == record.start_ticks  # else the pid now belongs to another process


def _reap(pid: int) -> None:
    """Collect the exit status of a child of ours that ended, so it is not left a zombie."""
    child = _children.get(pid)
    if child is not None:
        if child.poll() is not None:
            del _children[pid]
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _signal(record: _Record, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(record.pid) == record.pid:
            os.killpg(record.pid, signum)
        else:
            os.kill(record.pid, signum)


def _wait_gone(record: _Record, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _is_alive(record):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_SECONDS)
    return True
