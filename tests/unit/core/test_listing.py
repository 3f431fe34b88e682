"""``print_listing``: the CLI's lists as JSON for scripts and as a table for people."""

from __future__ import annotations

import json
import re

import pytest

from baocao.core.listing import print_listing

ROWS = [
    {"login": "o01-1", "province": "01", "name": "Trần Văn Hùng", "disabled_at": None},
    {"login": "national-1", "province": None, "name": "Lê Thị Mai", "disabled_at": "2026-12-01"},
]
COLUMNS = {"login": "login", "province": "province", "disabled_at": "disabled"}


def test_json_keeps_every_key_and_the_vietnamese_letters(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_listing(ROWS, columns=COLUMNS, title="2 officer logins", as_json=True)
    out = capsys.readouterr().out
    assert json.loads(out) == ROWS
    assert "Trần Văn Hùng" in out  # not \u escapes


def test_the_table_shows_the_columns_asked_with_a_dash_for_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_listing(ROWS, columns=COLUMNS, title="2 officer logins", as_json=False)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].strip() == "2 officer logins"
    assert "disabled" in lines[2] and "name" not in lines[2]
    cells = {
        row[0]: row[1:]
        for row in ([c.strip() for c in re.split("[│┃]", line)[1:-1]] for line in lines)
        if row
    }
    assert cells["login"] == ["province", "disabled"]
    assert cells["o01-1"] == ["01", "-"]
    assert cells["national-1"] == ["-", "2026-12-01"]
