"""What the dashboard shows: the read model's rows shaped as the page's JSON.

Rule: every read goes through :class:`~baocao.app.views.reader.Views` (the views the BI users
query, so the page shows what their tools show); each method answers one page section with
plain JSON-able dicts whose shape the page (``static/app.js``) relies on.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from baocao.app.dashboard.exceptions import DashboardQueryError
from baocao.app.views import slices
from baocao.app.views.reader import ProvinceLogin, Views, ViewSession
from baocao.app.views.scope import Scope
from baocao.app.views.slices import Slice
from baocao.app.views.status import commune_status
from baocao.core.catalogue import UNITS_VI, Catalogue, load_catalogue
from baocao.core.periods import ReportType, parse_period, period_containing
from baocao.core.reference import load_reference
from baocao.core.settings import ClickHouseSettings

__all__ = ["DIVISION_TYPES", "KEY_INDICATORS", "DashboardQueries", "tile_positions"]

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
#: The unit types of the 2025 map, the province page's filter.
DIVISION_TYPES: tuple[str, ...] = ("xã", "phường", "đặc khu")
TREND_PERIODS = 8
#: The sparkline's periods: the ``TREND_PERIODS`` periods of the type up to the asked one, as
#: a range on the key (``%(w)s``: the first of them), so the read prunes to their partitions
#: however long the history; a period without figures is a gap in the line.
_TREND_WINDOW = "period >= %(w)s AND period <= %(p)s"


def _trend_start(period: str) -> str:
    """The first period of the sparkline ending at ``period``."""
    first = parse_period(period)
    for _ in range(TREND_PERIODS - 1):
        first = first.previous()
    return str(first)


RECENT_ROWS = 50
#: A sparkline point with fewer than this share of the communes reported is marked partial.
PARTIAL_SHARE = 0.5


def _approval_state(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The period's approval state as the page shows it: from the worker's decisions (the
    state, its version the next step names, who approved) and every step with its answer."""
    applied = [s for s in steps if s["outcome"] == "applied" and s["action"] != "correction"]
    last = applied[-1] if applied else None
    approve = next((s for s in reversed(applied) if s["action"] == "approve"), None)
    return {
        "state": last["state"] if last else "open",
        "version": last["version"] if last else 0,
        "approved_by": approve["actor"] if approve and last and last["state"] != "open" else None,
        "approved_at": _iso(approve["acted_at"])
        if approve and last and last["state"] != "open"
        else None,
        "history": [
            {
                "approval_id": s["approval_id"],
                "action": s["action"],
                "commune_code": s["commune_code"],
                "actor": s["actor"],
                "at": _iso(s["acted_at"]),
                "note": s["note"],
                "outcome": s["outcome"],
                "reason_en": s["reason_en"],
                "reason_vi": s["reason_vi"],
            }
            for s in steps
        ],
    }


@cache
def tile_positions() -> dict[str, tuple[int, int]]:
    """Province code -> (row, column) of the tile map (``tiles.json``, north to south)."""
    text = resources.files("baocao.app.dashboard").joinpath("tiles.json").read_text("utf-8")
    return {code: (row, col) for code, (row, col) in json.loads(text)["tiles"].items()}


def _province_of(commune: str) -> str | None:
    """The province a commune belongs to (``None`` for a code the reference does not know:
    such a read is national)."""
    known = load_reference().communes.get(commune)
    return None if known is None else known.province_code


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _number(value: float | None) -> float | None:
    """A value for JSON: NaN and infinities (never stored, but cheap to guard) become null."""
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return float(value)


def _counts(row: dict[str, Any]) -> dict[str, Any]:
    """A row of ``province_completeness`` or ``national_completeness`` as the page names it."""
    return {
        "expected": row["communes_expected"],
        "reported": row["communes_reported"],
        "on_time": row["communes_on_time"],
        "late": row["communes_late"],
        "missing": row["communes_missing"],
        "completeness_pct": row["completeness_pct"],
        "timeliness_pct": row["timeliness_pct"],
        "deadline": _iso(row["deadline"]),
        "status": row["status"],
    }


