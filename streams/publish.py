"""Publishing a batch's output records through aiokafka's batch API.

``producer.send`` costs a future, a partitioner call and an accumulator lookup per record,
and the agent then gathered thousands of futures per batch (about a sixth of the worker's
time in the issue-11 profile). Here the records are grouped by topic and partition (with the
producer's own partitioner, so every key lands where ``send`` would put it, and the records of
a key stay in order), appended to one :class:`~aiokafka.producer.message_accumulator.BatchBuilder`
per partition and handed over with ``send_batch``: one future per batch of records.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

__all__ = ["OutputLike", "send_in_batches"]


class OutputLike(Protocol):
    @property
    def topic(self) -> str: ...

    @property
    def key(self) -> str: ...

    @property
    def value(self) -> bytes: ...


async def send_in_batches(
    producer: Any, outputs: Sequence[OutputLike]
) -> list[asyncio.Future[Any]]:
    """Start sending ``outputs`` with the :class:`aiokafka.AIOKafkaProducer` ``producer``;
    the futures resolve when Kafka acknowledged each batch (and fail if it refused one)."""
    grouped: dict[tuple[str, int], list[tuple[bytes, bytes]]] = {}
    partitions: dict[str, list[int]] = {}
    partitioner = producer._partitioner
    for output in outputs:
        topic = output.topic
        known = partitions.get(topic)
        if known is None:
            known = partitions[topic] = sorted(await producer.partitions_for(topic))
        key = output.key.encode()
        partition = partitioner(key, known, known)
        grouped.setdefault((topic, partition), []).append((key, output.value))
    futures: list[asyncio.Future[Any]] = []
    for (topic, partition), records in grouped.items():
        batch = producer.create_batch()
        for key, value in records:
            if batch.append(key=key, value=value, timestamp=None) is not None:
                continue
            if batch.record_count():
                futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None) is not None:
                    continue
            # A record larger than a whole batch: the plain path (and its size checks).
            futures.append(await producer.send(topic, value, key=key, partition=partition))
        if batch.record_count():
            futures.append(await producer.send_batch(batch, topic, partition=partition))
    return futures
