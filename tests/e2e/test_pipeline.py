"""The whole pipeline through its public commands, checked against a recomputation.

``baocao migrate``, ``worker``, ``sink``, ``simulate`` and ``publish`` run as subprocesses
against the real Kafka and ClickHouse, exactly as an operator runs them. The expected figures
are recomputed from the published lines with plain Python (``support.recompute``, no pipeline
code; the chaos suite checks with the same functions), and every row of both BI views must
match them: a revision counted twice, a stale or duplicate
report counted at all, or a ratio averaged instead of summed makes this test fail.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import vietnam_provinces as vp
from openpyxl import load_workbook
from support.cli import run
from support.export import facts, table
from support.recompute import (
    expected_commune_rows,
    expected_latest,
    expected_province_rows,
    expected_reporting_communes,
    mixed_input,
    simulated_month,
    stale_report_ids,
)
from support.settings import query
from support.topics import keys_off_spec
from support.wait import eventually

from baocao.core.settings import Settings

#: Last month and this month in Vietnam: periods still open whatever day the test runs (a
#: month locks 30 days after its deadline, the 5th of the next month, and publishing stamps
#: reports with the time of publication).
TODAY = datetime.now(timezone(timedelta(hours=7))).date()
SECOND_PERIOD = f"{TODAY:%Y-%m}"
PERIOD = f"{TODAY.replace(day=1) - timedelta(days=1):%Y-%m}"
CATALOGUE_FILE = Path(__file__).parents[2] / "schemas" / "indicators.json"
#: The start of the undecodable events the test publishes.
MALFORMED = b"not avro"


# ---------------------------------------------------------------- the input


def make_input(env: dict[str, str], tmp_path: Path) -> tuple[list[dict[str, Any]], list[dict]]:
    """Simulated reports plus revisions, resends, stale and conflicting revisions and invalid
    reports; returns (lines to publish in order, the invalid ones among them)."""
    lines = simulated_month(env, tmp_path / "generated.jsonl", communes=400, seed=7, period=PERIOD)
    assert len({line["commune_code"] for line in lines}) == 400
    corrected = [line for line in lines if line["revision"] == 2]
    assert len(corrected) >= 50, "the simulation must contain corrections to test them"

    return mixed_input(lines, second_period=SECOND_PERIOD)


# ---------------------------------------------------------------- the test


def publish_malformed(settings: Settings, count: int) -> None:
    from kafka import KafkaProducer

    from baocao.core.kafka import client_options
    from baocao.core.topics import Topics

    producer = KafkaProducer(**client_options(settings.kafka))
    for index in range(count):
        producer.send(
            Topics(settings.kafka.topic_prefix).commune_reports,
            key=b"01",
            value=MALFORMED + b" %d" % index,
        )
    producer.flush()
    producer.close()


def test_views_match_an_independent_recomputation(
    pipeline: None, env: dict[str, str], test_settings: Settings, tmp_path: Path
) -> None:
    published, refused = make_input(env, tmp_path)
    source = tmp_path / "reports.jsonl"
    source.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in published))
    result = run("publish", "--file", str(source), "--skip-validation", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    publish_malformed(test_settings, 3)

    refused_ids = {line["report_id"] for line in refused}
    latest = expected_latest([line for line in published if line["report_id"] not in refused_ids])
    expected = expected_province_rows(latest)
    # The data must be able to catch double counting: counting every accepted revision
    # (instead of the latest only) gives different totals.
    naive = math.fsum(
        line["indicators"]["tthc_received"]
        for line in published
        if line["report_id"] not in refused_ids and line["period"] == PERIOD
    )
    exact = math.fsum(
        v
        for (p, per, c), (v, _) in expected.items()
        if per == PERIOD and c == "tthc_received" and v is not None
    )
    assert naive > exact

    def provinces_match() -> bool:
        rows = query(
            test_settings,
            "SELECT province_code, period, indicator_code, value, "
            "communes_reported FROM province_indicators",
        )
        actual = {(p, per, c): (v, n) for p, per, c, v, n in rows}
        assert set(actual) == set(expected), f"{len(actual)} rows, expected {len(expected)}"
        wrong = [
            k
            for k, (v, n) in expected.items()
            if actual[k][1] != n
            or (v is None) != (actual[k][0] is None)
            or (v is not None and actual[k][0] != pytest.approx(v, rel=1e-12))
        ]
        assert not wrong, (
            f"{len(wrong)} wrong, e.g. {wrong[0]}: {actual[wrong[0]]} != {expected[wrong[0]]}"
        )
        return True

    eventually(provinces_match, what="province_indicators to match", timeout=180, interval=1.0)

    # Every commune row is the latest revision's figure.
    commune_rows = query(
        test_settings,
        "SELECT commune_code, period, indicator_code, value, revision FROM commune_indicators",
    )
    expected_communes = expected_commune_rows(latest)
    assert {(c, per, code): (v, r) for c, per, code, v, r in commune_rows} == expected_communes

    # Province metadata in the view comes from the reference data.
    expected_counts = {
        f"{p.code.value:02d}": sum(1 for _ in vp.Ward.iter_by_province(p.code))
        for p in vp.Province.iter_all()
    }
    counts = dict(
        query(
            test_settings,
            "SELECT DISTINCT province_code, communes_expected FROM province_indicators",
        )
    )
    assert counts == {code: expected_counts[code] for code in counts}
    assert len(counts) == len({line["province_code"] for line in latest.values()})

    # Every refused report and malformed event landed with its reason, nothing more.
    def rejections_match() -> bool:
        rows = query(test_settings, "SELECT report_id, reason_code FROM rejected_reports")
        by_report: dict[str | None, set[str]] = defaultdict(set)
        for report_id, code in rows:
            by_report[report_id or None].add(code)
        stale = stale_report_ids(
            [line for line in published if line["report_id"] not in refused_ids]
        )
        wanted = refused_ids | stale
        got = {r for r in by_report if r}
        assert got == wanted and by_report.get(None), (
            f"rejected {len(got)} ids (want {len(wanted)}), malformed: {by_report.get(None)}"
        )
        return True

    eventually(rejections_match, what="rejected_reports to match", timeout=60, interval=1.0)
    reasons = {
        code
        for (code,) in query(test_settings, "SELECT DISTINCT reason_code FROM rejected_reports")
    }
    assert {
        "unknown_commune",
        "commune_not_in_province",
        "value_out_of_range",
        "unknown_indicator",
        "derived_indicator",
        "invalid_period",
        "conflicting_revision",
        "stale_revision",
        "malformed_event",
    } <= reasons

    # The completeness counts travel on their own topic, so they may land after the
    # figures: every province's count of reporting communes must reach the recomputed one.
    reporting = expected_reporting_communes(latest)

    def completeness_matches() -> bool:
        rows = query(
            test_settings,
            "SELECT province_code, period, communes_reported FROM province_completeness"
            " WHERE communes_reported > 0",
        )
        actual = {(p, per): n for p, per, n in rows}
        assert actual == reporting, f"{len(actual)} rows, expected {len(reporting)}"
        return True

    eventually(completeness_matches, what="province_completeness to match", timeout=60)

    # Every record on every topic is keyed as its topic's spec says (the malformed events
    # published above have no payload to key).
    checked, wrong = keys_off_spec(test_settings, foreign=lambda r: r.value.startswith(MALFORMED))
    assert not wrong, f"{len(wrong)} records keyed off their spec, e.g. {wrong[:3]}"
    written = {"commune_reports", "accepted_reports", "province_indicators", "dead_letter"}
    written |= {"province_completeness", "province_indicator_changes"}
    assert written <= {topic for topic, count in checked.items() if count}, checked

    # The report a province hands upward (``baocao export``) says what was published: its
    # figures, which communes reported and with which revision, and the national totals.
    check_exports(env, tmp_path, latest, expected)


def check_exports(
    env: dict[str, str],
    tmp_path: Path,
    latest: dict[tuple[str, str], dict[str, Any]],
    expected: dict[tuple[str, str, str], tuple[float | None, int]],
) -> None:
    month = {commune: line for (commune, period), line in latest.items() if period == PERIOD}
    province = min(line["province_code"] for line in month.values())
    reported = {c: line for c, line in month.items() if line["province_code"] == province}
    target = tmp_path / "province.xlsx"
    options = ("--period", PERIOD, "--lang", "en", "-o", str(target))
    run("export", "--province", province, *options, env=env, check=True)
    book = load_workbook(target)
    summary = facts(book["Summary"])
    assert summary["Communes reported"] == len(reported)
    assert summary["Communes reported"] + summary["Missing"] == summary["Communes expected"]
    columns, rows = table(book["Indicators"])
    figures = {row[columns["Indicator code"]]: row for row in rows}
    wanted = {c: v for (p, per, c), v in expected.items() if p == province and per == PERIOD}
    assert set(figures) == set(wanted)
    for code, (value, communes) in wanted.items():
        row = figures[code]
        assert row[columns["Communes reported"]] == communes, code
        if value is None:
            assert row[columns["Value"]] is None, code
        else:
            assert row[columns["Value"]] == pytest.approx(value, rel=1e-12), code
    columns, rows = table(book["Communes"])
    *communes, _total = rows
    assert len(communes) == summary["Communes expected"]
    listed = {row[columns["Commune code"]]: row for row in communes}
    assert {c for c, row in listed.items() if row[columns["Report status"]] != "Missing"} == set(
        reported
    )
    # Each commune's status (commune_indicators) agrees with the worker's completeness counts.
    statuses = Counter(row[columns["Report status"]] for row in communes)
    assert statuses == {
        key: summary[key] for key in ("On time", "Late", "Missing") if summary[key]
    }, statuses
    received = next(name for name in columns if name.startswith("Administrative dossiers"))
    for commune, line in reported.items():
        assert listed[commune][columns["Revision"]] == line["revision"]
        assert listed[commune][columns[received]] == line["indicators"]["tthc_received"]

    target = tmp_path / "national.xlsx"
    options = ("--period", PERIOD, "--lang", "en", "-o", str(target))
    run("export", "--national", *options, env=env, check=True)
    book = load_workbook(target)
    assert facts(book["Summary"])["Communes reported"] == len(month)
    columns, rows = table(book["Provinces"])
    *provinces, total = rows
    assert len(provinces) == 34
    assert sum(row[columns["Communes reported"]] for row in provinces) == len(month)
    assert total[columns["Communes reported"]] == len(month)
    received = next(name for name in columns if name.startswith("Administrative dossiers"))
    assert total[columns[received]] == pytest.approx(
        math.fsum(line["indicators"]["tthc_received"] for line in month.values()), rel=1e-12
    )
