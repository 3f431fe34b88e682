-- One row per accepted revision of a commune's report (topic `<prefix>.commune-reports.accepted`).
-- ReplacingMergeTree(revision) keeps the highest revision of each (commune_code, period), so a
-- replayed or out-of-order record is harmless; readers use FINAL (the views do) to get that
-- answer before background merges. The partition key is a function of `period`, part of the
-- sorting key, so all revisions of one key share a partition (FINAL only merges within one).
-- substring() rather than toYear(toDate(...)) because it cannot fail on any string.

CREATE TABLE IF NOT EXISTS commune_reports
(
    report_id        String,
    commune_code     String,
    province_code    String,
    period           String,
    revision         UInt32,
    submitted_at     DateTime('UTC'),
    indicator_codes  Array(String),
    indicator_values Array(Float64),
    ingested_at      DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(revision)
PARTITION BY substring(period, 1, 4)
ORDER BY (commune_code, period);
