"""The BI views cut to one period before they aggregate: what the dashboard and the export read.

ClickHouse 18.16 pushes no ``WHERE`` into a view, so ``SELECT ... FROM commune_indicators
WHERE period = '2026-11'`` reads every period's latest revision first and filters after: the
cost grows with every month of history (docs/read-side.md). Each function here returns one
view's own query as a subquery (same columns, same logic, same name as alias) with the slice's
filter inside, on the fact tables' sorting and partition keys, so ClickHouse skips the other
periods' parts and granules.

Rule: a slice is the view's query, nothing more; its rows are the view's rows of that slice
(``tests/integration/test_view_slices.py`` compares both on the real server for every function
here). The filters use the fixed parameters ``%(c)s`` (province), ``%(t)s`` (report type),
``%(p)s`` (period) and ``%(u)s`` (commune): pass them with the read. The tables are named
without a database, so a slice reads the connection's own database (``baocao`` or a province's
``baocao_pNN``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "CHECKED",
    "Checked",
    "Slice",
    "commune_indicators",
    "commune_receipts",
    "division_type_completeness",
    "division_type_indicators",
    "indicator_comparisons",
    "missing_reports",
    "national_completeness",
    "national_division_type_completeness",
    "national_division_type_indicators",
    "national_indicator_comparisons",
    "national_indicators",
    "province_completeness",
    "province_indicator_history",
    "province_indicators",
    "report_warnings",
]


@dataclass(frozen=True)
class Slice:
    """Which keys a read fixes: always the period, and optionally the province
    (``%(c)s``), the report type (``%(t)s``) and the commune (``%(u)s``)."""

    province: bool = False
    report_type: bool = True
    commune: bool = False

    def where(self, *, period: str | None = "period = %(p)s") -> str:
        """The filter on a fact table with these key columns (``period`` replaced by a
        caller that takes a range of periods, or ``None`` for a table without periods)."""
        parts = [period] if period else []
        if self.province:
            parts.append("province_code = %(c)s")
        if self.report_type:
            parts.append("report_type = %(t)s")
        if self.commune:
            parts.append("commune_code = %(u)s")
        return " AND ".join(parts) or "1"

    def reports_where(self) -> str:
        """The filter on ``commune_reports``, whose sorting key starts with the commune: a
        province's filter also names the province's communes (or a pre-2025 'L' code, which
        sorts after every digit), so the index skips the other provinces' granules of the
        period's year instead of reading them all."""
        where = self.where()
        if self.province:
            where += (
                " AND (commune_code IN (SELECT commune_code FROM communes"
                " WHERE province_code = %(c)s) OR commune_code >= 'L')"
            )
        return where


#: The periods a year to date of the asked period reads: its year's up to it. Ranges on
#: ``period`` itself (periods sort by year first: '2025' <= '2025-08' < '2025-Q4' < '2026'), so
#: the partitions and the index prune them.
_YEAR_SO_FAR = "period >= substring(%(p)s, 1, 4) AND period <= %(p)s"
#: The same a year before: the same period last year and its year to date.
_LAST_YEAR_SO_FAR = (
    "period >= toString(toUInt16(substring(%(p)s, 1, 4)) - 1)"
    " AND period <= concat(toString(toUInt16(substring(%(p)s, 1, 4)) - 1), substring(%(p)s, 5))"
)

#: The approved periods (``period_approvals``, 0015): few rows, read whole.
_APPROVED = (
    "(SELECT DISTINCT province_code, report_type, period, toUInt8(1) AS approved"
    " FROM period_approvals)"
)


def _latest_reports(cut: Slice) -> str:
    """The slice's rows of ``commune_reports FINAL`` (the latest revision of each commune's
    report of a period; ``ReplacingMergeTree(revision)`` on ``(commune_code, period)``),
    without ``FINAL``. ``FINAL`` reads every column of every granule the key leaves, here the
    indicator arrays of the whole year's periods around the province's communes (46 ms at 10
    years against 3 ms without the arrays); this finds the latest revisions on the key columns
    first, then reads the arrays of those rows only. A revision is one accepted event, so
    copies of it (a replay) are equal: ``LIMIT 1 BY`` keeps one, as ``FINAL`` does."""
    where = cut.reports_where()
    return f"""SELECT * FROM commune_reports
        WHERE {where} AND (commune_code, period, revision) IN
        (
            SELECT commune_code, period, max(revision) FROM commune_reports
            WHERE {where} GROUP BY commune_code, period
        )
        LIMIT 1 BY commune_code, period"""


