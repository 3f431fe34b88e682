-- Every provincial and national figure next to the same period last year ("Cùng kỳ năm
-- trước") and the year to date ("Lũy kế từ đầu năm"), per report type. The provinces' views
-- have a province_code column; the national ones (national_*) have none, so that a province's
-- BI database holds only its own rows.
--
-- *_year_to_date: each figure and its year to date, which aggregates the periods of the same
-- type and year up to this one as the indicator says: sum of sums, max of maxima, min of
-- minima, and for a ratio the sum of the numerators over the sum of the denominators (never an
-- average of rates). A yearly figure is its own year to date. National figures are aggregated
-- from the provinces' the same way (as national_indicators does). Figures nobody reports any
-- more (communes_reported = 0) are left out. Arrays and lambdas stand in for window functions,
-- which ClickHouse 18.16 lacks; one join per SELECT. The two year-to-date views repeat the same
-- expression: a view cannot take parameters, and a shared view with a national row would show
-- it to a province's BI login.
--
-- *_comparisons: add the same period last year (the period with the year one less: 2025-08 ->
-- 2024-08, 2025-Q3 -> 2024-Q3, 2025 -> 2024; NULL without a figure) and its year to date,
-- change = value - same period last year, and change_pct in percent of last year (NULL when
-- last year is NULL or 0).

CREATE VIEW IF NOT EXISTS indicator_year_to_date AS
SELECT
    province_code,
    report_type,
    this_period AS period,
    indicator_code,
    aggregation,
    tupleElement(boxed[indexOf(periods, this_period)], 1) AS value,
    multiIf(
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
    ) AS year_to_date
FROM
(
    SELECT
        province_code,
        report_type,
        indicator_code,
        substring(period, 1, 4) AS year,
        any(aggregation) AS aggregation,
        groupArray(period) AS periods,
        -- Boxed: groupArray skips NULLs, and a ratio over a zero denominator is NULL.
        groupArray(tuple(value)) AS boxed,
        groupArray(ifNull(value, 0)) AS plain,
        groupArray(ifNull(numerator, 0)) AS nums,
        groupArray(ifNull(denominator, 0)) AS dens
    FROM
    (
        SELECT province_code, report_type, period, indicator_code, aggregation, value,
            numerator, denominator
        FROM
        (
            SELECT province_code, report_type, period, indicator_code, value, numerator,
                denominator
            FROM province_indicator_values FINAL
            WHERE communes_reported > 0
        ) AS figures
        ANY LEFT JOIN
        (
            SELECT code AS indicator_code, aggregation
            FROM indicators
        ) AS catalogue USING (indicator_code)
    ) AS typed
    GROUP BY province_code, report_type, indicator_code, year
) AS by_year
ARRAY JOIN periods AS this_period;

CREATE VIEW IF NOT EXISTS national_indicator_year_to_date AS
SELECT
    report_type,
    this_period AS period,
    indicator_code,
    aggregation,
    tupleElement(boxed[indexOf(periods, this_period)], 1) AS value,
    multiIf(
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
    ) AS year_to_date
FROM
(
    SELECT
        report_type,
        indicator_code,
        substring(period, 1, 4) AS year,
        any(aggregation) AS aggregation,
        groupArray(period) AS periods,
        -- Boxed: groupArray skips NULLs, and a ratio over a zero denominator is NULL.
        groupArray(tuple(value)) AS boxed,
        groupArray(ifNull(value, 0)) AS plain,
        groupArray(ifNull(numerator, 0)) AS nums,
        groupArray(ifNull(denominator, 0)) AS dens
    FROM
    (
        SELECT
            report_type,
            period,
            indicator_code,
            aggregation,
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
            SELECT
                report_type,
                period,
                indicator_code,
                any(aggregation) AS aggregation,
                sum(ifNull(figure, 0)) AS value_sum,
                max(ifNull(figure, 0)) AS value_max,
                min(ifNull(figure, 0)) AS value_min,
                sum(ifNull(numerator, 0)) AS numerator_sum,
                sum(ifNull(denominator, 0)) AS denominator_sum
            FROM
            (
                SELECT report_type, period, indicator_code, value AS figure, numerator,
                    denominator
                FROM province_indicator_values FINAL
                WHERE communes_reported > 0
            ) AS provincial
            ANY LEFT JOIN
            (
                SELECT code AS indicator_code, aggregation
                FROM indicators
            ) AS catalogue USING (indicator_code)
            GROUP BY report_type, period, indicator_code
        ) AS national
    ) AS typed
    GROUP BY report_type, indicator_code, year
) AS by_year
ARRAY JOIN periods AS this_period;

CREATE VIEW IF NOT EXISTS indicator_comparisons AS
SELECT
    province_code,
    report_type,
    period,
    indicator_code,
    aggregation,
    value,
    same_period_last_year,
    year_to_date,
    year_to_date_last_year,
    if(isNull(value) OR isNull(same_period_last_year), NULL, value - same_period_last_year)
        AS change,
    if(
        isNull(value) OR isNull(same_period_last_year) OR same_period_last_year = 0,
        NULL,
        (value - same_period_last_year) * 100 / abs(same_period_last_year)
    ) AS change_pct
FROM
(
    SELECT province_code, report_type, period, indicator_code, aggregation, value, year_to_date
    FROM indicator_year_to_date
) AS current
ANY LEFT JOIN
(
    SELECT
        province_code, report_type,
        indicator_code,
        concat(toString(toUInt16(substring(period, 1, 4)) + 1), substring(period, 5)) AS period,
        value AS same_period_last_year,
        year_to_date AS year_to_date_last_year
    FROM indicator_year_to_date
) AS last_year USING (province_code, report_type, indicator_code, period);

CREATE VIEW IF NOT EXISTS national_indicator_comparisons AS
SELECT
    report_type,
    period,
    indicator_code,
    aggregation,
    value,
    same_period_last_year,
    year_to_date,
    year_to_date_last_year,
    if(isNull(value) OR isNull(same_period_last_year), NULL, value - same_period_last_year)
        AS change,
    if(
        isNull(value) OR isNull(same_period_last_year) OR same_period_last_year = 0,
        NULL,
        (value - same_period_last_year) * 100 / abs(same_period_last_year)
    ) AS change_pct
FROM
(
    SELECT report_type, period, indicator_code, aggregation, value, year_to_date
    FROM national_indicator_year_to_date
) AS current
ANY LEFT JOIN
(
    SELECT
        report_type,
        indicator_code,
        concat(toString(toUInt16(substring(period, 1, 4)) + 1), substring(period, 5)) AS period,
        value AS same_period_last_year,
        year_to_date AS year_to_date_last_year
    FROM national_indicator_year_to_date
) AS last_year USING (report_type, indicator_code, period);
