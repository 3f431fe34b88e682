-- The worker's issue-3 topics, one table each. Every table is a ReplacingMergeTree keyed by
-- the record's identity (and a version where the record has one), so a replayed record is
-- one row to the views. Period-based partitions (the year, the first four characters of
-- every period form) keep all rows of one key in one partition, where FINAL merges them.

-- Who has reported, per province, report type and period (topic province-completeness):
-- absolute counts recomputed by the worker with a growing version; the newest wins.
CREATE TABLE IF NOT EXISTS province_completeness_values
(
    province_code     String,
    report_type       String,
    period            String,
    deadline          DateTime('UTC'),
    communes_expected UInt32,
    communes_reported UInt32,
    communes_on_time  UInt32,
    communes_late     UInt32,
    version           UInt64,
    updated_at        DateTime('UTC'),
    ingested_at       DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY substring(period, 1, 4)
ORDER BY (province_code, report_type, period);

-- Every change of a provincial figure (topic province-indicator-changes), never replaced by a
-- later one: the key includes the figure version, so only a replay of the same change
-- collapses. The causes (commune revisions of the batch that changed it) are parallel arrays.
CREATE TABLE IF NOT EXISTS province_indicator_changes
(
    province_code         String,
    report_type           String,
    period                String,
    indicator_code        String,
    version               UInt64,
    value                 Nullable(Float64),
    previous_value        Nullable(Float64),
    known_at              DateTime('UTC'),
    cause_commune_codes   Array(String),
    cause_report_ids      Array(String),
    cause_revisions       Array(UInt32),
    cause_previous_values Array(Nullable(Float64)),
    cause_values          Array(Nullable(Float64)),
    ingested_at           DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
PARTITION BY substring(period, 1, 4)
ORDER BY (province_code, period, indicator_code, version);

-- Soft rule breaks of accepted reports (topic report-warnings), every revision's. warning_id
-- (report, rule, indicator) is the identity; the province in front of it only serves
-- province filters. The view report_warnings shows those of the latest revisions.
CREATE TABLE IF NOT EXISTS report_warnings_log
(
    warning_id      String,
    report_id       String,
    commune_code    String,
    province_code   String,
    report_type     String,
    period          String,
    revision        UInt32,
    rule_code       String,
    indicator_code  Nullable(String),
    value           Nullable(Float64),
    reference_value Nullable(Float64),
    message_en      String,
    message_vi      String,
    raised_at       DateTime('UTC'),
    ingested_at     DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
PARTITION BY substring(period, 1, 4)
ORDER BY (province_code, warning_id);

-- Periods communes are expected to report on, announced by the worker's clock from the alert
-- horizon before their deadline on (topic reporting-periods). The worker announces a period
-- again on every tick: the latest announcement wins.
CREATE TABLE IF NOT EXISTS reporting_periods
(
    report_type  String,
    period       String,
    starts_at    DateTime('UTC'),
    ends_at      DateTime('UTC'),
    deadline     DateTime('UTC'),
    locks_at     DateTime('UTC'),
    announced_at DateTime('UTC'),
    ingested_at  DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(announced_at)
PARTITION BY substring(period, 1, 4)
ORDER BY (report_type, period);

-- Missing-report alerts (topic alerts.missing-reports): one per province, type, period and
-- phase (approaching, overdue). A restarted worker may raise the same alert_id again with a
-- shorter list: the latest generated wins.
CREATE TABLE IF NOT EXISTS missing_report_alerts
(
    alert_id          String,
    province_code     String,
    report_type       String,
    period            String,
    deadline          DateTime('UTC'),
    phase             String,
    commune_codes     Array(String),
    communes_expected UInt32,
    generated_at      DateTime('UTC'),
    ingested_at       DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(generated_at)
PARTITION BY substring(period, 1, 4)
ORDER BY (province_code, alert_id);

-- Approvals of a province's period (topic approvals, written by `baocao approve`). Every
-- approval is kept (an audit trail; a replay of one collapses by approval_id); the view
-- period_approvals shows the earliest per province, type and period: the one that locked it.
CREATE TABLE IF NOT EXISTS approvals
(
    approval_id   String,
    province_code String,
    report_type   String,
    period        String,
    approved_by   String,
    approved_at   DateTime('UTC'),
    note          Nullable(String),
    ingested_at   DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
PARTITION BY substring(period, 1, 4)
ORDER BY (province_code, report_type, period, approval_id);
