-- History of the provincial figures, warnings on the latest reports, and approvals.

-- One row per change of a provincial figure, with when the pipeline knew it (known_at, to the
-- second) and the commune revisions that caused it (parallel arrays: the i-th commune, its
-- report, revision, value before and value in that revision). change is value minus
-- previous_value (NULL when either is NULL: a new figure, or a ratio over zero).
-- The figure as known at time T:
--   SELECT argMax(tuple(value), version).1 FROM province_indicator_history
--   WHERE province_code = '01' AND period = '2025-08' AND indicator_code = 'births'
--     AND known_at <= T
-- (the tuple keeps a NULL value from being skipped by argMax).
CREATE VIEW IF NOT EXISTS province_indicator_history AS
SELECT
    province_code,
    province_name,
    report_type,
    period,
    indicator_code,
    version,
    value,
    previous_value,
    value - previous_value AS change,
    known_at,
    cause_commune_codes,
    cause_report_ids,
    cause_revisions,
    cause_previous_values,
    cause_values
FROM
(
    SELECT
        province_code,
        report_type,
        period,
        indicator_code,
        version,
        value,
        previous_value,
        known_at,
        cause_commune_codes,
        cause_report_ids,
        cause_revisions,
        cause_previous_values,
        cause_values
    FROM province_indicator_changes FINAL
) AS changes
ANY LEFT JOIN
(
    SELECT province_code, province_name
    FROM provinces
) AS province_names USING (province_code);

-- Warnings on the reports that count now: those of each commune's latest accepted revision
-- (a correction that no longer breaks the rule makes the warning disappear from here; every
-- warning ever raised stays in the table report_warnings_log).
CREATE VIEW IF NOT EXISTS report_warnings AS
SELECT
    warning_id,
    report_id,
    commune_code,
    commune_name,
    province_code,
    report_type,
    period,
    revision,
    rule_code,
    indicator_code,
    value,
    reference_value,
    message_en,
    message_vi,
    raised_at
FROM
(
    SELECT
        warning_id,
        report_id,
        commune_code,
        province_code,
        report_type,
        period,
        revision,
        rule_code,
        indicator_code,
        value,
        reference_value,
        message_en,
        message_vi,
        raised_at
    FROM report_warnings_log FINAL
    WHERE (commune_code, period, revision) IN
    (
        SELECT commune_code, period, revision
        FROM commune_reports FINAL
    )
) AS current_warnings
ANY LEFT JOIN
(
    SELECT commune_code, commune_name
    FROM communes
) AS commune_names USING (commune_code);

-- One row per approved province, report type and period: the EARLIEST approval, the one
-- that locked the period (later approvals of the same period do not move that moment; they
-- are counted in approval_count and all kept in the table approvals).
CREATE VIEW IF NOT EXISTS period_approvals AS
SELECT
    province_code,
    report_type,
    period,
    tupleElement(earliest, 1) AS approved_by,
    first_approved_at AS approved_at,
    tupleElement(earliest, 2) AS note,
    province_name,
    tupleElement(earliest, 3) AS approval_id,
    approval_count
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
    GROUP BY province_code, report_type, period
) AS approved_periods
ANY LEFT JOIN
(
    SELECT province_code, province_name
    FROM provinces
) AS province_names USING (province_code);
