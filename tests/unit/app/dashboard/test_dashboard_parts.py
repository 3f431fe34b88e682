"""The dashboard's pure parts: its tile map, the commune status words, the packaged assets,
and the demo's dashboard process."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from baocao.app.dashboard.queries import commune_status, tile_positions
from baocao.app.demo import dashboard_process
from baocao.core.reference import load_reference
from baocao.core.settings import Settings, StackSettings


def test_tile_map_places_every_province_once_north_to_south() -> None:
    tiles = tile_positions()
    assert set(tiles) == set(load_reference().provinces)
    assert len(set(tiles.values())) == 34
    assert tiles["04"][0] < tiles["01"][0] < tiles["48"][0] < tiles["79"][0] < tiles["96"][0]


def test_commune_status_words() -> None:
    assert commune_status(reported=True, on_time=1, rejected=True) == "on_time"
    assert commune_status(reported=True, on_time=0, rejected=False) == "late"
    assert commune_status(reported=True, on_time=None, rejected=False) == "reported"
    assert commune_status(reported=False, on_time=None, rejected=True) == "rejected"
    assert commune_status(reported=False, on_time=None, rejected=False) == "missing"


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
