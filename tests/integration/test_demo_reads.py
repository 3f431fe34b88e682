"""What ``baocao demo`` reads back from ClickHouse, on a migrated per-test database holding the
dashboard's known month: its wait for the published figures and its provincial table."""

from __future__ import annotations

import pytest
from rich.console import Console
from support.dashboard import HANOI, PERIOD, migrated, seed

from baocao.app.demo import _provincial_table, _wait_for_figures
from baocao.core.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(test_settings: Settings, clickhouse_db: str) -> Settings:
    with migrated(test_settings) as client:
        seed(client)
    return test_settings


def test_the_table_and_the_wait_read_the_views_by_column_name(settings: Settings) -> None:
    [row] = _provincial_table(settings, PERIOD)
    assert (row["code"], row["name"], row["reported"]) == (HANOI, "Thành phố Hà Nội", 2)
    assert row["expected"] == 126 and row["values"] == {"tthc_received": 30.0}

    # Returns at once: the figures in the view are the published ones.
    _wait_for_figures(
        settings, PERIOD, {HANOI: (30.0, 2)}, [], timeout=5, console=Console(quiet=True)
    )
