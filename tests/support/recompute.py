"""The figures the views must show, recomputed from the published lines with plain Python.

Nothing of the pipeline is imported: the catalogue is read from ``schemas/indicators.json``
and every rule (the latest revision counts, a stale or conflicting revision is refused, a
ratio is the sum of numerators over the sum of denominators) is written here again, so a bug
in the worker cannot hide in its own check. The end-to-end test and the chaos suite both
compare ClickHouse with these functions.

Lines are the canonical JSON form of reports (what ``baocao publish`` reads), in the order
they were published; :func:`simulated_month` and :func:`mixed_input` make them.
"""

from __future__ import annotations

import json
import math
import uuid
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# The one rounding rule for value × share is the pipeline's (docs/legacy-units.md); every
# other rule below is written again here.
from baocao.core.lineage import apportion
from support.cli import run

__all__ = [
    "LEGACY_PREFIX",
    "Line",
    "expected_commune_rows",
    "expected_comparisons",
    "expected_latest",
    "expected_national_rows",
    "expected_province_figures",
    "expected_province_rows",
    "expected_reporting_communes",
    "expected_with_old_codes",
    "load_catalogue_file",
    "mixed_input",
    "simulated_month",
    "stale_report_ids",
]

CATALOGUE_FILE = Path(__file__).parents[2] / "schemas" / "indicators.json"

Line = dict[str, Any]


def load_catalogue_file() -> list[dict[str, Any]]:
    return list(json.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))["indicators"])


def expected_latest(lines: list[Line]) -> dict[tuple[str, str], Line]:
    """The report that counts per commune and period: the highest revision, first come."""
    latest: dict[tuple[str, str], Line] = {}
    for line in lines:
        key = (line["commune_code"], line["period"])
        if key not in latest or line["revision"] > latest[key]["revision"]:
            latest[key] = line
    return latest


def _aggregate(indicator: dict[str, Any], reports: list[dict[str, float]]) -> tuple | None:
    """(value, numerator sum, denominator sum, reporters) of one indicator over ``reports``,
    or None when none of them has it."""
    code = indicator["code"]
    if indicator["aggregation"] == "ratio":
        pairs = [
            (r[indicator["numerator"]], r[indicator["denominator"]])
            for r in reports
            if indicator["numerator"] in r and indicator["denominator"] in r
        ]
        if not pairs:
            return None
        num = math.fsum(n for n, _ in pairs)
        den = math.fsum(d for _, d in pairs)
        return (num / den if den else None, num, den, len(pairs))
    values = [r[code] for r in reports if code in r]
    if not values:
        return None
    if indicator["aggregation"] == "max":
        figure = max(values)
    elif indicator["aggregation"] == "min":
        figure = min(values)
    else:
        figure = math.fsum(values)
    return (figure, None, None, len(values))


def expected_province_figures(
    latest: dict[tuple[str, str], Line],
) -> dict[tuple[str, str, str], tuple[float | None, float | None, float | None, int]]:
    """(province, period, indicator) -> (value, numerator, denominator, communes reported)."""
    catalogue = load_catalogue_file()
    by_province: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
    for line in latest.values():
        by_province[(line["province_code"], line["period"])].append(line["indicators"])
    rows: dict[tuple[str, str, str], tuple[float | None, float | None, float | None, int]] = {}
    for (province, period), reports in by_province.items():
        for indicator in catalogue:
            figure = _aggregate(indicator, reports)
            if figure is not None:
                rows[(province, period, indicator["code"])] = figure
    return rows


def expected_province_rows(
    latest: dict[tuple[str, str], Line],
) -> dict[tuple[str, str, str], tuple[float | None, int]]:
    """``province_indicators``: (province, period, indicator) -> (value, communes reported)."""
    return {key: (f[0], f[3]) for key, f in expected_province_figures(latest).items()}


def expected_national_rows(
    latest: dict[tuple[str, str], Line],
) -> dict[tuple[str, str], tuple[float | None, int, int]]:
    """``national_indicators``: (period, indicator) -> (value, provinces reporting, communes
    reporting), with ratios again summed over every commune, never averaged."""
    catalogue = load_catalogue_file()
    by_period: dict[str, list[Line]] = defaultdict(list)
    for line in latest.values():
        by_period[line["period"]].append(line)
    rows: dict[tuple[str, str], tuple[float | None, int, int]] = {}
    for period, lines in by_period.items():
        for indicator in catalogue:
            figure = _aggregate(indicator, [line["indicators"] for line in lines])
            if figure is None:
                continue
            parts = [indicator.get("numerator"), indicator.get("denominator")]
            needed = parts if indicator["aggregation"] == "ratio" else [indicator["code"]]
            provinces = {
                line["province_code"]
                for line in lines
                if all(code in line["indicators"] for code in needed)
            }
            rows[(period, indicator["code"])] = (figure[0], len(provinces), figure[3])
    return rows


