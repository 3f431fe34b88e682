"""Publishing a batch's records through aiokafka's batch API: one future per partition batch.

Rule: every key lands in the partition ``producer.send`` would choose (the producer's own
partitioner), and a key's records stay in order (docs/worker.md, "Publishing and storing in
batches").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from baocao.streams.exceptions import DeliveryError

__all__ = ["OutputLike", "SentBatch", "await_delivery", "send_grouped", "send_in_batches"]


class OutputLike(Protocol):
    @property
    def topic(self) -> str: ...

    @property
    def key(self) -> str: ...

    @property
    def value(self) -> bytes: ...


class SentBatch(NamedTuple):
    """Records handed to the producer together: ``future`` resolves to the
    :class:`~aiokafka.structs.RecordMetadata` of the first (its ``offset`` is the batch's
    base offset) once Kafka acknowledged them all."""

    topic: str
    partition: int
    records: int
    future: asyncio.Future[Any]


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
    return [sent.future for sent in await send_grouped(producer, grouped)]


async def send_grouped(
    producer: Any, grouped: Mapping[tuple[str, int], Sequence[tuple[bytes, bytes | None]]]
) -> list[SentBatch]:
    """Start sending each (topic, partition)'s ``(key, value)`` records, in order, as few
    batches as the producer's batch size allows."""
    sent: list[SentBatch] = []
    for (topic, partition), records in grouped.items():
        batch, count = producer.create_batch(), 0
        for key, value in records:
            if batch.append(key=key, value=value, timestamp=None) is not None:
                count += 1
                continue
            if count:
                future = await producer.send_batch(batch, topic, partition=partition)
                sent.append(SentBatch(topic, partition, count, future))
                batch, count = producer.create_batch(), 0
                if batch.append(key=key, value=value, timestamp=None) is not None:
                    count += 1
                    continue
            # A record larger than a whole batch: the plain path (and its size checks).
            future = await producer.send(topic, value, key=key, partition=partition)
            sent.append(SentBatch(topic, partition, 1, future))
        if count:
            future = await producer.send_batch(batch, topic, partition=partition)
            sent.append(SentBatch(topic, partition, count, future))
    return sent


async def await_delivery(futures: Sequence[Awaitable[Any]], *, what: str) -> list[Any]:
    """Wait for every write and return what each resolved to; raise :class:`DeliveryError`
    if any failed (once all settled), naming ``what`` was refused."""
    if not futures:
        return []
    results = await asyncio.gather(*futures, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise DeliveryError(
            f"Kafka refused {len(errors)} of {len(results)} {what} (first: {errors[0]!r}); "
            "the batch is not acknowledged and will be processed again",
            failed=len(errors),
            total=len(results),
        ) from errors[0]
    return results
