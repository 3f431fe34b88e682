-- What the worker now decides about each accepted report and figure (issue 3): the report type,
-- the deadline, timeliness, amendments and warnings.
--
-- ClickHouse 18.16 has no `ADD COLUMN IF NOT EXISTS`. Each ALTER below is one statement (18.16
-- applies all its ADD COLUMNs or none), and `baocao migrate` skips an `ALTER TABLE ... ADD
-- COLUMN` whose columns all exist already, so re-running this file after a failure is safe.
--
-- Rows stored before this migration read the defaults: every earlier report was monthly;
-- their deadline is unknown, stored as 1970-01-01 (the views show NULL and never call such a
-- figure final); first_submitted_at and accepted_at fall back to submitted_at.

ALTER TABLE commune_reports
    ADD COLUMN report_type String DEFAULT 'monthly',
    ADD COLUMN first_submitted_at DateTime('UTC') DEFAULT submitted_at,
    ADD COLUMN accepted_at DateTime('UTC') DEFAULT submitted_at,
    ADD COLUMN deadline DateTime('UTC') DEFAULT toDateTime(0, 'UTC'),
    ADD COLUMN on_time UInt8 DEFAULT 0,
    ADD COLUMN amended UInt8 DEFAULT 0;

ALTER TABLE province_indicator_values
    ADD COLUMN report_type String DEFAULT 'monthly',
    ADD COLUMN deadline DateTime('UTC') DEFAULT toDateTime(0, 'UTC'),
    ADD COLUMN communes_with_warnings UInt32 DEFAULT 0,
    ADD COLUMN communes_amended UInt32 DEFAULT 0;