def expected_commune_rows(
    latest: dict[tuple[str, str], Line],
) -> dict[tuple[str, str, str], tuple[float, int]]:
    """``commune_indicators``: (commune, period, indicator) -> (value, revision)."""
    return {
        (commune, period, code): (value, line["revision"])
        for (commune, period), line in latest.items()
        for code, value in line["indicators"].items()
    }


def expected_reporting_communes(latest: dict[tuple[str, str], Line]) -> dict[tuple[str, str], int]:
    """``province_completeness``: (province, period) -> communes that reported (rows with
    none are the announced periods nobody reported for yet)."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for line in latest.values():
        counts[(line["province_code"], line["period"])] += 1
    return dict(counts)


#: Reports under a pre-2025 code write it as ``L`` + the old code.
LEGACY_PREFIX = "L"


def expected_with_old_codes(
    latest: dict[tuple[str, str], Line],
    lineage: list[tuple[str, str, float, str, int]],
    province_of: Mapping[str, str],
) -> tuple[dict[tuple[str, str], Line], set[tuple[str, str]]]:
    """The report that counts per new commune and period when some came under old codes.

    ``latest``: :func:`expected_latest` of every line; ``lineage``: the rows of the
    ``commune_lineage`` table (old code, new code, share, method, primary); ``province_of``: a
    new commune's province. A new commune's own report wins; otherwise it counts the parts of
    its predecessors' old-code reports: a sum indicator by share (``apportion``), a max or min
    whole in the primary successor only, then summed (or max, min) over the predecessors.
    Returns the reports that count, and the (commune, period) pairs that are approximate.
    """
    aggregation = {i["code"]: i["aggregation"] for i in load_catalogue_file()}
    split = {old for old, _, _, method, _ in lineage if method != "whole"}
    counted = {key: line for key, line in latest.items() if not key[0].startswith(LEGACY_PREFIX)}
    parts: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    approximate: set[tuple[str, str]] = set()
    for (commune, period), line in latest.items():
        if not commune.startswith(LEGACY_PREFIX):
            continue
        old = commune[len(LEGACY_PREFIX) :]
        for legacy_code, new_code, share, _method, primary in lineage:
            if legacy_code != old or (new_code, period) in counted:
                continue
            # Counted (as reporting) even when it gets no value: a max or min only.
            target = parts[(new_code, period)]
            for code, value in line["indicators"].items():
                if aggregation[code] == "sum":
                    target[code].append(apportion(value, share))
                elif primary:
                    target[code].append(value)
            if old in split:
                approximate.add((new_code, period))
    result = dict(counted)
    for (new_code, period), values in parts.items():
        indicators = {}
        for code, found in values.items():
            if aggregation[code] == "max":
                indicators[code] = max(found)
            elif aggregation[code] == "min":
                indicators[code] = min(found)
            else:
                indicators[code] = math.fsum(found)
        result[(new_code, period)] = {
            "commune_code": new_code,
            "province_code": province_of[new_code],
            "period": period,
            "indicators": indicators,
        }
    return result, approximate


Figures = dict[tuple[str, str, str], tuple[float | None, float | None, float | None]]


def expected_comparisons(
    figures: Figures,
) -> dict[tuple[str, str, str], tuple[float | None, float | None]]:
    """(province or '' for the nation, period, indicator) -> (same period last year, year to
    date), from the provinces' figures ``(province, period, indicator) -> (value, numerator,
    denominator)`` of one report type whose periods start with their year (2025-08, 2025-Q3).

    The nation aggregates the provinces; the year to date aggregates the periods of the year
    up to this one: sums summed, max of maxima, min of minima, a ratio as summed numerators over
    summed denominators.
    """
    aggregation = {i["code"]: i["aggregation"] for i in load_catalogue_file()}

    def combine(code: str, parts: list[tuple[float | None, float | None, float | None]]):
        if aggregation[code] == "ratio":
            num = math.fsum(n or 0.0 for _, n, _ in parts)
            den = math.fsum(d or 0.0 for _, _, d in parts)
            return (num / den if den else None, num, den)
        values = [v for v, _, _ in parts if v is not None]
        if aggregation[code] == "max":
            return (max(values), None, None)
        if aggregation[code] == "min":
            return (min(values), None, None)
        return (math.fsum(values), None, None)

    everything: Figures = dict(figures)
    national: dict[tuple[str, str], list] = defaultdict(list)
    for (_, period, code), figure in figures.items():
        national[(period, code)].append(figure)
    for (period, code), parts in national.items():
        everything[("", period, code)] = combine(code, parts)
    result: dict[tuple[str, str, str], tuple[float | None, float | None]] = {}
    for scope, period, code in everything:
        year, rest = period[:4], period[4:]
        last_year = everything.get((scope, f"{int(year) - 1}{rest}", code))
        to_date = [
            figure
            for (s, p, c), figure in everything.items()
            if s == scope and c == code and p[:4] == year and p <= period
        ]
        result[(scope, period, code)] = (
            None if last_year is None else last_year[0],
            combine(code, to_date)[0],
        )
    return result


def stale_report_ids(lines: list[Line]) -> set[str]:
    """Reports that arrive after a higher revision of the same commune and period."""
    highest: dict[tuple[str, str], int] = {}
    stale: set[str] = set()
    for line in lines:
        key = (line["commune_code"], line["period"])
        if line["revision"] < highest.get(key, 0):
            stale.add(line["report_id"])
        highest[key] = max(highest.get(key, 0), line["revision"])
    return stale


def simulated_month(
    env: Mapping[str, str], output: Path, *, communes: int, seed: int, period: str
) -> list[Line]:
    """``baocao simulate`` for ``communes`` communes with 25% corrections, as lines."""
    done = run(
        "simulate",
        "--communes",
        str(communes),
        "--seed",
        str(seed),
        "--period",
        period,
        "--revisions",
        "0.25",
        "--output",
        str(output),
        env=env,
    )
    if done.returncode != 0:
        raise RuntimeError(f"baocao simulate failed:\n{done.stdout}\n{done.stderr}")
    return [json.loads(text) for text in output.read_text().splitlines() if text.strip()]


def mixed_input(lines: list[Line], *, second_period: str) -> tuple[list[Line], list[Line]]:
    """Simulated reports plus resends, stale, third and conflicting revisions, a second
    period and invalid reports; returns (lines to publish in order, the refused ones among
    them, conflicts and invalid reports, whose ``report_id`` must be dead-lettered).

    ``lines`` is ``baocao simulate --revisions`` output with at least 35 corrections.
    """
    corrected = [line for line in lines if line["revision"] == 2]
    if len(corrected) < 35:
        raise ValueError(f"{len(corrected)} corrections; mixed_input needs 35 or more")
    first_revision = {line["commune_code"]: line for line in lines if line["revision"] == 1}
    extra: list[Line] = []
    # A resend of a report already accepted (exact duplicate) and of a superseded one (stale).
    extra += [dict(line) for line in corrected[:10]]
    extra += [dict(first_revision[line["commune_code"]]) for line in corrected[10:20]]
    # A third revision that corrects a correction.
    for line in corrected[20:30]:
        third = json.loads(json.dumps(line))
        third.update(report_id=str(uuid.uuid4()), revision=3)
        third["indicators"]["tthc_received"] += 1000
        extra.append(third)
    # Same revision number, different figures: a conflict, refused.
    conflicts = []
    for line in corrected[30:35]:
        conflict = json.loads(json.dumps(line))
        conflict["report_id"] = str(uuid.uuid4())
        conflict["indicators"]["tthc_received"] += 7
        conflicts.append(conflict)
    # A few reports for a second period, so periods stay apart.
    for line in lines[:15]:
        other = json.loads(json.dumps(line))
        other.update(report_id=str(uuid.uuid4()), period=second_period, revision=1)
        extra.append(other)

    template = first_revision[next(iter(first_revision))]
    invalid: list[Line] = []
    for changes in (
        {"commune_code": "99999"},
        {"province_code": "79" if template["province_code"] != "79" else "01"},
        {"indicators": {"tthc_received": -5.0}},
        {"indicators": {"no_such_indicator": 1.0}},
        {"indicators": {"tthc_on_time_rate": 0.9}},
        {"period": "2025-13"},
    ):
        bad = {**json.loads(json.dumps(template)), **changes, "report_id": str(uuid.uuid4())}
        invalid.append(bad)
    return lines + extra + conflicts + invalid, invalid + conflicts
