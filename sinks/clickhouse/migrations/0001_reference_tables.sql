-- The 2025 administrative map: 34 provinces and 3,321 communes.
-- `baocao migrate` (re)loads the rows from the vietnam-provinces package on every run, so
-- these tables only hold what the package says; the views join them for names and counts.

CREATE TABLE IF NOT EXISTS provinces
(
    province_code     String,
    province_name     String,
    division_type     String,
    communes_expected UInt32
)
ENGINE = MergeTree
ORDER BY province_code;

CREATE TABLE IF NOT EXISTS communes
(
    commune_code  String,
    commune_name  String,
    province_code String,
    division_type String
)
ENGINE = MergeTree
ORDER BY commune_code;
