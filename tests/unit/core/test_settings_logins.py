"""Which ClickHouse login a process uses: its role's generated one unless the environment
names another (``ClickHouseSettings.for_login``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from baocao.core.credentials import ensure_passwords, load_passwords
from baocao.core.settings import (
    CLICKHOUSE_LOGINS,
    ClickHouseSettings,
    Settings,
    StackSettings,
    clickhouse_logins_path,
)


@pytest.fixture
def logins(tmp_path: Path) -> dict[str, str]:
    return ensure_passwords(clickhouse_logins_path(tmp_path), CLICKHOUSE_LOGINS.values())


@pytest.mark.parametrize("role", ["admin", "sink", "reader", "notifier"])
def test_each_role_logs_in_with_its_own_generated_login(
    tmp_path: Path, logins: dict[str, str], role: str
) -> None:
    settings = Settings(stack=StackSettings(home=tmp_path)).with_clickhouse_login(role)  # type: ignore[arg-type]
    user = CLICKHOUSE_LOGINS[role]
    assert settings.clickhouse.user == user
    assert settings.clickhouse.password.get_secret_value() == logins[user]


def test_an_explicit_user_wins_for_every_role(tmp_path: Path, logins: dict[str, str]) -> None:
    explicit = ClickHouseSettings(user="someone", password="pw", logins_file=tmp_path / "x")  # type: ignore[arg-type]
    assert explicit.for_login("sink") is explicit


def test_without_the_file_a_process_falls_back_to_default(tmp_path: Path) -> None:
    settings = ClickHouseSettings(logins_file=tmp_path / "missing.json").for_login("admin")
    assert settings.user == "default"


def test_the_environment_of_a_child_carries_no_resolved_login(
    tmp_path: Path, logins: dict[str, str]
) -> None:
    """The demo starts its sink with ``as_environment()``: the sink must resolve its own role,
    not inherit the parent's administrator."""
    parent = Settings(stack=StackSettings(home=tmp_path))
    env = parent.as_environment()
    assert env["BAOCAO_CLICKHOUSE_USER"] == "" and env["BAOCAO_CLICKHOUSE_PASSWORD"] == ""
    assert load_passwords(clickhouse_logins_path(tmp_path)) == logins