def commune_indicators(cut: Slice) -> str:
    """``commune_indicators`` (0010)."""
    return f"""(
SELECT commune_code, commune_name, province_code, period, indicator_code, value, revision,
    submitted_at, report_type,
    if(stored_deadline = toDateTime(0, 'UTC'), NULL, on_time) AS on_time, amended
FROM
(
    SELECT commune_code, province_code, period, indicator_code, value, revision, submitted_at,
        report_type, deadline AS stored_deadline, on_time, amended
    FROM
    (
        {_latest_reports(cut)}
    ) AS sliced
    ARRAY JOIN indicator_codes AS indicator_code, indicator_values AS value
) AS latest_values
ANY LEFT JOIN
(
    SELECT commune_code, commune_name FROM communes
) AS commune_names USING (commune_code)
) AS commune_indicators"""


def report_warnings(cut: Slice) -> str:
    """``report_warnings`` (0012)."""
    return f"""(
SELECT warning_id, report_id, commune_code, commune_name, province_code, report_type, period,
    revision, rule_code, indicator_code, value, reference_value, message_en, message_vi,
    raised_at
FROM
(
    SELECT warning_id, report_id, commune_code, province_code, report_type, period, revision,
        rule_code, indicator_code, value, reference_value, message_en, message_vi, raised_at
    FROM report_warnings_log FINAL
    WHERE {cut.where()} AND (commune_code, period, revision) IN
    (
        SELECT commune_code, period, revision FROM commune_reports FINAL WHERE {cut.reports_where()}
    )
) AS current_warnings
ANY LEFT JOIN
(
    SELECT commune_code, commune_name FROM communes
) AS commune_names USING (commune_code)
) AS report_warnings"""


def commune_receipts(cut: Slice) -> str:
    """``commune_receipts`` (0015)."""
    return f"""(
SELECT commune_code, province_code, report_type, period,
    tupleElement(latest, 1) AS revision,
    tupleElement(latest, 2) AS received_at,
    tupleElement(latest, 3) AS claimed_at,
    tupleElement(latest, 4) AS first_received_at
FROM
(
    SELECT commune_code, province_code, report_type, period,
        argMax(tuple(revision, accepted_at, submitted_at, first_submitted_at), revision) AS latest
    FROM commune_reports FINAL
    WHERE {cut.reports_where()}
    GROUP BY commune_code, province_code, report_type, period
)
) AS commune_receipts"""


def province_indicators(cut: Slice, *, period: str = "period = %(p)s") -> str:
    """``province_indicators`` (0015); ``period`` may be a range (a sparkline's window)."""
    return f"""(
SELECT province_code, province_name, period, indicator_code, value, communes_reported,
    communes_expected, updated_at, report_type,
    nullIf(stored_deadline, toDateTime(0, 'UTC')) AS deadline,
    multiIf(
        ifNull(approved, 0) = 1, 'approved',
        stored_deadline > toDateTime(0, 'UTC') AND now() >= stored_deadline, 'final',
        'provisional'
    ) AS status,
    communes_with_warnings, communes_amended
FROM
(
    SELECT province_code, province_name, period, indicator_code, value, communes_reported,
        communes_expected, updated_at, report_type, stored_deadline, communes_with_warnings,
        communes_amended
    FROM
    (
        SELECT province_code, period, indicator_code, value, communes_reported, updated_at,
            report_type, deadline AS stored_deadline, communes_with_warnings, communes_amended
        FROM province_indicator_values FINAL
        WHERE {cut.where(period=period)}
    ) AS figures
    ANY LEFT JOIN
    (
        SELECT province_code, province_name, communes_expected FROM provinces
    ) AS province_names USING (province_code)
) AS named_figures
ANY LEFT JOIN {_APPROVED} AS approved_periods USING (province_code, report_type, period)
) AS province_indicators"""


