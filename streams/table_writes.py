"""A batch's table writes, stored a batch at a time: RocksDB, the changelog, the offsets.

Rule: the same bytes in the same places as Faust's ``table[key] = value``, so recovery stays
Faust's own, and no persisted offset ahead of what Kafka acknowledged (why grouped:
docs/worker.md, "Publishing and storing in batches").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import faust
from faust.stores.rocksdb import Store as RocksDBStore
from faust.types import TP

from baocao.streams.publish import await_delivery, send_grouped
from baocao.streams.records import StagedWrite, TableName, Tables

__all__ = ["store_writes"]


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
