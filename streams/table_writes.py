"""A batch's table writes, stored a batch at a time: RocksDB, the changelog, the offsets.

Faust's ``table[key] = value`` does, for every key: the encoding, a RocksDB put, a changelog
``send_soon`` (a :class:`~faust.types.tuples.FutureMessage`, a pending message in Faust's own
producer buffer, sensor calls) and, once Kafka acknowledged that record, another RocksDB put
for the partition's persisted offset. For the ~2,000 writes of a batch that was 17% of the
worker's active samples (py-spy on ``bench.worker --months 3``, issue 11).

:func:`store_writes` puts the same bytes in the same places, grouped: the values go to each
partition's database, the changelog records through aiokafka's batch API
(:func:`~baocao.streams.publish.send_grouped`), and once Kafka acknowledged them each changelog
partition's persisted offset is written once, to its last record. Recovery stays Faust's
own: the changelog holds every key's value in the bytes RocksDB holds, and no persisted
offset is ahead of what Kafka acknowledged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import faust
from faust.stores.rocksdb import Store as RocksDBStore
from faust.types import TP

from baocao.streams.publish import await_delivery, send_grouped

__all__ = ["TableWrite", "store_writes"]


@dataclass(frozen=True, slots=True)
class TableWrite:
    """``table[key] = value`` in ``partition`` (the partition of the event the key belongs
    to: where Faust keeps the key and sends its changelog record)."""

    table: faust.Table
    partition: int
    key: Any
    value: Any


async def store_writes(app: faust.App, writes: Iterable[TableWrite]) -> int:
    """Store ``writes`` in their tables and wait until their changelog is durable; the
    number of changelog records. Raises :class:`~baocao.streams.exceptions.DeliveryError`
    when Kafka refused any (the batch is then not acknowledged; it runs again after the
    restart)."""
    grouped: dict[tuple[str, int], list[tuple[bytes, bytes | None]]] = {}
    stores: dict[str, RocksDBStore] = {}
    for write in writes:
        store = cast(RocksDBStore, write.table.data)
        key, value = store._encode_key(write.key), store._encode_value(write.value)
        store._db_for_partition(write.partition).put(key, value)
        store._key_index[key] = write.partition  # as Faust's own put: lookups without an event
        topic = write.table.changelog_topic.get_topic_name()
        stores[topic] = store
        grouped.setdefault((topic, write.partition), []).append((key, value))
    producer = app.producer._ensure_producer()  # type: ignore[attr-defined]
    sent = await send_grouped(producer, grouped)
    results = await await_delivery([s.future for s in sent], what="table changelog batches")
    last: dict[tuple[str, int], int] = {}
    for batch, metadata in zip(sent, results, strict=True):
        offset = metadata.offset + batch.records - 1
        where = (batch.topic, batch.partition)
        last[where] = max(offset, last.get(where, -1))
    for (topic, partition), offset in last.items():
        # What Faust's ``Collection._on_changelog_sent`` does per acknowledged record. The
        # worker runs at least once (Faust's default processing guarantee; its effect is
        # exactly once through the order of outputs, state and offsets, see ``agent``), so
        # the offset is persisted at once rather than at the next commit.
        stores[topic].set_persisted_offset(TP(topic, partition), offset)
    return sum(batch.records for batch in sent)
