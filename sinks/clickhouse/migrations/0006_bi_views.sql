-- The BI contract: plain SELECTs on these views return the current truth. They hide the
-- versions: FINAL merges the ReplacingMergeTree rows at read time, so the answer is right
-- even before background merges. The join syntax, `ANY LEFT JOIN (SELECT ...) USING key`
-- with one join per SELECT, is what ClickHouse 18.16 accepts; current releases (the new
-- analyzer) also require every subquery in a join to have an alias, which 18.16 accepts.

CREATE VIEW IF NOT EXISTS province_indicators AS
SELECT
    province_code,
    province_name,
    period,
    indicator_code,
    value,
    communes_reported,
    communes_expected,
    updated_at
FROM
(
    SELECT province_code, period, indicator_code, value, communes_reported, updated_at
    FROM province_indicator_values FINAL
) AS figures
ANY LEFT JOIN
(
    SELECT province_code, province_name, communes_expected
    FROM provinces
) AS province_names USING (province_code);

CREATE VIEW IF NOT EXISTS commune_indicators AS
SELECT
    commune_code,
    commune_name,
    province_code,
    period,
    indicator_code,
    value,
    revision,
    submitted_at
FROM
(
    SELECT commune_code, province_code, period, indicator_code, value, revision, submitted_at
    FROM commune_reports FINAL
    ARRAY JOIN
        indicator_codes AS indicator_code,
        indicator_values AS value
) AS latest_values
ANY LEFT JOIN
(
    SELECT commune_code, commune_name
    FROM communes
) AS commune_names USING (commune_code);

-- LEFT ARRAY JOIN keeps a rejection that carries no reason (one row, reason columns empty).
CREATE VIEW IF NOT EXISTS rejected_reports AS
SELECT
    rejection_id,
    report_id,
    nullIf(stored_commune_code, '') AS commune_code,
    province_code,
    period,
    revision,
    reason_code,
    reason_field,
    message_en,
    message_vi,
    rejected_at,
    source_topic,
    source_partition,
    source_offset
FROM
(
    SELECT
        rejection_id,
        report_id,
        commune_code AS stored_commune_code,
        province_code,
        period,
        revision,
        reason_code,
        reason_field,
        message_en,
        message_vi,
        rejected_at,
        source_topic,
        source_partition,
        source_offset
    FROM rejections FINAL
    LEFT ARRAY JOIN
        reason_codes AS reason_code,
        reason_fields AS reason_field,
        reason_messages_en AS message_en,
        reason_messages_vi AS message_vi
) AS reasons;
