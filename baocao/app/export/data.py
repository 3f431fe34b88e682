"""What an exported report holds, read through the read model from the BI views only.

Rule: every number in the workbook comes from a view the BI users query too, so a printed
report and a BI tool never disagree; this module only collects, and
:mod:`baocao.app.export.workbook` decides how it looks.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from baocao.app.export.exceptions import ExportQueryError, NothingToExportError
from baocao.app.views import slices
from baocao.app.views.reader import ProvinceLogin, Views
from baocao.app.views.scope import EVERYTHING, Scope
from baocao.app.views.slices import Slice
from baocao.app.views.status import commune_status
from baocao.core.instants import EPOCH
from baocao.core.settings import ClickHouseSettings

__all__ = [
    "Approval",
    "CommuneRow",
    "Completeness",
    "ExportReader",
    "Figure",
    "NationalReport",
    "ProvinceReport",
    "ProvinceRow",
    "Warning",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Completeness:
    """One row of ``province_completeness`` or ``national_completeness``."""

    expected: int
    reported: int
    on_time: int
    late: int
    missing: int
    #: 0..100, rounded to 0.1 by the view.
    completeness_pct: float
    timeliness_pct: float
    deadline: datetime | None
    #: provisional, final or approved.
    status: str


@dataclass(frozen=True)
class Approval:
    """The approval that locked a province's period (``period_approvals``)."""

    approved_by: str
    approved_at: datetime
    note: str | None
    approval_count: int


@dataclass(frozen=True)
class Figure:
    """An indicator's value for the province (``province_indicators``) or the nation
    (``national_indicators``, which also says how many provinces reported it)."""

    code: str
    value: float | None
    communes_reported: int
    communes_expected: int
    status: str
    provinces_reported: int | None = None
    #: "Cùng kỳ năm trước" and "Lũy kế từ đầu năm" (``indicator_comparisons``): the figure
    #: of the same period a year before, and the year to date; ``None`` without data.
    same_period_last_year: float | None = None
    year_to_date: float | None = None


@dataclass(frozen=True)
class Warning:
    """A warning on a commune's latest report (``report_warnings``)."""

    rule_code: str
    indicator_code: str | None
    message_vi: str
    message_en: str


@dataclass(frozen=True)
class CommuneRow:
    """A commune of the province in the period: its latest accepted report, or none."""

    code: str
    name: str
    #: on_time, late, reported (stored before deadlines existed) or missing
    #: (:func:`baocao.app.views.status.commune_status`).
    status: str
    revision: int | None = None
    submitted_at: datetime | None = None
    amended: bool = False
    figures: dict[str, float | None] = field(default_factory=dict)
    warnings: tuple[Warning, ...] = ()


@dataclass(frozen=True)
class UnitTypeRow:
    """The units of one type (xã, phường, đặc khu): completeness and figures
    (``division_type_completeness``, ``division_type_indicators``)."""

    division_type: str
    expected: int
    reported: int
    completeness_pct: float
    figures: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class ProvinceReport:
    """Everything a province's exported report shows."""

    code: str
    name: str
    report_type: str
    period: str
    completeness: Completeness
    approval: Approval | None
    figures: list[Figure]
    communes: list[CommuneRow]
    generated_at: datetime
    unit_types: list[UnitTypeRow] = field(default_factory=list)


@dataclass(frozen=True)
class ProvinceRow:
    """A province in the national report: its completeness, approval, warnings and figures."""

    code: str
    name: str
    completeness: Completeness
    approval: Approval | None
    warnings: int
    communes_with_warnings: int
    figures: dict[str, float | None]


@dataclass(frozen=True)
class NationalReport:
    """Everything the national report shows."""

    report_type: str
    period: str
    completeness: Completeness
    provinces_complete: int
    provinces_approved: int
    figures: list[Figure]
    provinces: list[ProvinceRow]
    generated_at: datetime
    unit_types: list[UnitTypeRow] = field(default_factory=list)


