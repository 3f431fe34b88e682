"""Fixtures shared by every test tier.

Integration and end-to-end tests talk to the real Kafka and ClickHouse that
``baocao stack up`` starts (``make test`` and ``.ci/run`` start them first). A server that
does not answer is a test *failure*, never a skip: CI must not pass without them.
Each test gets its own topics, ClickHouse database, consumer groups and worker state, so tests
never see each other's data.

Kafka authenticates every client (SASL/SCRAM) and authorizes each principal by ACLs. Tests
run as the stack's ``admin`` principal (from the stack home, like ``baocao stack``), and so do
the ``baocao`` subprocesses they start with these settings: a test prefix has no
per-principal ACLs unless a test asks for them (:func:`kafka_access`,
:func:`support.settings.as_principal`), which the attack tests and the SASL pipeline test do.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.settings import isolated

from baocao.core.logs import CLICKHOUSE_CONNECTION_LOGGER, configure_logging
from baocao.core.principals import Principal, with_principal
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
    ``secrets/clickhouse.json``) unless BAOCAO_CLICKHOUSE_USER names another login, and to
    Kafka as the stack's admin principal unless BAOCAO_KAFKA_SASL_USERNAME names another.
    Tests create and drop databases and topics, so they need both; the explicit logins reach
    every subprocess."""
    return with_principal(Settings().with_clickhouse_login("admin"), Principal.ADMIN)


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


@pytest.fixture
def db(test_settings: Settings, clickhouse_db: str) -> Iterator[Any]:
    """A client of the test's own database after ``baocao migrate`` (the views the dashboard
    and the export read); a module may define its own ``db`` instead."""
    from support.dashboard import migrated

    with migrated(test_settings) as client:
        yield client


@pytest.fixture
def kafka_access(test_settings: Settings) -> Iterator[list[Any]]:
    """The test's topics and the per-principal ACLs of its prefix, worker and sink group
    (what ``baocao stack up`` applies to the default prefix); both removed afterwards."""
    from support.gateway import drop_topics

    from baocao.app.stack.kafka_access import (
        PipelineNames,
        apply_kafka_access,
        remove_kafka_access,
    )

    names = PipelineNames.of(test_settings)
    yield apply_kafka_access(test_settings.kafka, names)
    remove_kafka_access(test_settings.kafka, names)
    drop_topics(test_settings, also=(f"{names.worker_app_id}-",))


@pytest.fixture
def configured_logging() -> Iterator[None]:
    """Logging as a command configures it (``configure_logging``); the loggers it changed are
    put back after the test."""
    connection = logging.getLogger(CLICKHOUSE_CONNECTION_LOGGER)
    kafka = logging.getLogger("kafka")
    filters, kafka_level = list(connection.filters), kafka.level
    configure_logging("INFO")
    yield
    connection.filters[:] = filters
    kafka.setLevel(kafka_level)
