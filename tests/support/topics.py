"""Reading a topic whole: every record up to the end offsets it had when the read began."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from baocao.core.avro import codec_for
from baocao.core.kafka import consumer
from baocao.core.settings import Settings
from baocao.core.topics import SPECS, Topics


@dataclass(frozen=True)
class TopicContents:
    """The records read, in offset order per partition, and where each partition ended."""

    records: list[ConsumerRecord]
    #: partition -> the offset after its last record (0 when it has none)
    end_offsets: dict[int, int]


def read_topic(settings: Settings, topic: str, *, timeout: float = 30.0) -> TopicContents:
    """Every record of ``topic`` up to its end offsets: once Kafka acknowledged a write
    (a 202, a worker's stop), the read covers it."""
    reader = consumer(settings.kafka, group_id=f"{settings.kafka.topic_prefix}-check")
    try:
        partitions = reader.partitions_for_topic(topic)
        assert partitions, f"topic {topic} does not exist"
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        reader.assign(assigned)
        reader.seek_to_beginning(*assigned)
        end = reader.end_offsets(assigned)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        while any(reader.position(tp) < end[tp] for tp in assigned):
            assert time.monotonic() < deadline, f"read {len(records)} records before timing out"
            for batch in reader.poll(timeout_ms=500).values():
                records.extend(batch)
        return TopicContents(records, {tp.partition: end[tp] for tp in assigned})
    finally:
        reader.close()


def keys_off_spec(
    settings: Settings,
    *,
    foreign: Callable[[ConsumerRecord], bool] = lambda record: False,
    timeout: float = 120.0,
) -> tuple[Counter[str], list[str]]:
    """Read every topic of the pipeline whole and compare each record's key with
    ``spec.key_bytes_of(value)`` of its topic; the records checked per topic and every key
    that differs. ``foreign``: records a test put there on purpose with no payload to key
    (undecodable events), left out."""
    topics = Topics(settings.kafka.topic_prefix)
    checked: Counter[str] = Counter()
    wrong: list[str] = []
    for spec in SPECS:
        codec = codec_for(spec.writes, *spec.accepts)
        for record in read_topic(settings, topics.name(spec), timeout=timeout).records:
            if foreign(record):
                continue
            wanted = spec.key_bytes_of(codec.decode(record.value))
            checked[spec.attribute] += 1
            if record.key != wanted:
                where = f"{record.topic}:{record.partition}:{record.offset}"
                wrong.append(f"{where} keyed {record.key!r}, its spec says {wanted!r}")
    return checked, wrong
