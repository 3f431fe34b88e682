"""``print_listing``: the CLI's lists as JSON for scripts and as a table for people."""

from __future__ import annotations

import json
import re
from datetime import date, datetime

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


def test_json_writes_dates_and_times_in_iso_8601(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"ends_on": date(2025, 7, 31), "recorded_at": datetime(2025, 9, 10, 3, 0, 5)}]
    print_listing(rows, columns={"ends_on": "to"}, title="1 obligation", as_json=True)
    assert json.loads(capsys.readouterr().out) == [
        {"ends_on": "2025-07-31", "recorded_at": "2025-09-10T03:00:05"}
    ]


def test_a_narrow_terminal_wraps_values_and_cuts_none_short(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "30")
    print_listing(ROWS, columns=COLUMNS, title="2 officer logins", as_json=False)
    out = capsys.readouterr().out
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 30
    # Each value is all there, read down its column.
    column = ["".join(c.strip() for c in re.split("[│┃]", line)[1:2]) for line in out.splitlines()]
    assert "national-1" in "".join(column)
