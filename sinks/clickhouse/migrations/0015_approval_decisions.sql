-- Issue 19: the worker decides each approval step (approve, send back, unapprove, accept)
-- on the period's state machine and publishes its decision, applied or refused with the
-- reason. approval_decisions keeps every decision (a replay collapses by approval_id);
-- period_approvals now reads a period's state from them, so an unapproved period is no
-- longer shown approved, and an accepted one is final. A period approved before this
-- migration, without any decision, still shows its earliest approval.
CREATE TABLE IF NOT EXISTS approval_decisions
(
    approval_id   String,
    province_code String,
    report_type   String,
    period        String,
    action        String,
    commune_code  Nullable(String),
    actor         String,
    acted_at      DateTime('UTC'),
    note          Nullable(String),
    outcome       String,
    reason_code   Nullable(String),
    reason_en     Nullable(String),
    reason_vi     Nullable(String),
    state         String,
    version       UInt32,
    decided_at    DateTime('UTC'),
    ingested_at   DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
PARTITION BY substring(period, 1, 4)
ORDER BY (province_code, report_type, period, approval_id);

-- Who, when, what, why: every step and the worker's answer to it, newest first per period.
CREATE VIEW IF NOT EXISTS approval_audit AS
SELECT
    province_code,
    province_name,
    report_type,
    period,
    approval_id,
    action,
    commune_code,
    actor,
    acted_at,
    note,
    outcome,
    reason_code,
    reason_en,
    reason_vi,
    state,
    version
FROM
(
    SELECT *
    FROM approval_decisions FINAL
) AS decisions
ANY LEFT JOIN
(
    SELECT province_code, province_name
    FROM provinces
) AS province_names USING (province_code);

-- Reports sent back and not yet corrected: the last applied step naming the commune is a
-- return (a correction answers it).
CREATE VIEW IF NOT EXISTS returned_reports AS
SELECT
    province_code,
    report_type,
    period,
    commune_code,
    tupleElement(last_step, 2) AS note,
    tupleElement(last_step, 3) AS returned_by,
    tupleElement(last_step, 4) AS returned_at
FROM
(
    SELECT
        province_code,
        report_type,
        period,
        assumeNotNull(commune_code) AS commune_code,
        argMax(tuple(action, note, actor, acted_at), tuple(acted_at, version)) AS last_step
    FROM approval_decisions FINAL
    WHERE outcome = 'applied' AND commune_code IS NOT NULL
    GROUP BY province_code, report_type, period, commune_code
)
WHERE tupleElement(last_step, 1) = 'return';

DROP TABLE IF EXISTS period_approvals;

-- One row per province, report type and period approved or accepted now: the approval that
-- holds (its officer, time and note), and the state (approved, or accepted: final). A period
-- without any decision (approved before the worker decided steps) shows its earliest
-- approval, as before.
CREATE VIEW IF NOT EXISTS period_approvals AS
SELECT
    province_code,
    report_type,
    period,
    approved_by,
    approved_at,
    note,
    province_name,
    approval_id,
    approval_count,
    state
FROM
(
    SELECT
        province_code,
        report_type,
        period,
        argMaxIf(actor, version, action = 'approve') AS approved_by,
        argMaxIf(acted_at, version, action = 'approve') AS approved_at,
        argMaxIf(note, version, action = 'approve') AS note,
        argMaxIf(approval_id, version, action = 'approve') AS approval_id,
        countIf(action = 'approve') AS approval_count,
        argMax(state, version) AS state
    FROM approval_decisions FINAL
    WHERE outcome = 'applied' AND action != 'correction'
    GROUP BY province_code, report_type, period
    HAVING state IN ('approved', 'accepted')
    UNION ALL
    SELECT
        province_code,
        report_type,
        period,
        tupleElement(earliest, 1) AS approved_by,
        first_approved_at AS approved_at,
        tupleElement(earliest, 2) AS note,
        tupleElement(earliest, 3) AS approval_id,
        approval_count,
        'approved' AS state
    FROM
    (
        SELECT
            province_code,
            report_type,
            period,
            argMin(tuple(approved_by, note, approval_id), approved_at) AS earliest,
            min(approved_at) AS first_approved_at,
            uniqExact(approval_id) AS approval_count
        FROM approvals
        WHERE (province_code, report_type, period) NOT IN
            (SELECT province_code, report_type, period FROM approval_decisions)
        GROUP BY province_code, report_type, period
    )
) AS approved_periods
ANY LEFT JOIN
(
    SELECT province_code, province_name
    FROM provinces
) AS province_names USING (province_code);

-- The figures' and completeness views again, their 'approved' now from period_approvals
-- (the periods approved or accepted now, from the worker's decisions) instead of any row of
-- approvals: an unapproved period is no longer shown approved. Same columns and logic.

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
    FROM period_approvals
) AS approved_periods USING (province_code, report_type, period);

DROP TABLE IF EXISTS national_indicators;

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
    FROM period_approvals
    GROUP BY report_type, period
) AS approved_periods USING (report_type, period);

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
    FROM period_approvals
) AS approved_periods USING (province_code, report_type, period);

-- When the server received each commune's latest revision (what timeliness is judged on), next
-- to the time the commune claims, which can be far off (a clock set wrong).
CREATE VIEW IF NOT EXISTS commune_receipts AS
SELECT
    commune_code,
    province_code,
    report_type,
    period,
    tupleElement(latest, 1) AS revision,
    tupleElement(latest, 2) AS received_at,
    tupleElement(latest, 3) AS claimed_at,
    tupleElement(latest, 4) AS first_received_at
FROM
(
    SELECT
        commune_code,
        province_code,
        report_type,
        period,
        argMax(tuple(revision, accepted_at, submitted_at, first_submitted_at), revision) AS latest
    FROM commune_reports FINAL
    GROUP BY commune_code, province_code, report_type, period
);