def national_indicators(cut: Slice) -> str:
    """``national_indicators`` (0015)."""
    return f"""(
SELECT period, indicator_code,
    multiIf(
        aggregation = 'sum', value_sum,
        aggregation = 'max', value_max,
        aggregation = 'min', value_min,
        aggregation = 'ratio', if(denominator_sum = 0, NULL, numerator_sum / denominator_sum),
        NULL
    ) AS value,
    provinces_reported,
    communes_total AS communes_reported,
    toUInt64(ifNull((SELECT sum(communes_expected) FROM provinces), 0)) AS communes_expected,
    report_type,
    nullIf(latest_deadline, toDateTime(0, 'UTC')) AS deadline,
    multiIf(
        ifNull(provinces_approved, 0) >= (SELECT count() FROM provinces), 'approved',
        latest_deadline > toDateTime(0, 'UTC') AND now() >= latest_deadline, 'final',
        'provisional'
    ) AS status
FROM
(
    SELECT report_type, period, indicator_code, any(aggregation) AS aggregation,
        sum(value) AS value_sum, max(value) AS value_max, min(value) AS value_min,
        sum(numerator) AS numerator_sum, sum(denominator) AS denominator_sum,
        countIf(communes_reported > 0) AS provinces_reported,
        sum(communes_reported) AS communes_total, max(deadline) AS latest_deadline
    FROM
    (
        SELECT report_type, period, indicator_code, value, numerator, denominator,
            communes_reported, deadline
        FROM province_indicator_values FINAL
        WHERE {cut.where()}
    ) AS figures
    ANY LEFT JOIN
    (
        SELECT code AS indicator_code, aggregation FROM indicators
    ) AS catalogue USING (indicator_code)
    GROUP BY report_type, period, indicator_code
) AS national
ANY LEFT JOIN
(
    SELECT report_type, period, uniqExact(province_code) AS provinces_approved
    FROM period_approvals
    GROUP BY report_type, period
) AS approved_periods USING (report_type, period)
) AS national_indicators"""


#: An obligation's event key: the latest per unit and report type wins (0050).
_EVENT_KEY = "concat(toString(toUInt32(recorded_at)), obligation_id)"


def _unit_obligations(cut: Slice) -> str:
    """``unit_obligations`` (0050) of the slice's province and report type (the latest event is
    still chosen among all the unit's events of the report type)."""
    types = Slice(report_type=cut.report_type).where(period=None)
    provinces = "WHERE province_code = %(c)s" if cut.province else ""
    return f"""(
SELECT commune_code, province_code, report_type, action, starts_on, ends_on, reason,
    recorded_by, recorded_at
FROM
(
    SELECT commune_code, province_code, report_type, action, starts_on, ends_on, reason,
        recorded_by, CAST(recorded_at AS Nullable(DateTime('UTC'))) AS recorded_at
    FROM reporting_obligations FINAL
    WHERE {cut.where(period=None)} AND (commune_code, report_type, {_EVENT_KEY}) IN
    (
        SELECT commune_code, report_type, max({_EVENT_KEY})
        FROM reporting_obligations
        WHERE {types}
        GROUP BY commune_code, report_type
    )
    UNION ALL
    SELECT commune_code, province_code, report_type, 'exempt' AS action,
        CAST(NULL AS Nullable(Date)) AS starts_on, CAST(NULL AS Nullable(Date)) AS ends_on,
        reason, 'default' AS recorded_by,
        CAST(NULL AS Nullable(DateTime('UTC'))) AS recorded_at
    FROM
    (
        SELECT commune_code, report_type, reason
        FROM reporting_exemptions
        WHERE {types} AND (commune_code, report_type) NOT IN
            (SELECT commune_code, report_type FROM reporting_obligations WHERE {types})
    ) AS defaults
    ANY INNER JOIN
    (
        SELECT commune_code, province_code FROM communes {provinces}
    ) AS units USING (commune_code)
) AS current
)"""


