"""One event published and acknowledged before a command returns (an officer's approval step,
a reporting obligation): keyed and encoded as its topic's spec declares, stamped with the
event's own time as the Kafka timestamp, and sent on a producer of its own that is closed
after the broker's acknowledgement (or the failure) is known.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kafka.errors import KafkaError

from baocao.core.avro import codec_for
from baocao.core.instants import millis
from baocao.core.kafka import KafkaUnavailableError, ensure_topics, producer, wait_for_kafka
from baocao.core.settings import KafkaSettings
from baocao.core.topics import Topics, TopicSpec
from baocao.producers.exceptions import DeliveryFailedError, KafkaUnreachableError

__all__ = ["KAFKA_TIMEOUT_SECONDS", "publish_one"]

#: How long a command waits for Kafka to answer, and then for the acknowledgement.
KAFKA_TIMEOUT_SECONDS = 30.0


def publish_one(
    kafka: KafkaSettings, spec: TopicSpec, record: Mapping[str, Any], *, at: datetime, what: str
) -> int:
    """Publish ``record`` on ``spec``'s topic with ``at`` as its Kafka timestamp and wait for
    the acknowledgement; the partition it landed in. ``what`` names it in errors."""
    topic = Topics(kafka.topic_prefix).name(spec)
    try:
        wait_for_kafka(kafka, timeout=KAFKA_TIMEOUT_SECONDS)
        ensure_topics(kafka, [topic])
    except (KafkaUnavailableError, KafkaError, OSError) as exc:
        raise KafkaUnreachableError(
            f"cannot reach Kafka at {kafka.bootstrap_servers}: {exc}"
        ) from exc
    value = codec_for(spec.writes).encode(record)
    sender = producer(kafka)
    try:
        future = sender.send(
            topic, key=spec.key_bytes_of(record), value=value, timestamp_ms=millis(at)
        )
        sender.flush(timeout=KAFKA_TIMEOUT_SECONDS)
        metadata = future.get(timeout=KAFKA_TIMEOUT_SECONDS)
    except KafkaError as exc:
        raise DeliveryFailedError(
            f"Kafka did not acknowledge the {what} on {topic}: {exc}", delivered=0, failed=1
        ) from exc
    finally:
        sender.close(timeout=KAFKA_TIMEOUT_SECONDS)
    return int(metadata.partition)