class DashboardQueries:
    """The dashboard's reads, over ClickHouse settings injected by the command."""

    def __init__(
        self,
        settings: ClickHouseSettings,
        *,
        catalogue: Catalogue | None = None,
        province_login: ProvinceLogin | None = None,
    ) -> None:
        self._views = Views(settings, error=DashboardQueryError, province_login=province_login)
        self._catalogue = catalogue if catalogue is not None else load_catalogue()

    def for_scope(self, scope: Scope) -> DashboardQueries:
        """These reads under a signed-in officer's scope (cheap: no connection is opened)."""
        narrowed = object.__new__(DashboardQueries)
        narrowed._views = self._views.narrowed(scope)
        narrowed._catalogue = self._catalogue
        return narrowed

    def admit(self, province: str) -> None:
        """Raise :class:`OutOfScopeError` unless this reader may see ``province``."""
        self._views.scope.admit(province)

    def missing_communes(self, code: str, *, report_type: str, period: str) -> list[dict[str, str]]:
        """The communes of province ``code`` without an accepted report of the period."""
        with self._views.read(province=code) as views:
            communes = views.communes()
            reported = {
                row["commune_code"]
                for row in views.rows(
                    "SELECT DISTINCT commune_code"
                    f" FROM {slices.commune_indicators(Slice(province=True))}"
                    " WHERE province_code = %(c)s AND report_type = %(t)s AND period = %(p)s",
                    {"c": code, "t": report_type, "p": period},
                )
            }
        return [
            {"code": c["commune_code"], "name": c["commune_name"]}
            for c in communes
            if c["commune_code"] not in reported
        ]

    def _labels(self, code: str) -> dict[str, Any]:
        indicator = self._catalogue.indicators.get(code)
        if indicator is None:
            return {
                "code": code,
                "name_en": code,
                "name_vi": code,
                "unit": "",
                "unit_vi": "",
                "ratio": False,
            }
        return {
            "code": code,
            "name_en": indicator.name_en,
            "name_vi": indicator.name_vi,
            "unit": indicator.unit,
            "unit_vi": UNITS_VI.get(indicator.unit, indicator.unit),
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
        """Every known report type and period, newest first, with its national completeness;
        ``due`` says whether its deadline has passed (an announced period nobody reported in
        yet, not due, is what the page lists last)."""
        with self._views.read() as views:
            rows = views.rows(
                "SELECT report_type, period, deadline, completeness_pct, status,"
                " communes_reported, toUInt8(now() >= deadline) AS due"
                " FROM national_completeness ORDER BY deadline DESC, report_type",
            )
        return [
            {
                "report_type": row["report_type"],
                "period": row["period"],
                "deadline": _iso(row["deadline"]),
                "completeness_pct": row["completeness_pct"],
                "status": row["status"],
                "communes_reported": row["communes_reported"],
                "due": bool(row["due"]),
            }
            for row in rows
        ]

    def default_period(self, *, now: datetime | None = None) -> dict[str, str]:
        """Where the page opens: the period whose figures changed last (the one with the most
        recently accepted reports), else the monthly period of today.

        Read from ``province_indicator_values`` without FINAL: the newest row of the table is
        the latest version of its figure (a figure's versions grow with time), so the answer
        is the view's, without merging every period's versions first."""
        with self._views.read() as views:
            rows = views.rows(
                "SELECT report_type, period, updated_at AS newest FROM province_indicator_values"
                " ORDER BY newest DESC, period DESC LIMIT 1",
            )
        if rows:
            return {
                "report_type": rows[0]["report_type"],
                "period": rows[0]["period"],
                "reason": "latest_reports",
            }
        today = now if now is not None else datetime.now(UTC)
        return {
            "report_type": str(ReportType.MONTHLY),
            "period": period_containing(ReportType.MONTHLY, today).text,
            "reason": "current_month",
        }

    def overview(self, *, report_type: str, period: str) -> dict[str, Any]:
        """The national page: tiles, national totals, missing and late counts, freshness."""
        params = {"t": report_type, "p": period}
        positions = tile_positions()
        scope = self._views.scope
        with self._views.read() as views:
            read = views.gather(
                provinces=lambda v: (
                    v.province_completeness(report_type=report_type, period=period)
                    if scope.everything
                    else []
                ),
                national=lambda v: v.national_completeness(report_type=report_type, period=period),
                figures=lambda v: v.national_indicators(report_type=report_type, period=period),
                overdue=lambda v: v.rows(
                    "SELECT countIf(overdue = 1) AS overdue_count,"
                    " countIf(overdue = 0) AS due_count"
                    f" FROM {slices.missing_reports(Slice())}"
                    " WHERE report_type = %(t)s AND period = %(p)s",
                    params,
                ),
                rejected=lambda v: v.rows(
                    "SELECT uniqExact(rejection_id) AS rejections FROM rejected_reports"
                    " WHERE period = %(p)s",
                    params,
                ),
                # The table, not the view: whether any figure exists and the newest update
                # are the same over every version, and need no FINAL over every period.
                fresh=lambda v: v.rows(
                    "SELECT count() AS figures, max(updated_at) AS newest,"
                    " toInt64(now()) - toInt64(max(updated_at)) AS age"
                    " FROM province_indicator_values",
                ),
            )
        provinces, national, figures = read["provinces"], read["national"], read["figures"]
        [overdue], [rejected], [fresh] = read["overdue"], read["rejected"], read["fresh"]
        for code in sorted(scope.provinces or ()):
            # A province officer's map holds their own tile only, read through their login.
            with self._views.read(province=code) as views:
                provinces += views.province_completeness(report_type=report_type, period=period)
        tiles = [
            {
                "code": row["province_code"],
                "name": row["province_name"],
                "row": positions.get(row["province_code"], (0, 0))[0],
                "col": positions.get(row["province_code"], (0, 0))[1],
                **_counts(row),
            }
            for row in provinces
        ]
        totals = None
        if national:
            row = national[0]
            totals = {
                **_counts(row),
                "provinces_complete": row["provinces_complete"],
                "provinces_approved": row["provinces_approved"],
            }
        by_code = {row["indicator_code"]: row for row in figures}
        indicators = [
            {
                **self._labels(code),
                "value": _number(by_code[code]["value"]),
                "provinces_reported": by_code[code]["provinces_reported"],
                "status": by_code[code]["status"],
            }
            for code in self._pick(set(by_code))
        ]
        return {
            "report_type": report_type,
            "period": period,
            "provinces": tiles,
            "national": totals,
            "indicators": indicators,
            "missing_overdue": overdue["overdue_count"],
            "missing_due": overdue["due_count"],
            "rejections": rejected["rejections"],
            "newest_update": _iso(fresh["newest"]) if fresh["figures"] else None,
            "freshness_seconds": max(fresh["age"], 0) if fresh["figures"] else None,
        }

    def province(
        self, code: str, *, report_type: str, period: str, division_type: str | None = None
    ) -> dict[str, Any]:
        """A province's page: its communes' statuses, indicators with trends, rejections and
        warnings of the period, and completeness by unit type; ``division_type`` keeps the
        communes of that type only."""
        params = {"c": code, "t": report_type, "p": period, "w": _trend_start(period)}
        where = "province_code = %(c)s AND report_type = %(t)s AND period = %(p)s"
        mine = Slice(province=True)

        def rows(sql: str) -> Callable[[ViewSession], list[dict[str, Any]]]:
            return lambda views: views.rows(sql, params)

        with self._views.read(province=code) as views:
            read = views.gather(
                summary=lambda v: v.province_completeness(report_type=report_type, period=period),
                communes=lambda v: v.communes(),
                reported=rows(
                    "SELECT commune_code, max(revision) AS revision,"
                    " max(submitted_at) AS submitted_at, any(on_time) AS on_time,"
                    " max(amended) AS amended"
                    f" FROM {slices.commune_indicators(mine)} WHERE {where}"
                    " GROUP BY commune_code"
                ),
                rejections=rows(
                    "SELECT rejection_id, commune_code, revision, reason_code, reason_field,"
                    " message_en, message_vi, rejected_at FROM rejected_reports"
                    " WHERE province_code = %(c)s AND period = %(p)s"
                    f" ORDER BY rejected_at DESC LIMIT {RECENT_ROWS}"
                ),
                warnings=rows(
                    "SELECT commune_code, commune_name, revision, rule_code, indicator_code,"
                    " value, reference_value, message_en, message_vi, raised_at"
                    f" FROM {slices.report_warnings(mine)} WHERE {where}"
                    f" ORDER BY raised_at DESC LIMIT {RECENT_ROWS}"
                ),
                receipts=rows(
                    "SELECT commune_code, received_at, claimed_at"
                    f" FROM {slices.commune_receipts(mine)} WHERE {where}"
                ),
                returned=rows(
                    "SELECT commune_code, note, returned_by, returned_at FROM returned_reports"
                    f" WHERE {where}"
                ),
                steps=rows(
                    "SELECT approval_id, action, commune_code, actor, acted_at, note, outcome,"
                    " reason_en, reason_vi, state, version FROM approval_audit"
                    f" WHERE {where} ORDER BY acted_at, version"
                ),
                trend=rows(
                    "SELECT period, indicator_code, value, status, communes_reported,"
                    " communes_expected"
                    f" FROM {slices.province_indicators(mine, period=_TREND_WINDOW)}"
                    " ORDER BY period"
                ),
                unit_types=rows(
                    "SELECT division_type, communes_expected, communes_reported,"
                    " completeness_pct"
                    f" FROM {slices.division_type_completeness(mine)} WHERE {where}"
                    " ORDER BY division_type"
                ),
                compared=rows(
                    "SELECT indicator_code, same_period_last_year, year_to_date"
                    f" FROM {slices.indicator_comparisons(mine)} WHERE {where}"
                ),
            )
        summary, communes, reported = read["summary"], read["communes"], read["reported"]
        rejections, warnings, receipts = read["rejections"], read["warnings"], read["receipts"]
        returned, steps, trend_rows = read["returned"], read["steps"], read["trend"]
        unit_types = read["unit_types"]
        compared = {row["indicator_code"]: row for row in read["compared"]}
        accepted = {row["commune_code"]: row for row in reported}
        refused = {row["commune_code"] for row in rejections}
        received = {row["commune_code"]: row for row in receipts}
        sent_back = {row["commune_code"]: row for row in returned}
        commune_rows = []
        reference = load_reference()
        for commune in communes:
            commune_code = commune["commune_code"]
            known = reference.communes.get(commune_code)
            if division_type is not None and (
                known is None or known.division_type != division_type
            ):
                continue
            held = accepted.get(commune_code)
            receipt = received.get(commune_code)
            back = sent_back.get(commune_code)
            status = commune_status(
                reported=held is not None,
                on_time=None if held is None else held["on_time"],
                rejected=commune_code in refused,
            )
            commune_rows.append(
                {
                    "code": commune_code,
                    "name": commune["commune_name"],
                    # A report sent back still counts until its correction: shown returned.
                    "status": "returned" if back is not None and held is not None else status,
                    "revision": None if held is None else held["revision"],
                    "submitted_at": None if held is None else _iso(held["submitted_at"]),
                    "received_at": None if receipt is None else _iso(receipt["received_at"]),
                    "claim_offset_seconds": None
                    if receipt is None
                    else int((receipt["claimed_at"] - receipt["received_at"]).total_seconds()),
                    "returned_note": None if back is None else back["note"],
                    "returned_by": None if back is None else back["returned_by"],
                    "amended": bool(held and held["amended"]),
                }
            )
        coverage: dict[str, dict[str, int]] = {}
        for row in trend_rows:
            point = coverage.setdefault(row["period"], {"reported": 0, "expected": 0})
            point["reported"] = max(point["reported"], row["communes_reported"])
            point["expected"] = max(point["expected"], row["communes_expected"])
        series: dict[str, list[dict[str, Any]]] = defaultdict(list)
        current: dict[str, dict[str, Any]] = {}
        for row in trend_rows:
            seen = coverage.get(row["period"])
            series[row["indicator_code"]].append(
                {
                    "period": row["period"],
                    "value": _number(row["value"]),
                    # Few communes behind a point: a jump there is not a trend.
                    "partial": seen is None
                    or not seen["expected"]
                    or seen["reported"] < PARTIAL_SHARE * seen["expected"],
                }
            )
            if row["period"] == period:
                current[row["indicator_code"]] = row
        indicators = [
            {
                **self._labels(indicator),
                "value": _number(current[indicator]["value"]),
                "status": current[indicator]["status"],
                # "Cùng kỳ năm trước" and "Lũy kế từ đầu năm" (indicator_comparisons).
                "same_period_last_year": _number(
                    compared.get(indicator, {}).get("same_period_last_year")
                ),
                "year_to_date": _number(compared.get(indicator, {}).get("year_to_date")),
                "trend": series[indicator],
            }
            for indicator in self._pick(set(current))
        ]
        totals = {"name": summary[0]["province_name"], **_counts(summary[0])} if summary else None
        return {
            "code": code,
            "report_type": report_type,
            "period": period,
            "summary": totals,
            "division_type": division_type,
            "communes": commune_rows,
            "unit_types": [
                {
                    "division_type": row["division_type"],
                    "expected": int(row["communes_expected"]),
                    "reported": int(row["communes_reported"]),
                    "completeness_pct": float(row["completeness_pct"]),
                }
                for row in unit_types
            ],
            "approval": _approval_state(steps),
            "indicators": indicators,
            "rejections": [
                {
                    "rejection_id": row["rejection_id"],
                    "commune_code": row["commune_code"],
                    "revision": row["revision"],
                    "reason_code": row["reason_code"],
                    "field": row["reason_field"],
                    "message_en": row["message_en"],
                    "message_vi": row["message_vi"],
                    "at": _iso(row["rejected_at"]),
                }
                for row in rejections
            ],
            "warnings": [
                {
                    "commune_code": row["commune_code"],
                    "commune_name": row["commune_name"],
                    "revision": row["revision"],
                    "rule_code": row["rule_code"],
                    "indicator_code": row["indicator_code"],
                    "value": _number(row["value"]),
                    "reference_value": _number(row["reference_value"]),
                    "message_en": row["message_en"],
                    "message_vi": row["message_vi"],
                    "at": _iso(row["raised_at"]),
                }
                for row in warnings
            ],
        }

    def commune(self, code: str, *, period: str) -> dict[str, Any]:
        """A commune's latest report of ``period`` and the revisions that changed its
        province's figures (from ``province_indicator_history``'s causes)."""
        params = {"c": code, "u": code, "p": period}
        of_period = Slice(report_type=False)
        with self._views.read(province=_province_of(code)) as views:
            latest = views.rows(
                "SELECT commune_name, province_code, indicator_code, value, revision,"
                " submitted_at, on_time, amended"
                f" FROM {slices.commune_indicators(Slice(report_type=False, commune=True))}"
                " WHERE commune_code = %(c)s AND period = %(p)s ORDER BY indicator_code",
                params,
            )
            revisions = views.rows(
                "SELECT revision, indicator_code, previous, value, known_at FROM ("
                "  SELECT indicator_code, known_at, commune, revision, previous, value FROM ("
                "   SELECT indicator_code, known_at, cause_commune_codes, cause_revisions,"
                "    cause_previous_values, cause_values"
                f"   FROM {slices.province_indicator_history(of_period)}"
                "   WHERE period = %(p)s AND has(cause_commune_codes, %(c)s)"
                "  ) ARRAY JOIN cause_commune_codes AS commune, cause_revisions AS revision,"
                "   cause_previous_values AS previous, cause_values AS value"
                ") WHERE commune = %(c)s ORDER BY revision, indicator_code",
                params,
            )
            names = views.rows(
                "SELECT commune_name, province_code FROM communes WHERE commune_code = %(c)s",
                params,
            )
        head = latest[0] if latest else None
        return {
            "code": code,
            "name": names[0]["commune_name"] if names else "",
            "province_code": names[0]["province_code"] if names else "",
            "period": period,
            "revision": None if head is None else head["revision"],
            "submitted_at": None if head is None else _iso(head["submitted_at"]),
            "on_time": None if head is None else head["on_time"],
            "amended": bool(head and head["amended"]),
            "indicators": [
                {**self._labels(row["indicator_code"]), "value": _number(row["value"])}
                for row in latest
            ],
            "revisions": [
                {
                    "revision": row["revision"],
                    "indicator_code": row["indicator_code"],
                    "previous": _number(row["previous"]),
                    "value": _number(row["value"]),
                    "known_at": _iso(row["known_at"]),
                }
                for row in revisions
            ],
        }