def _units_not_due(cut: Slice) -> str:
    """``units_not_due`` (0050) of the slice's period, province and report type."""
    periods = Slice(report_type=cut.report_type).where()
    return f"""(
SELECT commune_code, province_code, report_type, period
FROM
(
    SELECT commune_code, province_code, report_type, action,
        ifNull(starts_on, toDate('1970-01-01')) AS first_day,
        ifNull(ends_on, toDate('2100-01-01')) AS last_day_in_force
    FROM {_unit_obligations(cut)} AS unit_obligations
) AS obligations
ALL INNER JOIN
(
    SELECT report_type, period, toDate(ends_at + 25199) AS period_last_day
    FROM reporting_periods FINAL
    WHERE {periods}
) AS periods USING (report_type)
WHERE action = 'exempt' OR period_last_day < first_day OR period_last_day > last_day_in_force
)"""


def _completeness_body(cut: Slice) -> str:
    """``province_completeness``'s query (0050), without the alias."""
    periods = Slice(report_type=cut.report_type).where()
    provinces = "WHERE province_code = %(c)s" if cut.province else ""
    return f"""
SELECT province_code, report_type, period, communes_expected, communes_reported,
    communes_on_time, communes_late,
    toUInt32(communes_expected - least(communes_reported, communes_expected)) AS communes_missing,
    if(communes_expected = 0, 0, round(communes_reported * 100 / communes_expected, 1))
        AS completeness_pct,
    if(communes_expected = 0, 0, round(communes_on_time * 100 / communes_expected, 1))
        AS timeliness_pct,
    period_deadline AS deadline,
    province_name,
    multiIf(
        ifNull(approved, 0) = 1, 'approved',
        now() >= period_deadline, 'final',
        'provisional'
    ) AS status
FROM
(
    SELECT province_code, province_name, report_type, period, period_deadline,
        toUInt32(if(ifNull(counted, 0) = 1, ifNull(expected, 0),
            province_units - ifNull(not_due, 0))) AS communes_expected,
        toUInt32(ifNull(reported, 0)) AS communes_reported,
        toUInt32(ifNull(on_time, 0)) AS communes_on_time,
        toUInt32(ifNull(late, 0)) AS communes_late
    FROM
    (
        SELECT province_code, province_name, province_units, report_type, period,
            period_deadline, not_due
        FROM
        (
            SELECT province_code, province_name, report_type, period, period_deadline,
                province_units
            FROM
            (
                SELECT province_code, province_name, communes_expected AS province_units
                FROM provinces {provinces}
            ) AS province_list
            CROSS JOIN
            (
                SELECT report_type, period, max(deadline) AS period_deadline
                FROM
                (
                    SELECT report_type, period, deadline FROM reporting_periods FINAL
                    WHERE {periods}
                    UNION ALL
                    SELECT report_type, period, deadline FROM province_completeness_values
                    WHERE {periods}
                ) AS announced_or_reported
                GROUP BY report_type, period
            ) AS period_list
        ) AS grid_units
        ANY LEFT JOIN
        (
            SELECT province_code, report_type, period, count() AS not_due
            FROM {_units_not_due(cut)} AS units_not_due
            GROUP BY province_code, report_type, period
        ) AS excused USING (province_code, report_type, period)
    ) AS grid
    ANY LEFT JOIN
    (
        SELECT province_code, report_type, period, toUInt8(1) AS counted,
            communes_expected AS expected, communes_reported AS reported,
            communes_on_time AS on_time, communes_late AS late
        FROM province_completeness_values FINAL
        WHERE {cut.where()}
    ) AS facts USING (province_code, report_type, period)
) AS counted_grid
ANY LEFT JOIN {_APPROVED} AS approved_periods USING (province_code, report_type, period)"""


def province_completeness(cut: Slice) -> str:
    """``province_completeness`` (0050)."""
    return f"({_completeness_body(cut)}\n) AS province_completeness"


