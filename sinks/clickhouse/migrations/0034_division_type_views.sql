-- Completeness and figures by unit type (division_type of the 2025 map: xã, phường, đặc khu),
-- per province (division_type_*) and nationally (national_division_type_*, without a province
-- column, so that a province's BI database holds only the province's rows). Periods: those the worker announced and
-- those with reports (a historic load's). A unit owes a report unless it is exempt
-- (reporting_exemptions); one reported under its own code, or through a predecessor's old-code
-- report (legacy_reports), has reported. Figures: the latest revision of each commune's own
-- report, summed, or the max or min as the indicator says; ratios are not repeated here (divide
-- the numerator's row by the denominator's).

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
        WHERE (commune_code, report_type) NOT IN
            (SELECT commune_code, report_type FROM reporting_exemptions)
    ) AS due
    GROUP BY province_code, division_type, report_type, period
) AS counted;

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
        WHERE (commune_code, report_type) NOT IN
            (SELECT commune_code, report_type FROM reporting_exemptions)
    ) AS due
    GROUP BY division_type, report_type, period
) AS counted;

CREATE VIEW IF NOT EXISTS division_type_indicators AS
SELECT
    province_code,
    division_type,
    report_type,
    period,
    indicator_code,
    multiIf(aggregation = 'max', value_max, aggregation = 'min', value_min, value_sum) AS value,
    communes_reported
FROM
(
    SELECT province_code, division_type, report_type, period, indicator_code,
        any(aggregation) AS aggregation, sum(value) AS value_sum, max(value) AS value_max,
        min(value) AS value_min, count() AS communes_reported
    FROM
    (
        SELECT province_code, division_type, report_type, period, indicator_code, value,
            aggregation
        FROM
        (
            SELECT province_code, division_type, report_type, period, indicator_code, value
            FROM
            (
                SELECT commune_code, report_type, period, indicator_code, value
                FROM commune_reports FINAL
                ARRAY JOIN
                    indicator_codes AS indicator_code,
                    indicator_values AS value
                WHERE substring(commune_code, 1, 1) != 'L'
            ) AS reported
            ANY INNER JOIN
            (
                SELECT commune_code, province_code, division_type
                FROM communes
            ) AS units USING (commune_code)
        ) AS typed
        ANY LEFT JOIN
        (
            SELECT code AS indicator_code, aggregation
            FROM indicators
        ) AS catalogue USING (indicator_code)
    ) AS values_by_type
    GROUP BY province_code, division_type, report_type, period, indicator_code
) AS aggregated;

CREATE VIEW IF NOT EXISTS national_division_type_indicators AS
SELECT
    division_type,
    report_type,
    period,
    indicator_code,
    multiIf(aggregation = 'max', value_max, aggregation = 'min', value_min, value_sum) AS value,
    communes_reported
FROM
(
    SELECT division_type, report_type, period, indicator_code,
        any(aggregation) AS aggregation, sum(value) AS value_sum, max(value) AS value_max,
        min(value) AS value_min, count() AS communes_reported
    FROM
    (
        SELECT division_type, report_type, period, indicator_code, value, aggregation
        FROM
        (
            SELECT division_type, report_type, period, indicator_code, value
            FROM
            (
                SELECT commune_code, report_type, period, indicator_code, value
                FROM commune_reports FINAL
                ARRAY JOIN
                    indicator_codes AS indicator_code,
                    indicator_values AS value
                WHERE substring(commune_code, 1, 1) != 'L'
            ) AS reported
            ANY INNER JOIN
            (
                SELECT commune_code, division_type
                FROM communes
            ) AS units USING (commune_code)
        ) AS typed
        ANY LEFT JOIN
        (
            SELECT code AS indicator_code, aggregation
            FROM indicators
        ) AS catalogue USING (indicator_code)
    ) AS values_by_type
    GROUP BY division_type, report_type, period, indicator_code
) AS aggregated;
