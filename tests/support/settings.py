"""Settings of the tests: the documented deadline rules, one test's isolated settings, and the
environment that hands settings to a ``baocao`` subprocess.

The ``test_settings`` fixture (``tests/conftest.py``) is built by :func:`isolated`; tests that
need a variation copy it (``settings.model_copy(update=...)``) rather than building their own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from baocao.core.clickhouse import connect
from baocao.core.principals import Principal, resolve_kafka
from baocao.core.settings import (
    ClickHouseSettings,
    DeadlineSettings,
    KafkaSettings,
    Settings,
    SinkSettings,
    StackSettings,
    WorkerSettings,
)

__all__ = ["RULES", "as_principal", "environment", "isolated"]

#: The documented default deadline rules (monthly reports due 5 days after the month, ...),
#: spelled out so a change of the defaults shows up as a failing test, not a silent shift.
RULES = DeadlineSettings(
    daily_days=1,
    weekly_days=2,
    monthly_days=5,
    quarterly_days=10,
    yearly_days=15,
    lock_days=30,
    alert_horizon_hours=72,
)


def isolated(base: Settings, name: str, tmp_path: Path) -> Settings:
    """``base`` with everything a test could share made its own: topic prefix, database,
    worker id and state, sink group (all named ``name``)."""
    return Settings(
        kafka=KafkaSettings(**{**base.kafka.model_dump(), "topic_prefix": name}),
        clickhouse=ClickHouseSettings(**{**base.clickhouse.model_dump(), "database": name}),
        worker=WorkerSettings(
            **{
                **base.worker.model_dump(),
                "app_id": f"{name}-rollup",
                "data_dir": tmp_path / "worker",
                "web_port": 0,
            }
        ),
        sink=SinkSettings(**{**base.sink.model_dump(), "group_id": f"{name}-sink"}),
        stack=StackSettings(**base.stack.model_dump()),
    )


def environment(settings: Settings, *, inherit: bool = True, **extra: str) -> dict[str, str]:
    """Environment variables that make a ``baocao`` subprocess use ``settings`` (on top of this
    process's environment unless ``inherit`` is false), plus ``extra`` (e.g.
    ``BAOCAO_LOG_LEVEL="INFO"``)."""
    base = dict(os.environ) if inherit else {}
    return {**base, **settings.as_environment(), **extra}


def as_principal(settings: Settings, principal: Principal) -> Settings:
    """``settings`` whose Kafka clients log in as ``principal`` (its credential from the
    stack home) instead of the admin the tests run as."""
    anonymous = settings.kafka.model_copy(
        update={"sasl_username": "", "sasl_password": SecretStr(""), "security_protocol": None}
    )
    return settings.model_copy(
        update={"kafka": resolve_kafka(anonymous, settings.stack, principal)}
    )


def query(
    settings: Settings, sql: str, params: dict[str, Any] | None = None
) -> list[tuple[Any, ...]]:
    """``sql``'s rows in ``settings``' database, on a connection of its own."""
    client = connect(settings.clickhouse)
    try:
        return list(client.execute(sql, params))
    finally:
        client.disconnect()
