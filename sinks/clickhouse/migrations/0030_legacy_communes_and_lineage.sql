-- The pre-2025 map (63 provinces, 10,040 commune-level units) and the crosswalk onto the 2025
-- communes, both from the vietnamadminunits package (baocao/core/lineage.py,
-- docs/legacy-units.md). `baocao migrate` (re)loads them on every run, like provinces and
-- communes. A code is a 5-digit commune code, or the 3-digit code of one of the five island
-- districts that had no communes. commune_lineage: one row per (old, new) pair; the shares of
-- an old code add up to 1; method is whole, split_by_area or split_equally; is_primary marks
-- the one new commune a split unit's max and min indicators count toward. The old province is
-- legacy_province_code, not province_code: it is no 2025 province, and both tables are public
-- reference data that every province's BI database copies whole (baocao/app/bi/legacy.py).

CREATE TABLE IF NOT EXISTS legacy_communes
(
    legacy_code   String,
    legacy_name   String,
    division_type String,
    district_code String,
    district_name String,
    legacy_province_code String,
    legacy_province_name String
)
ENGINE = MergeTree
ORDER BY legacy_code;

CREATE TABLE IF NOT EXISTS commune_lineage
(
    legacy_code  String,
    commune_code String,
    share        Float64,
    method       String,
    is_primary   UInt8
)
ENGINE = MergeTree
ORDER BY (legacy_code, commune_code);
