"""Fixtures shared by every test tier.

Integration and end-to-end tests talk to the real Kafka and ClickHouse that
``baocao stack up`` starts (``make test`` and ``.ci/run`` start them first). A server that
does not answer is a test *failure*, never a skip: CI must not pass without them.
Each test gets its own topics, ClickHouse database, consumer groups and worker state, so tests
never see each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.settings import environment, isolated

from baocao.core.settings import Settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.fspath)
        if "/tests/integration/" in path:
            item.add_marker(pytest.mark.integration)
        if "/tests/e2e/" in path:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    """The settings the environment gives (defaults: the local stack), logging in to
    ClickHouse as the stack's administrator (``baocao_admin``, password from the stack home's
    ``secrets/clickhouse.json``) unless BAOCAO_CLICKHOUSE_USER names another login. Tests
    create and drop databases, so they need it; the explicit login reaches every subprocess."""
    return Settings().with_clickhouse_login("admin")


@pytest.fixture(scope="session")
def servers(base_settings: Settings) -> Settings:
    """Fail fast, with a hint, when the real servers are not running."""
    from clickhouse_driver import Client

    from baocao.core.kafka import wait_for_kafka

    wait_for_kafka(base_settings.kafka, timeout=30)
    ch = base_settings.clickhouse
    try:
        Client(
            host=ch.host, port=ch.port, user=ch.user, password=ch.password.get_secret_value()
        ).execute("SELECT 1")
    except Exception as exc:
        pytest.fail(
            f"ClickHouse at {ch.host}:{ch.port} is not answering ({exc}); "
            "run `baocao stack up` (make test does)"
        )
    return base_settings


@pytest.fixture
def unique_name() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def test_settings(servers: Settings, unique_name: str, tmp_path: Path) -> Settings:
    """Settings isolated for one test: own topic prefix, database, groups and worker state
    (the one settings fixture; :func:`support.settings.isolated` builds it)."""
    return isolated(servers, unique_name, tmp_path)


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment variables that make a `baocao` subprocess use ``settings`` (kept for
    callers outside the tests; tests use :func:`support.settings.environment`)."""
    return environment(settings, inherit=False)


@pytest.fixture
def clickhouse_db(test_settings: Settings) -> Iterator[str]:
    """The test's own ClickHouse database, dropped afterwards."""
    from clickhouse_driver import Client

    ch = test_settings.clickhouse
    client = Client(
        host=ch.host, port=ch.port, user=ch.user, password=ch.password.get_secret_value()
    )
    client.execute(f"CREATE DATABASE IF NOT EXISTS {ch.database}")
    yield ch.database
    client.execute(f"DROP DATABASE IF EXISTS {ch.database}")
    client.disconnect()
