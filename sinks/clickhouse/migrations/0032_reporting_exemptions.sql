-- Units that owe no report of a type (baocao/core/obligations.py): by default Đặc khu Hoàng Sa,
-- which has no administration on site, for every report type. `baocao migrate` (re)loads it
-- from the package, like the other reference tables. The worker leaves these units out of
-- completeness and alerts; missing_reports leaves them out too (recreated below, otherwise as
-- in 0011).

CREATE TABLE IF NOT EXISTS reporting_exemptions
(
    commune_code String,
    report_type  String,
    reason       String
)
ENGINE = MergeTree
ORDER BY (commune_code, report_type);

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
AND (commune_code, report_type) NOT IN
(
    SELECT commune_code, report_type
    FROM reporting_exemptions
);
