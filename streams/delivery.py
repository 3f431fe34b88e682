"""How a batch leaves the worker: its records published through aiokafka's batch API (one
future per partition batch), then its table writes stored (RocksDB, the changelog, the
persisted offsets).

Rules: every key lands in the partition ``producer.send`` would choose (the producer's own
partitioner), and a key's records stay in order; a table write puts the same bytes in the
same places as Faust's ``table[key] = value``, so recovery stays Faust's own, and no persisted
offset is ahead of what Kafka acknowledged (docs/worker.md, "Publishing and storing in
batches").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol, cast

import faust
from aiokafka.partitioner import DefaultPartitioner
from faust.stores.rocksdb import Store as RocksDBStore
from faust.types import TP

from baocao.streams.exceptions import DeliveryError
from baocao.streams.records import StagedWrite, TableName, Tables

__all__ = [
    "OutputLike",
    "SentBatch",
    "await_delivery",
    "send_grouped",
    "send_in_batches",
    "store_writes",
]


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
    partitions: dict[str, tuple[int, ...]] = {}
    partition_of = _key_partitions(producer._partitioner)
    for output in outputs:
        topic = output.topic
        known = partitions.get(topic)
        if known is None:
            known = partitions[topic] = tuple(sorted(await producer.partitions_for(topic)))
        key = output.key.encode()
        partition = partition_of(key, known)
        grouped.setdefault((topic, partition), []).append((key, output.value))
    return [sent.future for sent in await send_grouped(producer, grouped)]


#: Keys whose partition is remembered, at most (then forgotten all at once): a few periods
#: of every province's figures and every commune's reports.
MAX_REMEMBERED_KEYS = 50_000
_remembered: dict[tuple[bytes, tuple[int, ...]], int] = {}


def _key_partitions(partitioner: Any) -> Callable[[bytes, tuple[int, ...]], int]:
    """``partitioner`` as a function of a key and the topic's partitions, remembering each
    answer when it is aiokafka's :class:`DefaultPartitioner`: its murmur2 is pure Python,
    about a tenth of the worker's CPU, and a batch hashes the same keys (a province's 46
    figures) as the batches before it. That partitioner depends on nothing but its
    arguments, so a remembered answer is the one it would give again."""
    if not isinstance(partitioner, DefaultPartitioner):
        return lambda key, known: cast(int, partitioner(key, list(known), list(known)))

    def partition_of(key: bytes, known: tuple[int, ...]) -> int:
        partition = _remembered.get((key, known))
        if partition is None:
            if len(_remembered) >= MAX_REMEMBERED_KEYS:
                _remembered.clear()
            partition = _remembered[(key, known)] = partitioner(key, list(known), list(known))
        return partition

    return partition_of


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


async def store_writes(
    app: faust.App,
    tables: Tables,
    writes: Sequence[StagedWrite],
    *,
    partition_of: Callable[[int], int],
) -> int:
    """Store ``writes`` in their Faust ``tables`` and wait until their changelog is durable;
    the number of changelog records. A write goes to the partition ``partition_of`` its
    anchor (the event the key belongs to: where Faust keeps the key and sends its changelog
    record). Raises :class:`~baocao.streams.exceptions.DeliveryError` when Kafka refused any
    (the batch is then not acknowledged; it runs again after the restart)."""
    stores: dict[TableName, tuple[RocksDBStore, str]] = {}
    grouped: dict[tuple[str, int], list[tuple[bytes, bytes | None]]] = {}
    for write in writes:
        found = stores.get(write.table)
        if found is None:
            table = cast(faust.Table, tables.named(write.table))
            store = cast(RocksDBStore, table.data)
            found = stores[write.table] = (store, table.changelog_topic.get_topic_name())
        store, topic = found
        partition = partition_of(write.anchor)
        key, value = store._encode_key(write.key), store._encode_value(write.value)
        store._db_for_partition(partition).put(key, value)
        store._key_index[key] = partition  # as Faust's own put: lookups without an event
        grouped.setdefault((topic, partition), []).append((key, value))
    producer = app.producer._ensure_producer()  # type: ignore[attr-defined]
    sent = await send_grouped(producer, grouped)
    results = await await_delivery([s.future for s in sent], what="table changelog batches")
    last: dict[tuple[str, int], int] = {}
    for batch, metadata in zip(sent, results, strict=True):
        offset = metadata.offset + batch.records - 1
        where = (batch.topic, batch.partition)
        last[where] = max(offset, last.get(where, -1))
    by_topic = {topic: store for store, topic in stores.values()}
    for (topic, partition), offset in last.items():
        # What Faust's ``Collection._on_changelog_sent`` does per acknowledged record. The
        # worker runs at least once (Faust's default processing guarantee; its effect is
        # exactly once through the order of outputs, state and offsets, see ``agent``), so
        # the offset is persisted at once rather than at the next commit.
        by_topic[topic].set_persisted_offset(TP(topic, partition), offset)
    return sum(batch.records for batch in sent)
