-- Reports under pre-2025 codes (commune_code 'L' + old code, periods before 1 July 2025), one
-- row per latest revision and per new commune it counts toward (docs/legacy-units.md).
-- approximate: the old commune was split, so its part is a share of its sums (and its max and
-- min count in the primary successor only). superseded: the new commune has a report of the
-- period under its own code, which counts instead; the old-code report is kept, not counted
-- there. The figures themselves are the worker's (province_indicators).

CREATE VIEW IF NOT EXISTS legacy_reports AS
SELECT
    legacy_code,
    legacy_name,
    commune_code,
    commune_name,
    province_code,
    period,
    revision,
    share,
    method,
    is_primary,
    toUInt8(method != 'whole') AS approximate,
    toUInt8((commune_code, period) IN
    (
        SELECT commune_code, period
        FROM commune_reports
        WHERE substring(commune_code, 1, 1) != 'L'
    )) AS superseded
FROM
(
    SELECT
        legacy_code,
        legacy_name,
        commune_code,
        province_code,
        period,
        revision,
        share,
        method,
        is_primary
    FROM
    (
        SELECT
            legacy_code,
            old_code,
            commune_code,
            province_code,
            period,
            revision,
            share,
            method,
            is_primary
        FROM
        (
            SELECT
                commune_code AS legacy_code,
                substring(commune_code, 2) AS old_code,
                province_code,
                period,
                revision
            FROM commune_reports FINAL
            WHERE substring(commune_code, 1, 1) = 'L'
        ) AS sent
        ALL INNER JOIN
        (
            SELECT legacy_code AS old_code, commune_code, share, method, is_primary
            FROM commune_lineage
        ) AS parts USING (old_code)
    ) AS counted
    ANY LEFT JOIN
    (
        SELECT legacy_code AS old_code, legacy_name
        FROM legacy_communes
    ) AS old_names USING (old_code)
) AS named
ANY LEFT JOIN
(
    SELECT commune_code, commune_name
    FROM communes
) AS new_names USING (commune_code);
