-- The indicator catalogue (schemas/indicators.json), one row per indicator. Like provinces and
-- communes, `baocao migrate` (re)loads it from the package on every run, so it only ever holds
-- what the catalogue says. national_indicators joins it for each indicator's aggregation;
-- BI tools join it for names and units. report_types lists the report types (daily, weekly,
-- monthly, quarterly, yearly) whose reports carry the indicator.

CREATE TABLE IF NOT EXISTS indicators
(
    code         String,
    name_vi      String,
    name_en      String,
    unit         String,
    domain       String,
    aggregation  String,
    numerator    Nullable(String),
    denominator  Nullable(String),
    report_types Array(String)
)
ENGINE = MergeTree
ORDER BY code;
