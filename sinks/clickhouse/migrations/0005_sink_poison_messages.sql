-- Records of the pipeline's internal topics that the sink could not decode or store (a bug
-- or a foreign producer upstream). They are kept here with the error, never dropped, and the
-- sink moves on. Keyed by their Kafka position, so a replay replaces the same row.

CREATE TABLE IF NOT EXISTS sink_poison_messages
(
    source_topic     String,
    source_partition Int32,
    source_offset    Int64,
    message_key      String,
    raw_payload      String,
    error            String,
    received_at      DateTime('UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (source_topic, source_partition, source_offset);