def national_completeness(cut: Slice) -> str:
    """``national_completeness`` (0011), over the sliced ``province_completeness`` (0050)."""
    every_province = Slice(report_type=cut.report_type)
    return f"""(
SELECT report_type, period,
    expected AS communes_expected, reported AS communes_reported,
    on_time AS communes_on_time, late AS communes_late, missing AS communes_missing,
    if(expected = 0, 0, round(reported * 100 / expected, 1)) AS completeness_pct,
    if(expected = 0, 0, round(on_time * 100 / expected, 1)) AS timeliness_pct,
    period_deadline AS deadline, provinces_complete, provinces_approved,
    multiIf(
        provinces > 0 AND provinces_approved = provinces, 'approved',
        now() >= period_deadline, 'final',
        'provisional'
    ) AS status
FROM
(
    SELECT report_type, period,
        sum(communes_expected) AS expected, sum(communes_reported) AS reported,
        sum(communes_on_time) AS on_time, sum(communes_late) AS late,
        sum(communes_missing) AS missing, max(deadline) AS period_deadline,
        countIf(communes_reported >= communes_expected) AS provinces_complete,
        countIf(status = 'approved') AS provinces_approved,
        count() AS provinces
    FROM ({_completeness_body(every_province)}) AS province_completeness
    GROUP BY report_type, period
) AS per_period
) AS national_completeness"""


def missing_reports(cut: Slice) -> str:
    """``missing_reports`` (0050)."""
    provinces = "WHERE province_code = %(c)s" if cut.province else ""
    return f"""(
SELECT province_code, commune_code, commune_name, report_type, period, deadline,
    toUInt8(now() >= deadline) AS overdue
FROM
(
    SELECT commune_code, commune_name, province_code, report_type, period, deadline
    FROM
    (
        SELECT commune_code, commune_name, province_code FROM communes {provinces}
    ) AS commune_list
    CROSS JOIN
    (
        SELECT report_type, period, deadline FROM reporting_periods FINAL
        WHERE {Slice(report_type=cut.report_type).where()}
    ) AS period_list
) AS expected_reports
WHERE (commune_code, period) NOT IN
(
    SELECT commune_code, period FROM commune_reports WHERE period = %(p)s
)
AND (commune_code, report_type, period) NOT IN
(
    SELECT commune_code, report_type, period FROM {_units_not_due(cut)} AS units_not_due
)
) AS missing_reports"""


def _legacy_counted() -> str:
    """``legacy_reports``' (commune, period) pairs of the period (0031): a successor commune
    that reported through a predecessor's old-code report."""
    return """(
    SELECT commune_code, period
    FROM
    (
        SELECT substring(commune_code, 2) AS old_code, period
        FROM commune_reports FINAL
        WHERE period = %(p)s AND substring(commune_code, 1, 1) = 'L'
    ) AS sent
    ALL INNER JOIN
    (
        SELECT legacy_code AS old_code, commune_code FROM commune_lineage
    ) AS parts USING (old_code)
)"""


def _division_completeness(cut: Slice, *, national: bool) -> str:
    keys = "division_type" if national else "province_code, division_type"
    provinces = "WHERE province_code = %(c)s" if cut.province else ""
    periods = Slice(report_type=cut.report_type).where()
    name = "national_division_type_completeness" if national else "division_type_completeness"
    return f"""(
SELECT {keys}, report_type, period, communes_expected, communes_reported,
    if(communes_expected = 0, 0, round(communes_reported * 100 / communes_expected, 1))
        AS completeness_pct
FROM
(
    SELECT {keys}, report_type, period,
        count() AS communes_expected, sum(reported) AS communes_reported
    FROM
    (
        SELECT {keys}, report_type, period,
            toUInt8(
                (commune_code, period) IN
                    (SELECT commune_code, period FROM commune_reports WHERE period = %(p)s)
                OR (commune_code, period) IN {_legacy_counted()}
            ) AS reported
        FROM
        (
            SELECT commune_code, province_code, division_type FROM communes {provinces}
        ) AS units
        CROSS JOIN
        (
            SELECT DISTINCT report_type, period
            FROM
            (
                SELECT report_type, period FROM reporting_periods FINAL WHERE {periods}
                UNION ALL
                SELECT report_type, period FROM commune_reports
                WHERE report_type != '' AND {periods}
            ) AS known
        ) AS periods
        WHERE (commune_code, report_type, period) NOT IN
            (SELECT commune_code, report_type, period FROM {_units_not_due(cut)} AS units_not_due)
        AND NOT (
            (commune_code, report_type) IN
            (
                SELECT commune_code, report_type FROM {_unit_obligations(cut)} AS unit_obligations
                WHERE action = 'exempt'
            )
            AND (report_type, period) NOT IN
                (SELECT report_type, period FROM reporting_periods WHERE {periods})
        )
    ) AS due
    GROUP BY {keys}, report_type, period
) AS counted
) AS {name}"""


