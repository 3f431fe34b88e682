"""The one way tests run ``baocao``: in-process (:func:`invoke`, Typer's runner), as a finished
command (:func:`run`), or in the background until the test ends (:func:`running`)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner, Result

from baocao.core.settings import Settings

__all__ = ["Background", "invoke", "run", "running", "running_pipeline"]


def invoke(
    *args: str,
    settings: Settings | None = None,
    input: str | None = None,
    app: typer.Typer | None = None,
    env: Mapping[str, str] | None = None,
) -> Result:
    """``baocao *args`` in this process (or ``app``, a Typer app holding some commands), with
    ``settings`` given through the environment as a subprocess would get them."""
    if app is None:
        from baocao.app.cli import app as baocao_app

        app = baocao_app
    environ = {**(settings.as_environment() if settings is not None else {}), **(env or {})}
    return CliRunner().invoke(app, list(args), env=environ or None, input=input)


def run(
    *args: str,
    env: Mapping[str, str],
    input: str | None = None,
    timeout: float = 300,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``python -m baocao *args`` to its end; with ``check`` a non-zero exit fails the test
    showing its output."""
    done = subprocess.run(
        [sys.executable, "-m", "baocao", *args],
        env=dict(env),
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check:
        assert done.returncode == 0, f"baocao {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


@dataclass
class Background:
    """A ``baocao`` process the test started, with its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def assert_running(self) -> None:
        """Fail at once (with its log) when the process has exited."""
        code = self.process.poll()
        assert code is None, f"baocao {self.name} exited ({code}):\n{self.log()[-4000:]}"

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; prints the tail of its log."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        print(f"--- {self.name} log (tail) ---\n{self.log()[-4000:]}")


def start(*args: str, env: Mapping[str, str], log_path: Path, **popen: Any) -> Background:
    """``python -m baocao *args`` in the background, stdout and stderr into ``log_path``."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "baocao", *args],
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            **popen,
        )
    return Background(name=" ".join(args), process=process, log_path=log_path)


@contextmanager
def running(
    *args: str, env: Mapping[str, str], log_path: Path, stop_timeout: float = 30
) -> Iterator[Background]:
    """:func:`start`, stopped (and its log printed) when the block ends."""
    background = start(*args, env=env, log_path=log_path)
    try:
        yield background
    finally:
        background.stop(stop_timeout)


@contextmanager
def running_pipeline(env: Mapping[str, str], log_dir: Path) -> Iterator[None]:
    """``baocao migrate``, then a real worker and sink until the block ends (their logs in
    ``log_dir``, kept)."""
    migrated = run("migrate", env=env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    processes = [
        start(name, env=env, log_path=log_dir / f"{name}.log") for name in ("worker", "sink")
    ]
    try:
        yield
    finally:
        for process in processes:
            process.stop()
