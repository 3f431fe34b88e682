"""Deadline and worker-clock settings: environment prefixes, checks, and child environments."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from baocao.core.settings import DeadlineSettings, Settings, WorkerSettings


def test_deadline_defaults_are_the_documented_ones() -> None:
    rules = DeadlineSettings()

    assert (
        rules.daily_days,
        rules.weekly_days,
        rules.monthly_days,
        rules.quarterly_days,
        rules.yearly_days,
        rules.lock_days,
        rules.amendments_after_lock,
        rules.alert_horizon_hours,
    ) == (1, 2, 5, 10, 15, 30, "reject", 72.0)


def test_deadlines_and_the_worker_clock_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BAOCAO_DEADLINES_MONTHLY_DAYS", "7")
    monkeypatch.setenv("BAOCAO_DEADLINES_AMENDMENTS_AFTER_LOCK", "accept")
    monkeypatch.setenv("BAOCAO_WORKER_CLOCK_OFFSET_SECONDS", "-3600")
    monkeypatch.setenv("BAOCAO_WORKER_SCHEDULE_INTERVAL_SECONDS", "2.5")

    settings = Settings()

    assert (settings.deadlines.monthly_days, settings.deadlines.amendments_after_lock) == (
        7,
        "accept",
    )
    assert (settings.worker.clock_offset_seconds, settings.worker.schedule_interval_seconds) == (
        -3600.0,
        2.5,
    )


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        (DeadlineSettings, "amendments_after_lock", "maybe"),
        (DeadlineSettings, "lock_days", -1),
        (DeadlineSettings, "monthly_days", -5),
        (WorkerSettings, "schedule_interval_seconds", 0),
    ],
)
def test_impossible_values_are_refused(model: type, field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        model(**{field: value})


def test_a_child_process_gets_the_same_deadlines() -> None:
    settings = Settings(deadlines=DeadlineSettings(lock_days=3, amendments_after_lock="accept"))

    environment = settings.as_environment()

    assert environment["BAOCAO_DEADLINES_LOCK_DAYS"] == "3"
    assert environment["BAOCAO_DEADLINES_AMENDMENTS_AFTER_LOCK"] == "accept"
    assert environment["BAOCAO_WORKER_CLOCK_OFFSET_SECONDS"] == "0.0"
