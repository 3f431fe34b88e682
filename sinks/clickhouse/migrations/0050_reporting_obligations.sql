-- Who must report what, from when (baocao/core/obligations.py, docs/legacy-units.md): the sink
-- lands every valid obligation event (topic reporting-obligations); an event replaces the
-- unit's obligation of its report type, the default included, and the latest by recorded_at
-- (then obligation_id) wins, as in the worker. Default: every unit owes every report type,
-- except those in reporting_exemptions (Đặc khu Hoàng Sa). missing_reports, province_completeness
-- and the unit-type completeness views are recreated to follow them.

CREATE TABLE IF NOT EXISTS reporting_obligations
(
    obligation_id String,
    commune_code  String,
    province_code String,
    report_type   String,
    action        String,
    starts_on     Nullable(Date),
    ends_on       Nullable(Date),
    reason        String,
    recorded_by   String,
    recorded_at   DateTime('UTC'),
    ingested_at   DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
ORDER BY (commune_code, report_type, recorded_at, obligation_id);

-- Every unit and report type whose obligation differs from "always": the latest event of
-- each, and the default exemptions no event has replaced (recorded_by 'default', recorded_at
-- NULL).
CREATE VIEW IF NOT EXISTS unit_obligations AS
SELECT
    commune_code,
    province_code,
    report_type,
    action,
    starts_on,
    ends_on,
    reason,
    recorded_by,
    recorded_at
FROM
(
    SELECT commune_code, province_code, report_type, action, starts_on, ends_on, reason,
        recorded_by, CAST(recorded_at AS Nullable(DateTime('UTC'))) AS recorded_at
    FROM reporting_obligations FINAL
    WHERE (commune_code, report_type, concat(toString(toUInt32(recorded_at)), obligation_id)) IN
    (
        SELECT commune_code, report_type,
            max(concat(toString(toUInt32(recorded_at)), obligation_id))
        FROM reporting_obligations
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
        WHERE (commune_code, report_type) NOT IN
            (SELECT commune_code, report_type FROM reporting_obligations)
    ) AS defaults
    ANY INNER JOIN
    (
        SELECT commune_code, province_code
        FROM communes
    ) AS units USING (commune_code)
) AS current;

-- The units that owe no report of an announced period: no obligation in force on the
-- period's last day (local time, UTC+7: ends_at is the exclusive end in UTC).
CREATE VIEW IF NOT EXISTS units_not_due AS
SELECT commune_code, province_code, report_type, period
FROM
(
    SELECT commune_code, province_code, report_type, action,
        ifNull(starts_on, toDate('1970-01-01')) AS first_day,
        ifNull(ends_on, toDate('2100-01-01')) AS last_day_in_force
    FROM unit_obligations
) AS obligations
ALL INNER JOIN
(
    SELECT report_type, period, toDate(ends_at + 25199) AS period_last_day
    FROM reporting_periods FINAL
) AS periods USING (report_type)
WHERE action = 'exempt' OR period_last_day < first_day OR period_last_day > last_day_in_force;

DROP TABLE IF EXISTS missing_reports;

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
)
AND (commune_code, report_type, period) NOT IN
(
    SELECT commune_code, report_type, period
    FROM units_not_due
);

-- As in 0015, but a province expects the units that owe the period: the worker's count where
-- it counted the period (it follows the obligation events), else the province's units less
-- those not due.
DROP TABLE IF EXISTS province_completeness;

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
        ) AS grid_units
        ANY LEFT JOIN
        (
            SELECT province_code, report_type, period, count() AS not_due
            FROM units_not_due
            GROUP BY province_code, report_type, period
        ) AS excused USING (province_code, report_type, period)
    ) AS grid
    ANY LEFT JOIN
    (
        SELECT
            province_code,
            report_type,
            period,
            toUInt8(1) AS counted,
            communes_expected AS expected,
            communes_reported AS reported,
            communes_on_time AS on_time,
            communes_late AS late
        FROM province_completeness_values FINAL
    ) AS facts USING (province_code, report_type, period)
) AS counted_grid
ANY LEFT JOIN
(
    SELECT DISTINCT province_code, report_type, period, toUInt8(1) AS approved
    FROM period_approvals
) AS approved_periods USING (province_code, report_type, period);

-- As in 0034, but a unit owes a period unless units_not_due says otherwise (an announced
-- period) or, for a period only known from reports, unless it is exempt (by default or by its
-- latest event).
DROP TABLE IF EXISTS division_type_completeness;

CREATE VIEW IF NOT EXISTS division_type_completeness AS
SELECT
    province_code,
    division_type,
    report_type,
    period,
    communes_expected,
    communes_reported,
    if(communes_expected = 0, 0, round(communes_reported * 100 / communes_expected, 1))
        AS completeness_pct
FROM
(
    SELECT province_code, division_type, report_type, period,
        count() AS communes_expected, sum(reported) AS communes_reported
    FROM
    (
        SELECT province_code, division_type, report_type, period,
            toUInt8(
                (commune_code, period) IN (SELECT commune_code, period FROM commune_reports)
                OR (commune_code, period) IN (SELECT commune_code, period FROM legacy_reports)
            ) AS reported
        FROM
        (
            SELECT commune_code, province_code, division_type
            FROM communes
        ) AS units
        CROSS JOIN
        (
            SELECT DISTINCT report_type, period
            FROM
            (
                SELECT report_type, period FROM reporting_periods FINAL
                UNION ALL
                SELECT report_type, period FROM commune_reports WHERE report_type != ''
            ) AS known
        ) AS periods
        WHERE (commune_code, report_type, period) NOT IN
            (SELECT commune_code, report_type, period FROM units_not_due)
        AND NOT (
            (commune_code, report_type) IN
                (SELECT commune_code, report_type FROM unit_obligations WHERE action = 'exempt')
            AND (report_type, period) NOT IN
                (SELECT report_type, period FROM reporting_periods)
        )
    ) AS due
    GROUP BY province_code, division_type, report_type, period
) AS counted;

DROP TABLE IF EXISTS national_division_type_completeness;

CREATE VIEW IF NOT EXISTS national_division_type_completeness AS
SELECT
    division_type,
    report_type,
    period,
    communes_expected,
    communes_reported,
    if(communes_expected = 0, 0, round(communes_reported * 100 / communes_expected, 1))
        AS completeness_pct
FROM
(
    SELECT division_type, report_type, period,
        count() AS communes_expected, sum(reported) AS communes_reported
    FROM
    (
        SELECT division_type, report_type, period,
            toUInt8(
                (commune_code, period) IN (SELECT commune_code, period FROM commune_reports)
                OR (commune_code, period) IN (SELECT commune_code, period FROM legacy_reports)
            ) AS reported
        FROM
        (
            SELECT commune_code, division_type
            FROM communes
        ) AS units
        CROSS JOIN
        (
            SELECT DISTINCT report_type, period
            FROM
            (
                SELECT report_type, period FROM reporting_periods FINAL
                UNION ALL
                SELECT report_type, period FROM commune_reports WHERE report_type != ''
            ) AS known
        ) AS periods
        WHERE (commune_code, report_type, period) NOT IN
            (SELECT commune_code, report_type, period FROM units_not_due)
        AND NOT (
            (commune_code, report_type) IN
                (SELECT commune_code, report_type FROM unit_obligations WHERE action = 'exempt')
            AND (report_type, period) NOT IN
                (SELECT report_type, period FROM reporting_periods)
        )
    ) AS due
    GROUP BY division_type, report_type, period
) AS counted;
