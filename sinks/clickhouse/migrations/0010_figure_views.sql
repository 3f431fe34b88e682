-- The figures' views with issue 3's columns. A view cannot be altered on ClickHouse 18.16:
-- an existing one is dropped and created again (`DROP TABLE IF EXISTS` drops a view on every
-- release), so re-running this file is safe. Readers may miss the view for that instant.
--
-- status of a figure, computed when it is read: 'approved' once its province approved the
-- period (any approval in `approvals`), else 'final' once now() reaches the deadline, else
-- 'provisional'. A figure stored before deadlines existed (deadline unknown, NULL here) is
-- never called final: only an approval makes it more than provisional.
--
-- Joins: one `ANY LEFT JOIN (SELECT ...) AS alias USING ...` per SELECT, nested, the form
-- both ClickHouse 18.16 and current releases accept. A row without a match gets the column
-- defaults (0, ''); ifNull() keeps that true for a user who sets join_use_nulls.

DROP TABLE IF EXISTS province_indicators;

CREATE VIEW IF NOT EXISTS province_indicators AS
SELECT
    province_code,
    province_name,
    period,
    indicator_code,
    value,
    communes_reported,
    communes_expected,
    updated_at,
    report_type,
    nullIf(stored_deadline, toDateTime(0, 'UTC')) AS deadline,
    multiIf(
        ifNull(approved, 0) = 1, 'approved',
        stored_deadline > toDateTime(0, 'UTC') AND now() >= stored_deadline, 'final',
        'provisional'
    ) AS status,
    communes_with_warnings,
    communes_amended
FROM
(
    SELECT
        province_code,
        province_name,
        period,
        indicator_code,
        value,
        communes_reported,
        communes_expected,
        updated_at,
        report_type,
        stored_deadline,
        communes_with_warnings,
        communes_amended
    FROM
    (
        SELECT
            province_code,
            period,
            indicator_code,
            value,
            communes_reported,
            updated_at,
            report_type,
            deadline AS stored_deadline,
            communes_with_warnings,
            communes_amended
        FROM province_indicator_values FINAL
    ) AS figures
    ANY LEFT JOIN
    (
        SELECT province_code, province_name, communes_expected
        FROM provinces
    ) AS province_names USING (province_code)
) AS named_figures
ANY LEFT JOIN
(
    SELECT DISTINCT province_code, report_type, period, toUInt8(1) AS approved
    FROM approvals
) AS approved_periods USING (province_code, report_type, period);

-- on_time is NULL for a report stored before deadlines existed (it cannot be judged).
DROP TABLE IF EXISTS commune_indicators;

CREATE VIEW IF NOT EXISTS commune_indicators AS
SELECT
    commune_code,
    commune_name,
    province_code,
    period,
    indicator_code,
    value,
    revision,
    submitted_at,
    report_type,
    if(stored_deadline = toDateTime(0, 'UTC'), NULL, on_time) AS on_time,
    amended
FROM
(
    SELECT
        commune_code,
        province_code,
        period,
        indicator_code,
        value,
        revision,
        submitted_at,
        report_type,
        deadline AS stored_deadline,
        on_time,
        amended
    FROM commune_reports FINAL
    ARRAY JOIN
        indicator_codes AS indicator_code,
        indicator_values AS value
) AS latest_values
ANY LEFT JOIN
(
    SELECT commune_code, commune_name
    FROM communes
) AS commune_names USING (commune_code);

-- The national tier, from the provincial figures: sum of the provinces' sums, max of their
-- maxima, min of their minima, and a ratio as the sum of the numerators over the sum of the
-- denominators (never an average of provincial rates). The aggregation comes from the
-- `indicators` table; an indicator missing from the catalogue has a NULL value.
-- status: 'approved' once every province approved the period, else as for a province.
-- (ifNull: a current ClickHouse types a scalar subquery Nullable; 18.16 does not.)
CREATE VIEW IF NOT EXISTS national_indicators AS
SELECT
    period,
    indicator_code,
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
    SELECT
        report_type,
        period,
        indicator_code,
        any(aggregation) AS aggregation,
        sum(value) AS value_sum,
        max(value) AS value_max,
        min(value) AS value_min,
        sum(numerator) AS numerator_sum,
        sum(denominator) AS denominator_sum,
        countIf(communes_reported > 0) AS provinces_reported,
        sum(communes_reported) AS communes_total,
        max(deadline) AS latest_deadline
    FROM
    (
        SELECT
            report_type,
            period,
            indicator_code,
            value,
            numerator,
            denominator,
            communes_reported,
            deadline
        FROM province_indicator_values FINAL
    ) AS figures
    ANY LEFT JOIN
    (
        SELECT code AS indicator_code, aggregation
        FROM indicators
    ) AS catalogue USING (indicator_code)
    GROUP BY report_type, period, indicator_code
) AS national
ANY LEFT JOIN
(
    SELECT report_type, period, uniqExact(province_code) AS provinces_approved
    FROM approvals
    GROUP BY report_type, period
) AS approved_periods USING (report_type, period);
