"""The end-to-end tests' pipeline: the test's database migrated, and a real worker and sink
(``baocao worker``, ``baocao sink`` as subprocesses) on the test's topics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import running_pipeline
from support.settings import environment

from baocao.core.settings import Settings


@pytest.fixture
def env(test_settings: Settings) -> dict[str, str]:
    return environment(test_settings, BAOCAO_LOG_LEVEL="INFO")


@pytest.fixture
def pipeline(env: dict[str, str], tmp_path: Path, clickhouse_db: str) -> Iterator[None]:
    """Migrated database plus a running worker and sink, stopped (and their logs kept) after."""
    with running_pipeline(env, tmp_path):
        yield
