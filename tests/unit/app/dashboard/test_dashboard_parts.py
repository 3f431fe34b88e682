"""The dashboard's pure parts: its tile map, the packaged assets and the demo's dashboard
process."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from baocao.app.dashboard.links import dashboard_link
from baocao.app.dashboard.queries import tile_positions
from baocao.app.demo import dashboard_process, published_link
from baocao.core.reference import load_reference
from baocao.core.settings import Settings, StackSettings


def test_tile_map_places_every_province_once_north_to_south() -> None:
    tiles = tile_positions()
    assert set(tiles) == set(load_reference().provinces)
    assert len(set(tiles.values())) == 34
    assert tiles["04"][0] < tiles["01"][0] < tiles["48"][0] < tiles["79"][0] < tiles["96"][0]


def test_assets_ship_in_the_package_and_load_nothing_from_elsewhere() -> None:
    static = resources.files("baocao.app.dashboard").joinpath("static")
    page = static.joinpath("index.html").read_text("utf-8")
    script = static.joinpath("app.js").read_text("utf-8")
    assert "/static/app.js" in page and "/static/style.css" in page
    for text in (page, script, static.joinpath("style.css").read_text("utf-8")):
        assert "http://" not in text and "https://" not in text


def test_demo_dashboard_is_a_process_of_the_stack_home(tmp_path: Path) -> None:
    settings = Settings(stack=StackSettings(home=tmp_path))
    process = dashboard_process(settings, port=8799)
    assert process.name == "dashboard"
    assert process.home == tmp_path
    assert process.argv[-5:] == ("dashboard", "--host", "127.0.0.1", "--port", "8799")


def test_links_name_the_view_the_report_type_and_the_period() -> None:
    base = "http://127.0.0.1:8765/"
    assert (
        dashboard_link(base, report_type="monthly", period="2025-08")
        == "http://127.0.0.1:8765/#/?type=monthly&period=2025-08"
    )
    assert (
        dashboard_link(base, report_type="weekly", period="2025-W35", province="01")
        == "http://127.0.0.1:8765/#/p/01?type=weekly&period=2025-W35"
    )
    assert dashboard_link(base, report_type="daily", period="2025-08-31", commune="00070").endswith(
        "/#/c/00070?type=daily&period=2025-08-31"
    )
    with pytest.raises(ValueError, match="not both"):
        dashboard_link(base, report_type="monthly", period="2025-08", province="01", commune="x")


def test_the_demo_prints_the_link_to_the_month_it_published() -> None:
    assert published_link(8765, "2026-10") == "http://127.0.0.1:8765/#/?type=monthly&period=2026-10"
