-- The current figure of each indicator for each province and period (topic
-- `<prefix>.province-indicators`). The worker recomputes absolute figures and numbers each
-- recomputation with a growing `version`: ReplacingMergeTree(version) keeps the newest, so a
-- replay or a late duplicate never wins over a newer figure.

CREATE TABLE IF NOT EXISTS province_indicator_values
(
    province_code     String,
    period            String,
    indicator_code    String,
    value             Nullable(Float64),
    numerator         Nullable(Float64),
    denominator       Nullable(Float64),
    communes_reported UInt32,
    version           UInt64,
    updated_at        DateTime('UTC'),
    ingested_at       DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY substring(period, 1, 4)
ORDER BY (province_code, period, indicator_code);
