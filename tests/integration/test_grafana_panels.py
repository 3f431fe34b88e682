"""Every SQL of the provisioned Grafana dashboard runs on the real ClickHouse and has the
columns its panel expects.

The dashboard JSON is read as Grafana reads it: every panel target's ``rawSql`` and every
template variable's query. The Grafana variables they use are substituted with concrete values
(``${period}`` -> ``2025-08``, ``${province:singlequote}`` -> ``'01','79'``); a macro or variable
this test does not know fails the test, so a new one is never run half-substituted.

The data comes from the real pipeline: a test database migrated with ``baocao migrate``, the
``worker`` and ``sink`` running as subprocesses, and a handful of reports published with
``baocao publish`` (two provinces, a correction, a soft-rule break and a refused report).
A panel whose SQL does not run (a view or column missing) FAILS; it is never skipped.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from clickhouse_driver import Client
from support.cli import Background, run, start
from support.grafana import DASHBOARDS, panel_queries, substitute, variable_queries
from support.settings import environment
from support.wait import eventually

from baocao.core.reference import load_reference
from baocao.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PROVINCES = ("01", "79")
VIETNAM = timedelta(hours=7)

#: Column kinds, from ClickHouse type names (Nullable/LowCardinality stripped).
STR, NUM, TIME = "string", "number", "time"


@dataclass(frozen=True)
class Expected:
    columns: tuple[tuple[str, str], ...]
    #: Rows the test's reports must produce at least. 0 where rows depend on the wall clock
    #: (missing communes appear once the worker tracks the period) or on `baocao approve`.
    min_rows: int = 1


PANELS: dict[str, Expected] = {
    "National completeness": Expected(
        (
            ("report_type", STR),
            ("communes_expected", NUM),
            ("communes_reported", NUM),
            ("communes_on_time", NUM),
            ("communes_late", NUM),
            ("communes_missing", NUM),
            ("completeness_pct", NUM),
            ("timeliness_pct", NUM),
        )
    ),
    "Completeness and timeliness per province": Expected(
        (
            ("province_code", STR),
            ("report_type", STR),
            ("communes_expected", NUM),
            ("communes_reported", NUM),
            ("communes_on_time", NUM),
            ("communes_late", NUM),
            ("communes_missing", NUM),
            ("completeness_pct", NUM),
            ("timeliness_pct", NUM),
            ("deadline", TIME),
        ),
        min_rows=len(PROVINCES),
    ),
    "Missing communes": Expected(
        (
            ("province_code", STR),
            ("commune_code", STR),
            ("commune_name", STR),
            ("report_type", STR),
            ("deadline", TIME),
            ("overdue", NUM),
        ),
        min_rows=0,
    ),
    "Key indicators per province": Expected(
        (
            ("province_code", STR),
            ("province_name", STR),
            ("status", STR),
            ("tthc_on_time_pct", NUM),
            ("tthc_received", NUM),
            ("disbursement_pct", NUM),
            ("budget_revenue", NUM),
            ("traffic_accidents", NUM),
            ("communes_reported", NUM),
            ("communes_expected", NUM),
            ("communes_with_warnings", NUM),
        ),
        min_rows=len(PROVINCES),
    ),
    "National totals": Expected(
        (
            ("indicator_code", STR),
            ("value", NUM),
            ("provinces_reported", NUM),
            ("communes_reported", NUM),
            ("communes_expected", NUM),
        )
    ),
    "Rejections by reason": Expected((("reason_code", STR), ("rejections", NUM))),
    "Warnings by rule": Expected((("rule_code", STR), ("warnings", NUM))),
    "Approvals": Expected(
        (
            ("province_code", STR),
            ("report_type", STR),
            ("approved_by", STR),
            ("approved_at", TIME),
        ),
        min_rows=0,
    ),
    "Latest figure changes": Expected(
        (
            ("known_at", TIME),
            ("province_code", STR),
            ("indicator_code", STR),
            ("previous_value", NUM),
            ("value", NUM),
        )
    ),
}


def kind_of(clickhouse_type: str) -> str:
    inner = clickhouse_type
    while (match := re.fullmatch(r"(?:Nullable|LowCardinality)\((.*)\)", inner)) is not None:
        inner = match.group(1)
    if re.match(r"(String|FixedString|Enum)", inner):
        return STR
    if re.match(r"(U?Int\d+|Float\d+|Decimal|Bool)", inner):
        return NUM
    if re.match(r"(Date|DateTime)", inner):
        return TIME
    return inner


# -- the pipeline ------------------------------------------------------------------------------


def _previous_month() -> str:
    """Last month in Vietnam: past its end, open for reports (the deadline lock is 30 days
    after the 5th of this month), whatever day the test runs."""
    today = (datetime.now(UTC) + VIETNAM).date()
    last = today.replace(day=1) - timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


def _reports(period: str) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """The published lines and the expected tthc_received per province."""
    reference = load_reference()
    submitted = datetime.now(UTC).isoformat()
    lines: list[dict[str, Any]] = []
    received: dict[str, float] = {}
    for province, count in zip(PROVINCES, (3, 2), strict=True):
        for index, commune in enumerate(reference.communes_by_province[province][:count]):
            figures = {
                "tthc_received": 100.0 + index,
                "tthc_resolved_on_time": 80.0,
                "tthc_resolved_late": 5.0,
                "budget_revenue": 1000.0,
                "traffic_accidents": 1.0,
                "public_investment_plan": 500.0,
                "public_investment_disbursed": 250.0,
            }
            lines.append(_report(commune, province, period, 1, submitted, figures))
            received[province] = received.get(province, 0.0) + figures["tthc_received"]
    # A correction: the first commune of 01 sends revision 2 with other figures.
    first = lines[0]
    corrected = {**first["indicators"], "tthc_received": 150.0}
    lines.append(_report(first["commune_code"], "01", period, 2, submitted, corrected))
    received["01"] += 150.0 - first["indicators"]["tthc_received"]
    # A soft-rule break (resolved on time + late > received): accepted with a warning.
    warned = lines[1]
    lines[1] = _report(
        warned["commune_code"],
        "01",
        period,
        1,
        submitted,
        {**warned["indicators"], "tthc_resolved_on_time": 200.0},
    )
    return lines, received


def _report(
    commune: str,
    province: str,
    period: str,
    revision: int,
    submitted: str,
    indicators: dict[str, float],
) -> dict[str, Any]:
    return {
        "report_id": str(uuid.uuid4()),
        "commune_code": commune,
        "province_code": province,
        "period": period,
        "revision": revision,
        "submitted_at": submitted,
        "indicators": indicators,
    }


@dataclass
class Fed:
    client: Client
    period: str
    received: dict[str, float]


@pytest.fixture
def fed(test_settings: Settings, clickhouse_db: str, tmp_path: Path) -> Iterator[Fed]:
    """Migrated test database, running worker and sink, the reports published and stored."""
    env = environment(test_settings, BAOCAO_LOG_LEVEL="INFO")
    run("migrate", env=env, check=True)
    processes: list[Background] = []
    ch = test_settings.clickhouse
    client = Client(
        host=ch.host,
        port=ch.port,
        user=ch.user,
        password=ch.password.get_secret_value(),
        database=ch.database,
    )
    try:
        for name in ("worker", "sink"):
            processes.append(start(name, env=env, log_path=tmp_path / f"{name}.log"))
        period = _previous_month()
        lines, received = _reports(period)
        published = "".join(json.dumps(x) + "\n" for x in lines)
        run("publish", "--file", "-", env=env, input=published, check=True)
        refused = _report(
            lines[0]["commune_code"], "01", period, 3, lines[0]["submitted_at"], {"no_such": 1.0}
        )
        refused_line = json.dumps(refused) + "\n"
        run("publish", "--file", "-", "--skip-validation", env=env, input=refused_line, check=True)

        def stored() -> bool:
            figures = client.execute(
                "SELECT province_code, value FROM province_indicators"
                " WHERE period = %(p)s AND indicator_code = 'tthc_received'",
                {"p": period},
            )
            rejections = client.execute(
                "SELECT count() FROM rejected_reports WHERE period = %(p)s", {"p": period}
            )
            return dict(figures) == received and rejections[0][0] >= 1

        def alive() -> None:
            for process in processes:
                process.assert_running()

        eventually(
            stored, what="the worker and sink to store the reports", timeout=120, alive=alive
        )
        yield Fed(client=client, period=period, received=received)
    finally:
        for process in processes:
            process.stop()
        client.disconnect()


# -- the checks --------------------------------------------------------------------------------


def test_the_dashboard_is_there_and_its_panels_are_all_known() -> None:
    assert [path.name for path in DASHBOARDS] == ["provincial-monitoring.json"]
    titles = [title for title, _ in panel_queries(DASHBOARDS[0])]
    assert sorted(titles) == sorted(PANELS), "a panel was added or renamed: describe it here"
    assert set(variable_queries(DASHBOARDS[0])) == {"period", "province"}


def test_substitution_is_grafanas() -> None:
    values = {"period": ["2025-08"], "province": ["01", "79"]}
    assert (
        substitute("period = ${period:sqlstring} AND p IN (${province:sqlstring})", values)
        == "period = '2025-08' AND p IN ('01','79')"
    )
    assert substitute("x = ${period:sqlstring}", {"period": ["a'b"]}) == "x = 'a''b'"
    with pytest.raises(AssertionError, match="not quoted"):
        substitute("x = '${period}'", values)
    with pytest.raises(AssertionError, match="not quoted"):
        substitute("p IN (${province:singlequote})", values)
    with pytest.raises(AssertionError, match="__timeFilter"):
        substitute("WHERE $__timeFilter(t)", values)
    assert kind_of("Nullable(Float64)") == NUM
    assert kind_of("DateTime('UTC')") == TIME
    assert kind_of("LowCardinality(Nullable(String))") == STR


def test_every_variable_of_every_panel_is_quoted_for_sql() -> None:
    values = {"period": ["2025-08"], "province": ["01"]}
    for title, raw_sql in panel_queries(DASHBOARDS[0]):
        assert "${period:sqlstring}" in raw_sql, title
        assert "'$" not in raw_sql and "singlequote" not in raw_sql, title
        substitute(raw_sql, values)  # raises on a variable that is not quoted


def test_every_panel_runs_on_clickhouse_with_its_columns(fed: Fed) -> None:
    values = {"period": [fed.period], "province": list(PROVINCES)}
    variables = variable_queries(DASHBOARDS[0])
    periods = fed.client.execute(substitute(variables["period"], values))
    assert (fed.period,) in periods
    provinces = fed.client.execute(substitute(variables["province"], values))
    assert {(code,) for code in PROVINCES} <= set(provinces)

    failures: list[str] = []
    results: dict[str, list[tuple[Any, ...]]] = {}
    for title, raw_sql in panel_queries(DASHBOARDS[0]):
        expected = PANELS[title]
        sql = substitute(raw_sql, values)
        deadline = time.monotonic() + 60
        while True:
            try:
                rows, columns = fed.client.execute(sql, with_column_types=True)
            except Exception as exc:  # the report names every panel that does not run
                failures.append(f"{title}: does not run: {str(exc).splitlines()[0]}")
                break
            shape = [(name, kind_of(type_)) for name, type_ in columns]
            if shape != list(expected.columns):
                failures.append(f"{title}: columns {shape}, expected {list(expected.columns)}")
                break
            # Figures of the live stream (completeness, changes) may trail the base views.
            if len(rows) >= expected.min_rows or time.monotonic() > deadline:
                if len(rows) < expected.min_rows:
                    failures.append(f"{title}: {len(rows)} rows, expected {expected.min_rows}+")
                results[title] = rows
                break
            time.sleep(1)
    assert failures == []

    # A crafted link (?var-period=...) cannot widen a panel: sqlstring keeps the quote inside
    # the literal, so no period matches and no row comes back.
    crafted = {"period": [f"{fed.period}' OR 1 = 1 OR period = '"], "province": list(PROVINCES)}
    for title, raw_sql in panel_queries(DASHBOARDS[0]):
        assert fed.client.execute(substitute(raw_sql, crafted)) == [], title

    key = {row[0]: row for row in results["Key indicators per province"]}
    assert sorted(key) == list(PROVINCES)
    for province, total in fed.received.items():
        assert key[province][4] == pytest.approx(total), province
    assert key["01"][1] == "Thành phố Hà Nội"
    assert ("unknown_indicator", 1) in results["Rejections by reason"]