def _moment(value: datetime | None) -> datetime | None:
    """A view's DateTime as an aware UTC instant; the empty DateTime (epoch) is unknown."""
    if value is None:
        return None
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return None if aware <= EPOCH else aware


def _completeness(row: dict[str, Any]) -> Completeness:
    return Completeness(
        expected=int(row["communes_expected"]),
        reported=int(row["communes_reported"]),
        on_time=int(row["communes_on_time"]),
        late=int(row["communes_late"]),
        missing=int(row["communes_missing"]),
        completeness_pct=float(row["completeness_pct"]),
        timeliness_pct=float(row["timeliness_pct"]),
        deadline=_moment(row["deadline"]),
        status=str(row["status"]),
    )


def _figure(row: dict[str, Any]) -> Figure:
    """A row of ``province_indicators`` or ``national_indicators`` (which also counts the
    provinces that reported)."""
    provinces = row.get("provinces_reported")
    return Figure(
        code=row["indicator_code"],
        value=row["value"],
        communes_reported=int(row["communes_reported"]),
        communes_expected=int(row["communes_expected"]),
        status=row["status"],
        provinces_reported=None if provinces is None else int(provinces),
    )


def _compared(figures: list[dict[str, Any]], comparisons: list[dict[str, Any]]) -> list[Figure]:
    """Each figure with its same period last year and year to date."""
    by_code = {row["indicator_code"]: row for row in comparisons}
    return [
        replace(
            _figure(row),
            same_period_last_year=by_code.get(row["indicator_code"], {}).get(
                "same_period_last_year"
            ),
            year_to_date=by_code.get(row["indicator_code"], {}).get("year_to_date"),
        )
        for row in figures
    ]


#: Units per type, in the order of the 2025 map's types.
_DIVISION_TYPES = ("xã", "phường", "đặc khu")


def _unit_type_queries(params: dict[str, Any]) -> tuple[str, str]:
    """The two reads of a province's units by type (``params["c"]``), or the nation's
    without it: the counts, then the figures."""
    where = "report_type = %(t)s AND period = %(p)s"
    completeness, indicators = (
        slices.national_division_type_completeness,
        slices.national_division_type_indicators,
    )
    cut = Slice(province="c" in params)
    if cut.province:
        where = f"province_code = %(c)s AND {where}"
        completeness, indicators = (
            slices.division_type_completeness,
            slices.division_type_indicators,
        )
    return (
        "SELECT division_type, communes_expected, communes_reported, completeness_pct"
        f" FROM {completeness(cut)} WHERE {where}",
        f"SELECT division_type, indicator_code, value FROM {indicators(cut)} WHERE {where}",
    )


def _unit_types(counts: list[dict[str, Any]], values: list[dict[str, Any]]) -> list[UnitTypeRow]:
    """The units by type out of :func:`_unit_type_queries`' rows, in the reference order."""
    figures: dict[str, dict[str, float | None]] = defaultdict(dict)
    for row in values:
        figures[row["division_type"]][row["indicator_code"]] = row["value"]
    order = {kind: index for index, kind in enumerate(_DIVISION_TYPES)}
    return [
        UnitTypeRow(
            division_type=row["division_type"],
            expected=int(row["communes_expected"]),
            reported=int(row["communes_reported"]),
            completeness_pct=float(row["completeness_pct"]),
            figures=figures.get(row["division_type"], {}),
        )
        for row in sorted(counts, key=lambda r: order.get(r["division_type"], len(order)))
    ]


#: The comparison columns of a province's figures, and of the national ones.
_COMPARISONS = (
    "SELECT indicator_code, same_period_last_year, year_to_date"
    f" FROM {slices.indicator_comparisons(Slice(province=True))}"
    " WHERE province_code = %(c)s AND report_type = %(t)s AND period = %(p)s"
)
_NATIONAL_COMPARISONS = (
    "SELECT indicator_code, same_period_last_year, year_to_date"
    f" FROM {slices.national_indicator_comparisons(Slice())}"
    " WHERE report_type = %(t)s AND period = %(p)s"
)