def division_type_completeness(cut: Slice) -> str:
    """``division_type_completeness`` (0050)."""
    return _division_completeness(cut, national=False)


def national_division_type_completeness(cut: Slice) -> str:
    """``national_division_type_completeness`` (0050)."""
    return _division_completeness(cut, national=True)


def _division_indicators(cut: Slice, *, national: bool) -> str:
    keys = "division_type" if national else "province_code, division_type"
    name = "national_division_type_indicators" if national else "division_type_indicators"
    return f"""(
SELECT {keys}, report_type, period, indicator_code,
    multiIf(aggregation = 'max', value_max, aggregation = 'min', value_min, value_sum) AS value,
    communes_reported
FROM
(
    SELECT {keys}, report_type, period, indicator_code,
        any(aggregation) AS aggregation, sum(value) AS value_sum, max(value) AS value_max,
        min(value) AS value_min, count() AS communes_reported
    FROM
    (
        SELECT {keys}, report_type, period, indicator_code, value, aggregation
        FROM
        (
            SELECT {keys}, report_type, period, indicator_code, value
            FROM
            (
                SELECT commune_code, report_type, period, indicator_code, value
                FROM
                (
                    SELECT * FROM commune_reports FINAL
                    WHERE {cut.reports_where()} AND substring(commune_code, 1, 1) != 'L'
                ) AS sliced
                ARRAY JOIN indicator_codes AS indicator_code, indicator_values AS value
            ) AS reported
            ANY INNER JOIN
            (
                SELECT commune_code, province_code, division_type FROM communes
            ) AS units USING (commune_code)
        ) AS typed
        ANY LEFT JOIN
        (
            SELECT code AS indicator_code, aggregation FROM indicators
        ) AS catalogue USING (indicator_code)
    ) AS values_by_type
    GROUP BY {keys}, report_type, period, indicator_code
) AS aggregated
) AS {name}"""


def division_type_indicators(cut: Slice) -> str:
    """``division_type_indicators`` (0034)."""
    return _division_indicators(cut, national=False)


def national_division_type_indicators(cut: Slice) -> str:
    """``national_division_type_indicators`` (0034)."""
    return _division_indicators(cut, national=True)


def _year_to_date(cut: Slice, periods: str) -> str:
    """``indicator_year_to_date`` (0033) of the ``periods`` of one year."""
    return f"""(
SELECT province_code, report_type, this_period AS period, indicator_code, aggregation,
    tupleElement(boxed[indexOf(periods, this_period)], 1) AS value,
    {_YTD_VALUE} AS year_to_date
FROM
(
    SELECT province_code, report_type, indicator_code, substring(period, 1, 4) AS year,
        any(aggregation) AS aggregation, groupArray(period) AS periods,
        groupArray(tuple(value)) AS boxed, groupArray(ifNull(value, 0)) AS plain,
        groupArray(ifNull(numerator, 0)) AS nums, groupArray(ifNull(denominator, 0)) AS dens
    FROM
    (
        SELECT province_code, report_type, period, indicator_code, aggregation, value,
            numerator, denominator
        FROM
        (
            SELECT province_code, report_type, period, indicator_code, value, numerator,
                denominator
            FROM province_indicator_values FINAL
            WHERE communes_reported > 0 AND {cut.where(period=periods)}
        ) AS figures
        ANY LEFT JOIN
        (
            SELECT code AS indicator_code, aggregation FROM indicators
        ) AS catalogue USING (indicator_code)
    ) AS typed
    GROUP BY province_code, report_type, indicator_code, year
) AS by_year
ARRAY JOIN periods AS this_period
)"""


