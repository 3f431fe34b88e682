-- rejected_report.v2 (issue 10): the worker keeps only the first bytes of an oversized
-- refused event; the size and SHA-256 of the whole event, and whether raw_payload was cut,
-- are stored with it, so a cut payload is never taken for the whole event. Rows of v1
-- records (and rows stored before this migration) read NULL, NULL and 0.
-- One ALTER: 18.16 applies all its columns or none, and `baocao migrate` skips it once they
-- exist (18.16 has no ADD COLUMN IF NOT EXISTS).

ALTER TABLE rejections
    ADD COLUMN raw_size Nullable(Int64),
    ADD COLUMN raw_sha256 Nullable(String),
    ADD COLUMN raw_truncated UInt8 DEFAULT 0;