def _approval(row: dict[str, Any] | None) -> Approval | None:
    if row is None:
        return None
    approved_at = _moment(row["approved_at"])
    assert approved_at is not None, "period_approvals has an approval without its moment"
    return Approval(
        approved_by=row["approved_by"],
        approved_at=approved_at,
        note=row["note"] or None,
        approval_count=int(row["approval_count"]),
    )


_APPROVAL_COLUMNS = "province_code, approved_by, approved_at, note, approval_count"


class ExportReader:
    """Reads a report out of the views, over ClickHouse settings injected by the caller."""

    def __init__(
        self,
        settings: ClickHouseSettings,
        *,
        scope: Scope = EVERYTHING,
        province_login: ProvinceLogin | None = None,
    ) -> None:
        self._views = Views(
            settings, error=ExportQueryError, scope=scope, province_login=province_login
        )

    def _nothing(self, report_type: str, period: str, of: str = "") -> NothingToExportError:
        """The error for a period the views do not know, with the newest ones they do."""
        return NothingToExportError(
            f"the views have no {report_type} period {period}{of} (known {report_type}"
            f" periods, newest first: {self._known_periods(report_type)})"
        )

    def _known_periods(self, report_type: str) -> str:
        """The newest periods of ``report_type``, from the national tier (a province login
        reads no national view)."""
        with self._views.read() as views:
            rows = views.rows(
                "SELECT period FROM national_completeness WHERE report_type = %(t)s"
                " ORDER BY deadline DESC LIMIT 12",
                {"t": report_type},
            )
        return ", ".join(row["period"] for row in rows) or "none"

    def province(
        self, code: str, *, report_type: str, period: str, now: datetime | None = None
    ) -> ProvinceReport:
        """Province ``code``'s report of ``period``; :class:`NothingToExportError` when
        the views know no such province or period."""
        params = {"c": code, "t": report_type, "p": period}
        where = "province_code = %(c)s AND report_type = %(t)s AND period = %(p)s"
        mine = Slice(province=True)
        unit_counts, unit_values = _unit_type_queries(params)
        with self._views.read(province=code) as views:
            read = views.gather(
                summary=lambda v: v.province_completeness(report_type=report_type, period=period),
                approvals=lambda v: v.rows(
                    f"SELECT {_APPROVAL_COLUMNS} FROM period_approvals WHERE {where}", params
                ),
                figures=lambda v: v.rows(
                    "SELECT indicator_code, value, communes_reported, communes_expected, status"
                    f" FROM {slices.province_indicators(mine)} WHERE {where}"
                    " ORDER BY indicator_code",
                    params,
                ),
                comparisons=lambda v: v.rows(_COMPARISONS, params),
                unit_counts=lambda v: v.rows(unit_counts, params),
                unit_values=lambda v: v.rows(unit_values, params),
                communes=lambda v: v.communes(),
                values=lambda v: v.rows(
                    "SELECT commune_code, indicator_code, value, revision, submitted_at, on_time,"
                    f" amended FROM {slices.commune_indicators(mine)} WHERE {where}",
                    params,
                ),
                warnings=lambda v: v.rows(
                    "SELECT commune_code, rule_code, indicator_code, message_vi, message_en"
                    f" FROM {slices.report_warnings(mine)} WHERE {where}"
                    " ORDER BY commune_code, raised_at, rule_code",
                    params,
                ),
            )
        summary, approvals, figures = read["summary"], read["approvals"], read["figures"]
        if not summary:
            raise self._nothing(report_type, period, f" for province {code}")
        comparisons, unit_types, communes = (
            read["comparisons"],
            _unit_types(read["unit_counts"], read["unit_values"]),
            read["communes"],
        )
        values, warnings = read["values"], read["warnings"]
        reports: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in values:
            reports[row["commune_code"]].append(row)
        warned: dict[str, list[Warning]] = defaultdict(list)
        for row in warnings:
            warned[row["commune_code"]].append(
                Warning(
                    row["rule_code"], row["indicator_code"], row["message_vi"], row["message_en"]
                )
            )
        rows = []
        for commune in communes:
            held = reports.get(commune["commune_code"], [])
            head = held[0] if held else None
            rows.append(
                CommuneRow(
                    code=commune["commune_code"],
                    name=commune["commune_name"],
                    # The export lists what counts: a refused submission is still missing.
                    status=commune_status(
                        reported=head is not None,
                        on_time=None if head is None else head["on_time"],
                        rejected=False,
                    ),
                    revision=None if head is None else int(head["revision"]),
                    submitted_at=None if head is None else _moment(head["submitted_at"]),
                    amended=bool(head and head["amended"]),
                    figures={r["indicator_code"]: r["value"] for r in held},
                    warnings=tuple(warned.get(commune["commune_code"], ())),
                )
            )
        return ProvinceReport(
            code=code,
            name=summary[0]["province_name"],
            report_type=report_type,
            period=period,
            completeness=_completeness(summary[0]),
            approval=_approval(approvals[0] if approvals else None),
            figures=_compared(figures, comparisons),
            communes=rows,
            generated_at=now if now is not None else datetime.now(UTC),
            unit_types=unit_types,
        )

    def national(
        self, *, report_type: str, period: str, now: datetime | None = None
    ) -> NationalReport:
        """The national report of ``period``: the national figures and one row per province."""
        params = {"t": report_type, "p": period}
        where = "report_type = %(t)s AND period = %(p)s"
        unit_counts, unit_values = _unit_type_queries(params)
        with self._views.read() as views:
            read = views.gather(
                national=lambda v: v.national_completeness(report_type=report_type, period=period),
                figures=lambda v: v.national_indicators(report_type=report_type, period=period),
                comparisons=lambda v: v.rows(_NATIONAL_COMPARISONS, params),
                unit_counts=lambda v: v.rows(unit_counts, params),
                unit_values=lambda v: v.rows(unit_values, params),
                provinces=lambda v: v.province_completeness(report_type=report_type, period=period),
                approvals=lambda v: v.rows(
                    f"SELECT {_APPROVAL_COLUMNS} FROM period_approvals WHERE {where}", params
                ),
                warnings=lambda v: v.rows(
                    "SELECT province_code, count() AS warnings,"
                    " uniqExact(commune_code) AS communes_with_warnings"
                    f" FROM {slices.report_warnings(Slice())} WHERE {where}"
                    " GROUP BY province_code",
                    params,
                ),
                values=lambda v: v.rows(
                    "SELECT province_code, indicator_code, value"
                    f" FROM {slices.province_indicators(Slice())} WHERE {where}",
                    params,
                ),
            )
        national, figures, comparisons = read["national"], read["figures"], read["comparisons"]
        if not national:
            raise self._nothing(report_type, period)
        unit_types, provinces, approvals = (
            _unit_types(read["unit_counts"], read["unit_values"]),
            read["provinces"],
            read["approvals"],
        )
        warnings, values = read["warnings"], read["values"]
        approved = {row["province_code"]: row for row in approvals}
        warned = {row["province_code"]: row for row in warnings}
        by_province: dict[str, dict[str, float | None]] = defaultdict(dict)
        for row in values:
            by_province[row["province_code"]][row["indicator_code"]] = row["value"]
        return NationalReport(
            report_type=report_type,
            period=period,
            completeness=_completeness(national[0]),
            provinces_complete=int(national[0]["provinces_complete"]),
            provinces_approved=int(national[0]["provinces_approved"]),
            figures=_compared(figures, comparisons),
            provinces=[
                ProvinceRow(
                    code=row["province_code"],
                    name=row["province_name"],
                    completeness=_completeness(row),
                    approval=_approval(approved.get(row["province_code"])),
                    warnings=int(warned.get(row["province_code"], {}).get("warnings", 0)),
                    communes_with_warnings=int(
                        warned.get(row["province_code"], {}).get("communes_with_warnings", 0)
                    ),
                    figures=by_province.get(row["province_code"], {}),
                )
                for row in provinces
            ],
            generated_at=now if now is not None else datetime.now(UTC),
            unit_types=unit_types,
        )
