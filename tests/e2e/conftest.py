"""The end-to-end tests' pipeline: the test's database migrated, and a real worker and sink
(``baocao worker``, ``baocao sink`` as subprocesses) on the test's topics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import run, start
from support.settings import environment

from baocao.core.settings import Settings


@pytest.fixture
def env(test_settings: Settings) -> dict[str, str]:
    return environment(test_settings, BAOCAO_LOG_LEVEL="INFO")


@pytest.fixture
def pipeline(env: dict[str, str], tmp_path: Path, clickhouse_db: str) -> Iterator[None]:
    """Migrated database plus a running worker and sink, stopped (and their logs kept) after."""
    migrated = run("migrate", env=env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    processes = [
        start(name, env=env, log_path=tmp_path / f"{name}.log") for name in ("worker", "sink")
    ]
    yield
    for process in processes:
        process.stop()