def _national_year_to_date(cut: Slice, periods: str) -> str:
    """``national_indicator_year_to_date`` (0033) of the ``periods`` of one year."""
    return f"""(
SELECT report_type, this_period AS period, indicator_code, aggregation,
    tupleElement(boxed[indexOf(periods, this_period)], 1) AS value,
    {_YTD_VALUE} AS year_to_date
FROM
(
    SELECT report_type, indicator_code, substring(period, 1, 4) AS year,
        any(aggregation) AS aggregation, groupArray(period) AS periods,
        groupArray(tuple(value)) AS boxed, groupArray(ifNull(value, 0)) AS plain,
        groupArray(ifNull(numerator, 0)) AS nums, groupArray(ifNull(denominator, 0)) AS dens
    FROM
    (
        SELECT report_type, period, indicator_code, aggregation,
            multiIf(
                aggregation = 'max', toNullable(value_max),
                aggregation = 'min', toNullable(value_min),
                aggregation = 'ratio',
                if(denominator_sum = 0, NULL, numerator_sum / denominator_sum),
                toNullable(value_sum)
            ) AS value,
            toNullable(numerator_sum) AS numerator,
            toNullable(denominator_sum) AS denominator
        FROM
        (
            SELECT report_type, period, indicator_code, any(aggregation) AS aggregation,
                sum(ifNull(figure, 0)) AS value_sum, max(ifNull(figure, 0)) AS value_max,
                min(ifNull(figure, 0)) AS value_min,
                sum(ifNull(numerator, 0)) AS numerator_sum,
                sum(ifNull(denominator, 0)) AS denominator_sum
            FROM
            (
                SELECT report_type, period, indicator_code, value AS figure, numerator,
                    denominator
                FROM province_indicator_values FINAL
                WHERE communes_reported > 0 AND {cut.where(period=periods)}
            ) AS provincial
            ANY LEFT JOIN
            (
                SELECT code AS indicator_code, aggregation FROM indicators
            ) AS catalogue USING (indicator_code)
            GROUP BY report_type, period, indicator_code
        ) AS national
    ) AS typed
    GROUP BY report_type, indicator_code, year
) AS by_year
ARRAY JOIN periods AS this_period
)"""


#: The year to date of ``this_period`` out of the year's arrays (0033).
_YTD_VALUE = """multiIf(
        aggregation = 'ratio',
        if(
            arraySum(arrayFilter((d, p) -> p <= this_period, dens, periods)) = 0,
            NULL,
            arraySum(arrayFilter((n, p) -> p <= this_period, nums, periods))
                / arraySum(arrayFilter((d, p) -> p <= this_period, dens, periods))
        ),
        aggregation = 'max',
        toNullable(arrayReduce('max', arrayFilter((v, p) -> p <= this_period, plain, periods))),
        aggregation = 'min',
        toNullable(arrayReduce('min', arrayFilter((v, p) -> p <= this_period, plain, periods))),
        toNullable(arraySum(arrayFilter((v, p) -> p <= this_period, plain, periods)))
    )"""

_CHANGE = """if(isNull(value) OR isNull(same_period_last_year), NULL, value - same_period_last_year)
        AS change,
    if(
        isNull(value) OR isNull(same_period_last_year) OR same_period_last_year = 0,
        NULL,
        (value - same_period_last_year) * 100 / abs(same_period_last_year)
    ) AS change_pct"""

#: A figure's period one year on: what it is "the same period last year" of.
_NEXT_YEAR = "concat(toString(toUInt16(substring(period, 1, 4)) + 1), substring(period, 5))"


def indicator_comparisons(cut: Slice) -> str:
    """``indicator_comparisons`` (0033): a period's year to date reads its year's periods up
    to it, so each side reads one year up to the asked period (or its last year's)."""
    return f"""(
SELECT province_code, report_type, period, indicator_code, aggregation, value,
    same_period_last_year, year_to_date, year_to_date_last_year,
    {_CHANGE}
FROM
(
    SELECT province_code, report_type, period, indicator_code, aggregation, value, year_to_date
    FROM {_year_to_date(cut, _YEAR_SO_FAR)} AS this_year
) AS current
ANY LEFT JOIN
(
    SELECT province_code, report_type, indicator_code, {_NEXT_YEAR} AS period,
        value AS same_period_last_year, year_to_date AS year_to_date_last_year
    FROM {_year_to_date(cut, _LAST_YEAR_SO_FAR)} AS year_before
) AS last_year USING (province_code, report_type, indicator_code, period)
) AS indicator_comparisons"""


