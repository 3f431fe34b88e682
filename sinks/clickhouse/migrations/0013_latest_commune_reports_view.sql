-- The latest accepted revision of each commune's report for each period, one row per report
-- with its figures as parallel arrays. Readers outside the sink (the gateway's report status)
-- read this view, not the sink's table `commune_reports` and its ReplacingMergeTree rules: the
-- view answers with the latest revision before any merge (FINAL, as the other views do).

CREATE VIEW IF NOT EXISTS latest_commune_reports AS
SELECT
    report_id,
    commune_code,
    province_code,
    period,
    revision,
    submitted_at,
    report_type,
    indicator_codes,
    indicator_values
FROM commune_reports FINAL;
