"""The gateway reads ClickHouse only through views (issue 8): its SQL names no table the
sink's migrations create, so the sink may change its storage without breaking the status."""

from __future__ import annotations

import re
from pathlib import Path

import baocao.producers.gateway as gateway_package
from baocao.sinks.clickhouse.migrate import load_migrations

GATEWAY = Path(gateway_package.__file__).parent


def created(kind: str) -> set[str]:
    pattern = re.compile(rf"CREATE {kind} IF NOT EXISTS (\w+)")
    return {
        match[1]
        for migration in load_migrations()
        for statement in migration.statements()
        if (match := pattern.match(statement))
    }


def read_relations() -> set[str]:
    """Every relation named after FROM or JOIN in the gateway's Python sources."""
    names: set[str] = set()
    for source in GATEWAY.glob("*.py"):
        names |= set(re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", source.read_text(encoding="utf-8")))
    return names


def test_the_gateway_reads_views_and_no_sink_table() -> None:
    tables, views = created("TABLE"), created("VIEW")
    clickhouse = read_relations() & (tables | views)
    assert clickhouse == {
        "latest_commune_reports",
        "period_approvals",
        "rejected_reports",
        "returned_reports",
    }
    assert not clickhouse & tables