def national_indicator_comparisons(cut: Slice) -> str:
    """``national_indicator_comparisons`` (0033), read as :func:`indicator_comparisons`."""
    return f"""(
SELECT report_type, period, indicator_code, aggregation, value,
    same_period_last_year, year_to_date, year_to_date_last_year,
    {_CHANGE}
FROM
(
    SELECT report_type, period, indicator_code, aggregation, value, year_to_date
    FROM {_national_year_to_date(cut, _YEAR_SO_FAR)} AS this_year
) AS current
ANY LEFT JOIN
(
    SELECT report_type, indicator_code, {_NEXT_YEAR} AS period,
        value AS same_period_last_year, year_to_date AS year_to_date_last_year
    FROM {_national_year_to_date(cut, _LAST_YEAR_SO_FAR)} AS year_before
) AS last_year USING (report_type, indicator_code, period)
) AS national_indicator_comparisons"""


def province_indicator_history(cut: Slice) -> str:
    """``province_indicator_history`` (0012)."""
    return f"""(
SELECT province_code, province_name, report_type, period, indicator_code, version, value,
    previous_value, value - previous_value AS change, known_at, cause_commune_codes,
    cause_report_ids, cause_revisions, cause_previous_values, cause_values
FROM
(
    SELECT province_code, report_type, period, indicator_code, version, value, previous_value,
        known_at, cause_commune_codes, cause_report_ids, cause_revisions,
        cause_previous_values, cause_values
    FROM province_indicator_changes FINAL
    WHERE {cut.where()}
) AS changes
ANY LEFT JOIN
(
    SELECT province_code, province_name FROM provinces
) AS province_names USING (province_code)
) AS province_indicator_history"""


class Checked(NamedTuple):
    """A slice as the read model uses it, and the view rows it must equal: those of
    ``SELECT * FROM <view> WHERE <where>``."""

    view: str
    sliced: Callable[[Slice], str]
    cut: Slice
    where: str

    def sql(self) -> str:
        """The slice's rows of the same filter."""
        return f"SELECT * FROM {self.sliced(self.cut)} WHERE {self.where}"


_EVERY = "report_type = %(t)s AND period = %(p)s"
_ONE = f"province_code = %(c)s AND {_EVERY}"
_MINE = Slice(province=True)

#: Every slice the dashboard and the export read, with its filter: what the equivalence
#: checks compare with the views (tests/integration/test_view_slices.py on 18.16,
#: scripts/check_current_clickhouse.py on a current ClickHouse).
CHECKED: tuple[Checked, ...] = (
    Checked("commune_indicators", commune_indicators, _MINE, _ONE),
    Checked(
        "commune_indicators",
        commune_indicators,
        Slice(report_type=False, commune=True),
        "commune_code = %(u)s AND period = %(p)s",
    ),
    Checked("report_warnings", report_warnings, _MINE, _ONE),
    Checked("report_warnings", report_warnings, Slice(), _EVERY),
    Checked("commune_receipts", commune_receipts, _MINE, _ONE),
    Checked("province_indicators", province_indicators, _MINE, _ONE),
    Checked("province_indicators", province_indicators, Slice(), _EVERY),
    Checked("national_indicators", national_indicators, Slice(), _EVERY),
    Checked("province_completeness", province_completeness, _MINE, _ONE),
    Checked("province_completeness", province_completeness, Slice(), _EVERY),
    Checked("national_completeness", national_completeness, Slice(), _EVERY),
    Checked("missing_reports", missing_reports, _MINE, _ONE),
    Checked("missing_reports", missing_reports, Slice(), _EVERY),
    Checked("division_type_completeness", division_type_completeness, _MINE, _ONE),
    Checked(
        "national_division_type_completeness",
        national_division_type_completeness,
        Slice(),
        _EVERY,
    ),
    Checked("division_type_indicators", division_type_indicators, _MINE, _ONE),
    Checked(
        "national_division_type_indicators", national_division_type_indicators, Slice(), _EVERY
    ),
    Checked("indicator_comparisons", indicator_comparisons, _MINE, _ONE),
    Checked("national_indicator_comparisons", national_indicator_comparisons, Slice(), _EVERY),
    Checked(
        "province_indicator_history",
        province_indicator_history,
        Slice(report_type=False),
        "period = %(p)s",
    ),
)
