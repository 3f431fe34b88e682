"""A historic load under pre-2025 codes, through the public commands, against the recomputation.

``baocao publish --historic`` sends August 2024 reports of old Hà Nội wards (``L`` + old
code); the worker counts them toward the 2025 communes they became, by share where a ward
was split; a report under a new commune's own code wins over its predecessors'. The
province's figures in ClickHouse must equal ``support.recompute.expected_with_old_codes``
(plain Python over the ``commune_lineage`` table, sharing only the rounding rule).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from support.cli import run
from support.recompute import (
    expected_latest,
    expected_province_rows,
    expected_reporting_communes,
    expected_with_old_codes,
)
from support.settings import query
from support.wait import eventually

from baocao.core.lineage import load_crosswalk
from baocao.core.settings import Settings

PERIOD = "2024-08"
HANOI = "01"
#: New Phường Ngọc Hà and Phường Giảng Võ, and every old ward they were made of.
NGOC_HA, GIANG_VO, BA_DINH = "00008", "00025", "00004"


def line(commune: str, revision: int = 1, *, period: str = PERIOD, **values: float) -> dict:
    return {
        "report_id": str(uuid.uuid4()),
        "commune_code": commune,
        "province_code": HANOI,
        "period": period,
        "revision": revision,
        "submitted_at": "2024-09-03T09:30:00+07:00",
        "indicators": values,
    }


def historic_input() -> tuple[list[dict], list[dict]]:
    """(lines to publish in order, the refused ones among them)."""
    crosswalk = load_crosswalk()
    old_codes = sorted(
        {row.old_code for new in (NGOC_HA, GIANG_VO) for row in crosswalk.predecessors[new]}
    )
    assert len(old_codes) >= 10 and any(crosswalk.is_split(code) for code in old_codes)
    lines = [
        line(
            f"L{code}",
            tthc_received=100.0 + index * 7.3,
            tthc_online=40.0 + index,
            party_congress_held=float(index % 2),
        )
        for index, code in enumerate(old_codes)
    ]
    # A correction of a split ward, and Ba Đình's own report, which wins over the parts of
    # old wards (Ngọc Hà ward, Điện Biên ...) that went into it.
    lines.append(line("L00007", 2, tthc_received=333.33, tthc_online=111.0))
    lines.append(line(BA_DINH, tthc_received=1234.0, tthc_online=1000.0))
    refused = [
        line("L99999", tthc_received=1.0),  # no such old ward
        line("L00007", period="2025-08", tthc_received=1.0),  # old code after the merger
    ]
    return lines + refused, refused


def test_a_historic_load_under_old_codes_matches_the_recomputation(
    pipeline: None, env: dict[str, str], test_settings: Settings, tmp_path: Path
) -> None:
    published, refused = historic_input()
    source = tmp_path / "historic.jsonl"
    source.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in published))
    result = run("publish", "--historic", "--file", str(source), "--skip-validation", env=env)
    assert result.returncode == 0, result.stdout + result.stderr

    refused_ids = {item["report_id"] for item in refused}
    lineage = [
        (old, new, share, method, primary)
        for old, new, share, method, primary in query(
            test_settings,
            "SELECT legacy_code, commune_code, share, method, is_primary FROM commune_lineage",
        )
    ]
    province_of = dict(query(test_settings, "SELECT commune_code, province_code FROM communes"))
    latest = expected_latest([item for item in published if item["report_id"] not in refused_ids])
    counted, approximate = expected_with_old_codes(latest, lineage, province_of)
    assert BA_DINH in {c for c, _ in counted} and (BA_DINH, PERIOD) not in approximate
    assert {(NGOC_HA, PERIOD), (GIANG_VO, PERIOD)} <= approximate
    expected = expected_province_rows(counted)
    # Counting the old reports in full, or Ba Đình twice, would give another total.
    sent = sum(item["indicators"]["tthc_received"] for item in latest.values())
    assert expected[(HANOI, PERIOD, "tthc_received")][0] != pytest.approx(sent)

    def provinces_match() -> bool:
        rows = query(
            test_settings,
            "SELECT province_code, period, indicator_code, value, communes_reported"
            f" FROM province_indicators WHERE period = '{PERIOD}'",
        )
        actual = {(p, per, c): (v, n) for p, per, c, v, n in rows}
        assert actual == expected
        return True

    eventually(provinces_match, what="province_indicators to match", timeout=180, interval=1.0)
    completeness = query(
        test_settings,
        "SELECT communes_reported FROM province_completeness"
        f" WHERE province_code = '{HANOI}' AND period = '{PERIOD}'",
    )
    assert completeness == [(expected_reporting_communes(counted)[(HANOI, PERIOD)],)]

    def refused_with_reasons() -> bool:
        rows = query(
            test_settings,
            "SELECT report_id, reason_codes FROM rejections WHERE report_id IS NOT NULL",
        )
        assert {r: list(codes) for r, codes in rows} == {
            refused[0]["report_id"]: ["unknown_legacy_commune"],
            refused[1]["report_id"]: ["legacy_commune_after_merger"],
        }
        return True

    eventually(refused_with_reasons, what="the refused reports", timeout=60, interval=1.0)
    # The old-code reports are kept as sent, under their old codes.
    kept = query(
        test_settings,
        "SELECT count() FROM commune_reports FINAL"
        f" WHERE period = '{PERIOD}' AND startsWith(commune_code, 'L')",
    )
    assert kept == [(len({c for c, _ in latest if c.startswith("L")}),)]
