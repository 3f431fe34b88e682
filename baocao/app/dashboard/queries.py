"""What the dashboard shows, read from the BI views (never from the fact tables).

Each method answers one page section with plain JSON-able dicts. The dashboard reads the very
views the BI users query (``province_completeness``, ``national_indicators``, ...), so what it
shows is what their tools show; the views hide versions and ``FINAL``. A fresh connection per
call keeps the reader thread-safe (clickhouse-driver clients are not) and cheap on a LAN.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from clickhouse_driver import Client

from baocao.app.dashboard.exceptions import DashboardQueryError
from baocao.core.catalogue import Catalogue, load_catalogue
from baocao.core.clickhouse import TRANSIENT_ERRORS, connect, describe_error
from baocao.core.settings import ClickHouseSettings

__all__ = ["KEY_INDICATORS", "DashboardQueries", "commune_status", "tile_positions"]

logger = logging.getLogger(__name__)

#: Indicators shown first, when the report type carries them; the rest follow in catalogue order.
KEY_INDICATORS: tuple[str, ...] = (
    "tthc_received",
    "tthc_on_time_rate",
    "tthc_online_rate",
    "budget_revenue",
    "public_investment_disbursement_rate",
    "security_incidents",
    "traffic_accidents",
    "health_insurance_coverage",
)
#: How many indicators a page lists, and how many periods a sparkline spans.
SHOWN_INDICATORS = 8
TREND_PERIODS = 8
RECENT_ROWS = 50


@cache
def tile_positions() -> dict[str, tuple[int, int]]:
    """Province code -> (row, column) of the tile map (``tiles.json``, north to south)."""
    text = resources.files("baocao.app.dashboard").joinpath("tiles.json").read_text("utf-8")
    return {code: (row, col) for code, (row, col) in json.loads(text)["tiles"].items()}


def commune_status(*, reported: bool, on_time: int | None, rejected: bool) -> str:
    """One word for a commune in a period: an accepted report is ``on_time`` or ``late``
    (``reported`` when stored before deadlines existed); without one it is ``rejected`` if
    its submissions were refused, else ``missing``."""
    if reported:
        if on_time is None:
            return "reported"
        return "on_time" if on_time else "late"
    return "rejected" if rejected else "missing"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _number(value: float | None) -> float | None:
    """A value for JSON: NaN and infinities (never stored, but cheap to guard) become null."""
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return float(value)


class DashboardQueries:
    """The dashboard's reads, over ClickHouse settings injected by the command."""

    def __init__(self, settings: ClickHouseSettings, *, catalogue: Catalogue | None = None) -> None:
        self._settings = settings
        self._catalogue = catalogue if catalogue is not None else load_catalogue()

    @contextmanager
    def _client(self) -> Iterator[Client]:
        client = connect(self._settings)
        try:
            yield client
        except TRANSIENT_ERRORS as exc:
            raise DashboardQueryError(
                f"ClickHouse {self._settings.host}:{self._settings.port} database "
                f"{self._settings.database}: {describe_error(exc)} (is it up, and migrated?"
                " `baocao migrate`)"
            ) from exc
        finally:
            client.disconnect()

    def _labels(self, code: str) -> dict[str, Any]:
        indicator = self._catalogue.indicators.get(code)
        if indicator is None:
            return {"code": code, "name_en": code, "name_vi": code, "unit": "", "ratio": False}
        return {
            "code": code,
            "name_en": indicator.name_en,
            "name_vi": indicator.name_vi,
            "unit": indicator.unit,
            "ratio": indicator.is_derived,
        }

    def _pick(self, codes: set[str]) -> list[str]:
        """The indicators to show out of ``codes``: the key ones first, at most a page."""
        order = [c for c in KEY_INDICATORS if c in codes]
        order += [c for c in self._catalogue.indicators if c in codes and c not in order]
        order += sorted(codes - set(order))
        return order[:SHOWN_INDICATORS]

    # -- sections ------------------------------------------------------------------------

    def periods(self) -> list[dict[str, Any]]:
        """Every known report type and period, newest first, with its national completeness."""
        with self._client() as client:
            rows = client.execute(
                "SELECT report_type, period, deadline, completeness_pct, status"
                " FROM national_completeness ORDER BY deadline DESC, report_type"
            )
        return [
            {
                "report_type": report_type,
                "period": period,
                "deadline": _iso(deadline),
                "completeness_pct": pct,
                "status": status,
            }
            for report_type, period, deadline, pct, status in rows
        ]

    def overview(self, *, report_type: str, period: str) -> dict[str, Any]:
        """The national page: tiles, national totals, missing and late counts, freshness."""
        params = {"t": report_type, "p": period}
        positions = tile_positions()
        with self._client() as client:
            provinces = client.execute(
                "SELECT province_code, province_name, communes_expected, communes_reported,"
                " communes_on_time, communes_late, communes_missing, completeness_pct,"
                " timeliness_pct, status FROM province_completeness"
                " WHERE report_type = %(t)s AND period = %(p)s ORDER BY province_code",
                params,
            )
            national = client.execute(
                "SELECT communes_expected, communes_reported, communes_on_time, communes_late,"
                " communes_missing, completeness_pct, timeliness_pct, deadline,"
                " provinces_complete, provinces_approved, status FROM national_completeness"
                " WHERE report_type = %(t)s AND period = %(p)s",
                params,
            )
            figures = client.execute(
                "SELECT indicator_code, value, provinces_reported, status"
                " FROM national_indicators WHERE report_type = %(t)s AND period = %(p)s",
                params,
            )
            overdue = client.execute(
                "SELECT countIf(overdue = 1), countIf(overdue = 0) FROM missing_reports"
                " WHERE report_type = %(t)s AND period = %(p)s",
                params,
            )
            rejected = client.execute(
                "SELECT uniqExact(rejection_id) FROM rejected_reports WHERE period = %(p)s",
                params,
            )
            fresh = client.execute(
                "SELECT count(), max(updated_at), toInt64(now()) - toInt64(max(updated_at))"
                " FROM province_indicators"
            )
        tiles = [
            {
                "code": code,
                "name": name,
                "row": positions.get(code, (0, 0))[0],
                "col": positions.get(code, (0, 0))[1],
                "expected": expected,
                "reported": reported,
                "on_time": on_time,
                "late": late,
                "missing": missing,
                "completeness_pct": completeness,
                "timeliness_pct": timeliness,
                "status": status,
            }
            for (
                code,
                name,
                expected,
                reported,
                on_time,
                late,
                missing,
                completeness,
                timeliness,
                status,
            ) in provinces
        ]
        totals = None
        if national:
            keys = (
                "expected",
                "reported",
                "on_time",
                "late",
                "missing",
                "completeness_pct",
                "timeliness_pct",
                "deadline",
                "provinces_complete",
                "provinces_approved",
                "status",
            )
            totals = dict(zip(keys, national[0], strict=True))
            totals["deadline"] = _iso(totals["deadline"])
        by_code = {code: (value, provinces, status) for code, value, provinces, status in figures}
        indicators = [
            {
                **self._labels(code),
                "value": _number(by_code[code][0]),
                "provinces_reported": by_code[code][1],
                "status": by_code[code][2],
            }
            for code in self._pick(set(by_code))
        ]
        count, newest, age = fresh[0]
        return {
            "report_type": report_type,
            "period": period,
            "provinces": tiles,
            "national": totals,
            "indicators": indicators,
            "missing_overdue": overdue[0][0],
            "missing_due": overdue[0][1],
            "rejections": rejected[0][0],
            "newest_update": _iso(newest) if count else None,
            "freshness_seconds": max(age, 0) if count else None,
        }

    def province(self, code: str, *, report_type: str, period: str) -> dict[str, Any]:
        """A province's page: its communes' statuses, indicators with trends, rejections and
        warnings of the period."""
        params = {"c": code, "t": report_type, "p": period}
        with self._client() as client:
            summary = client.execute(
                "SELECT province_name, communes_expected, communes_reported, communes_on_time,"
                " communes_late, communes_missing, completeness_pct, timeliness_pct, deadline,"
                " status FROM province_completeness"
                " WHERE province_code = %(c)s AND report_type = %(t)s AND period = %(p)s",
                params,
            )
            communes = client.execute(
                "SELECT commune_code, commune_name FROM communes WHERE province_code = %(c)s"
                " ORDER BY commune_code",
                params,
            )
            reported = client.execute(
                "SELECT commune_code, max(revision), max(submitted_at), any(on_time),"
                " max(amended) FROM commune_indicators"
                " WHERE province_code = %(c)s AND period = %(p)s GROUP BY commune_code",
                params,
            )
            rejections = client.execute(
                "SELECT rejection_id, commune_code, revision, reason_code, reason_field,"
                " message_en, message_vi, rejected_at FROM rejected_reports"
                " WHERE province_code = %(c)s AND period = %(p)s"
                f" ORDER BY rejected_at DESC LIMIT {RECENT_ROWS}",
                params,
            )
            warnings = client.execute(
                "SELECT commune_code, commune_name, revision, rule_code, indicator_code, value,"
                " reference_value, message_en, message_vi, raised_at FROM report_warnings"
                " WHERE province_code = %(c)s AND report_type = %(t)s AND period = %(p)s"
                f" ORDER BY raised_at DESC LIMIT {RECENT_ROWS}",
                params,
            )
            trend_rows = client.execute(
                "SELECT period, indicator_code, value, status FROM province_indicators"
                " WHERE province_code = %(c)s AND report_type = %(t)s AND period IN ("
                "  SELECT DISTINCT period FROM province_indicators"
                "  WHERE province_code = %(c)s AND report_type = %(t)s AND period <= %(p)s"
                f"  ORDER BY period DESC LIMIT {TREND_PERIODS})"
                " ORDER BY period",
                params,
            )
        accepted = {row[0]: row for row in reported}
        refused = {row[1] for row in rejections}
        commune_rows = []
        for commune, name in communes:
            held = accepted.get(commune)
            commune_rows.append(
                {
                    "code": commune,
                    "name": name,
                    "status": commune_status(
                        reported=held is not None,
                        on_time=None if held is None else held[3],
                        rejected=commune in refused,
                    ),
                    "revision": None if held is None else held[1],
                    "submitted_at": None if held is None else _iso(held[2]),
                    "amended": bool(held and held[4]),
                }
            )
        series: dict[str, list[dict[str, Any]]] = defaultdict(list)
        current: dict[str, tuple[float | None, str]] = {}
        for row_period, indicator, value, status in trend_rows:
            series[indicator].append({"period": row_period, "value": _number(value)})
            if row_period == period:
                current[indicator] = (value, status)
        indicators = [
            {
                **self._labels(indicator),
                "value": _number(current[indicator][0]),
                "status": current[indicator][1],
                "trend": series[indicator],
            }
            for indicator in self._pick(set(current))
        ]
        summary_keys = (
            "name",
            "expected",
            "reported",
            "on_time",
            "late",
            "missing",
            "completeness_pct",
            "timeliness_pct",
            "deadline",
            "status",
        )
        totals = dict(zip(summary_keys, summary[0], strict=True)) if summary else None
        if totals is not None:
            totals["deadline"] = _iso(totals["deadline"])
        return {
            "code": code,
            "report_type": report_type,
            "period": period,
            "summary": totals,
            "communes": commune_rows,
            "indicators": indicators,
            "rejections": [
                {
                    "rejection_id": rid,
                    "commune_code": commune,
                    "revision": revision,
                    "reason_code": reason,
                    "field": field,
                    "message_en": en,
                    "message_vi": vi,
                    "at": _iso(at),
                }
                for rid, commune, revision, reason, field, en, vi, at in rejections
            ],
            "warnings": [
                {
                    "commune_code": commune,
                    "commune_name": name,
                    "revision": revision,
                    "rule_code": rule,
                    "indicator_code": indicator,
                    "value": _number(value),
                    "reference_value": _number(reference),
                    "message_en": en,
                    "message_vi": vi,
                    "at": _iso(at),
                }
                for commune, name, revision, rule, indicator, value, reference, en, vi, at in (
                    warnings
                )
            ],
        }

    def commune(self, code: str, *, period: str) -> dict[str, Any]:
        """A commune's latest report of ``period`` and the revisions that changed its
        province's figures (from ``province_indicator_history``'s causes)."""
        params = {"c": code, "p": period}
        with self._client() as client:
            latest = client.execute(
                "SELECT commune_name, province_code, indicator_code, value, revision,"
                " submitted_at, on_time, amended FROM commune_indicators"
                " WHERE commune_code = %(c)s AND period = %(p)s ORDER BY indicator_code",
                params,
            )
            revisions = client.execute(
                "SELECT revision, indicator_code, previous, value, known_at FROM ("
                "  SELECT indicator_code, known_at, commune, revision, previous, value FROM ("
                "   SELECT indicator_code, known_at, cause_commune_codes, cause_revisions,"
                "    cause_previous_values, cause_values FROM province_indicator_history"
                "   WHERE period = %(p)s AND has(cause_commune_codes, %(c)s)"
                "  ) ARRAY JOIN cause_commune_codes AS commune, cause_revisions AS revision,"
                "   cause_previous_values AS previous, cause_values AS value"
                ") WHERE commune = %(c)s ORDER BY revision, indicator_code",
                params,
            )
            name_rows = client.execute(
                "SELECT commune_name, province_code FROM communes WHERE commune_code = %(c)s",
                params,
            )
        name, province = name_rows[0] if name_rows else ("", "")
        head = latest[0] if latest else None
        return {
            "code": code,
            "name": name,
            "province_code": province,
            "period": period,
            "revision": None if head is None else head[4],
            "submitted_at": None if head is None else _iso(head[5]),
            "on_time": None if head is None else head[6],
            "amended": bool(head and head[7]),
            "indicators": [{**self._labels(row[2]), "value": _number(row[3])} for row in latest],
            "revisions": [
                {
                    "revision": revision,
                    "indicator_code": indicator,
                    "previous": _number(previous),
                    "value": _number(value),
                    "known_at": _iso(known_at),
                }
                for revision, indicator, previous, value, known_at in revisions
            ],
        }
