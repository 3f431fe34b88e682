"""The provisioned Grafana dashboard as Grafana reads it: its panels' SQL and its variables,
substituted the way Grafana interpolates them (``tests/integration/test_grafana_panels.py``
runs them on the real server, ``test_bi_attacks.py`` as a province login)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

__all__ = ["DASHBOARDS", "panel_queries", "sqlstring", "substitute", "variable_queries"]

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))

_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(__\w+|\w+)")


def sqlstring(items: list[str]) -> str:
    """Grafana's ``sqlstring`` format: each value in single quotes, ``'`` doubled, joined by
    commas. Grafana does not escape a backslash, which ClickHouse reads as an escape."""
    return ",".join("'" + item.replace("'", "''") + "'" for item in items)


def substitute(sql: str, values: dict[str, list[str]]) -> str:
    """Grafana's variable interpolation for the formats the dashboard uses."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        fmt = match.group(2)
        if name not in values:
            raise AssertionError(f"the test does not know Grafana variable or macro ${name}")
        items = values[name]
        if fmt == "sqlstring":
            return sqlstring(items)
        if fmt == "raw" and len(items) == 1:
            return items[0]
        raise AssertionError(f"format {fmt!r} of ${name} is not quoted for SQL: use sqlstring")

    return _VARIABLE.sub(replace, sql)


def panel_queries(path: Path) -> list[tuple[str, str]]:
    """(panel title, SQL) of every target of every panel, rows nested in panels included."""
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    found: list[tuple[str, str]] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            walk(panel.get("panels") or [])
            for target in panel.get("targets") or []:
                assert target.get("editorType", "sql") == "sql", panel["title"]
                found.append((panel["title"], target["rawSql"]))

    walk(dashboard.get("panels") or [])
    return found


def variable_queries(path: Path) -> dict[str, str]:
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    return {
        variable["name"]: variable["query"]
        for variable in dashboard["templating"]["list"]
        if variable["type"] == "query"
    }
