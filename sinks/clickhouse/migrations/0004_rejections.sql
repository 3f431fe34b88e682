-- One row per report the pipeline refused (topic `<prefix>.commune-reports.dead-letter`), with
-- all its reasons as parallel arrays and the event exactly as it arrived (raw bytes; read it
-- with hex(raw_payload)). rejection_id is "<topic>:<partition>:<offset>" of the refused event,
-- so a replay replaces the same row. commune_code is '' when the event did not carry one
-- (sorting-key columns cannot be Nullable). No partition key: rejections are few, and a
-- time-based key would split one rejection_id across partitions when it is replayed.
-- revision is Int32 (the Avro int) because refused revisions may be zero or negative.

CREATE TABLE IF NOT EXISTS rejections
(
    rejection_id       String,
    report_id          Nullable(String),
    commune_code       String,
    province_code      Nullable(String),
    period             Nullable(String),
    revision           Nullable(Int32),
    reason_codes       Array(String),
    reason_fields      Array(Nullable(String)),
    reason_messages_en Array(String),
    reason_messages_vi Array(String),
    raw_payload        String,
    source_topic       String,
    source_partition   Int32,
    source_offset      Int64,
    rejected_at        DateTime('UTC'),
    ingested_at        DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
ORDER BY (commune_code, rejection_id);
