-- Completeness and timeliness (issue 3), read live from the worker's completeness facts and
-- the periods its clock announced. A province that nobody in it has reported yet still has
-- its row: the grid is every province times every known period (announced in
-- reporting_periods, or reported in province_completeness_values), and a missing fact
-- counts zero.
--
-- Percentages are of the communes expected, in 0..100 rounded to 0.1, as DHIS2 reports them:
--   completeness_pct = communes_reported / communes_expected * 100
--   timeliness_pct   = communes_on_time  / communes_expected * 100
-- (not on time / reported: a province where one commune reported, on time, is not "100% on
-- time"). On time means the commune's FIRST accepted revision was submitted by the deadline.
--
-- status as for the figures: 'approved' (the province approved the period), else 'final'
-- once now() reaches the deadline, else 'provisional'. Nationally: 'approved' once every
-- province has approved.

CREATE VIEW IF NOT EXISTS province_completeness AS
SELECT
    province_code,
    report_type,
    period,
    communes_expected,
    communes_reported,
    communes_on_time,
    communes_late,
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
    SELECT
        province_code,
        province_name,
        report_type,
        period,
        period_deadline,
        communes_expected,
        toUInt32(ifNull(reported, 0)) AS communes_reported,
        toUInt32(ifNull(on_time, 0)) AS communes_on_time,
        toUInt32(ifNull(late, 0)) AS communes_late
    FROM
    (
        SELECT province_code, province_name, communes_expected, report_type, period, period_deadline
        FROM
        (
            SELECT province_code, province_name, communes_expected
            FROM provinces
        ) AS province_list
        CROSS JOIN
        (
            SELECT report_type, period, max(deadline) AS period_deadline
            FROM
            (
                SELECT report_type, period, deadline
                FROM reporting_periods FINAL
                UNION ALL
                SELECT report_type, period, deadline
                FROM province_completeness_values
            ) AS announced_or_reported
            GROUP BY report_type, period
        ) AS period_list
    ) AS grid
    ANY LEFT JOIN
    (
        SELECT
            province_code,
            report_type,
            period,
            communes_reported AS reported,
            communes_on_time AS on_time,
            communes_late AS late
        FROM province_completeness_values FINAL
    ) AS facts USING (province_code, report_type, period)
) AS counted
ANY LEFT JOIN
(
    SELECT DISTINCT province_code, report_type, period, toUInt8(1) AS approved
    FROM approvals
) AS approved_periods USING (province_code, report_type, period);

CREATE VIEW IF NOT EXISTS national_completeness AS
SELECT
    report_type,
    period,
    expected AS communes_expected,
    reported AS communes_reported,
    on_time AS communes_on_time,
    late AS communes_late,
    missing AS communes_missing,
    if(expected = 0, 0, round(reported * 100 / expected, 1)) AS completeness_pct,
    if(expected = 0, 0, round(on_time * 100 / expected, 1)) AS timeliness_pct,
    period_deadline AS deadline,
    provinces_complete,
    provinces_approved,
    multiIf(
        provinces > 0 AND provinces_approved = provinces, 'approved',
        now() >= period_deadline, 'final',
        'provisional'
    ) AS status
FROM
(
    SELECT
        report_type,
        period,
        sum(communes_expected) AS expected,
        sum(communes_reported) AS reported,
        sum(communes_on_time) AS on_time,
        sum(communes_late) AS late,
        sum(communes_missing) AS missing,
        max(deadline) AS period_deadline,
        countIf(communes_reported >= communes_expected) AS provinces_complete,
        countIf(status = 'approved') AS provinces_approved,
        count() AS provinces
    FROM province_completeness
    GROUP BY report_type, period
) AS per_period;

-- Every commune without an accepted report for a period the worker announced. The worker
-- announces a period from the alert horizon before its deadline (BAOCAO_DEADLINES_
-- ALERT_HORIZON_HOURS, default 72) on, so this lists the communes to chase as the deadline
-- approaches (overdue = 0) and those that missed it (overdue = 1). An anti-join written as
-- NOT IN on a tuple, which ClickHouse 18.16 evaluates as a set lookup.
CREATE VIEW IF NOT EXISTS missing_reports AS
SELECT
    province_code,
    commune_code,
    commune_name,
    report_type,
    period,
    deadline,
    toUInt8(now() >= deadline) AS overdue
FROM
(
    SELECT commune_code, commune_name, province_code, report_type, period, deadline
    FROM
    (
        SELECT commune_code, commune_name, province_code
        FROM communes
    ) AS commune_list
    CROSS JOIN
    (
        SELECT report_type, period, deadline
        FROM reporting_periods FINAL
    ) AS period_list
) AS expected_reports
WHERE (commune_code, period) NOT IN
(
    SELECT commune_code, period
    FROM commune_reports
);
