"""How the worker picks each output's partition: the producer's own partitioner, its answers
remembered only where they cannot change."""

from __future__ import annotations

import itertools

import pytest
from aiokafka.partitioner import DefaultPartitioner
from kafka.partitioner.default import murmur2

from baocao.streams import delivery

FOUR = (0, 1, 2, 3)
KEYS = [
    f"{province:02d}|2026-{month:02d}|tthc_{indicator}".encode()
    for province, month, indicator in itertools.product(range(1, 35), (10, 11), range(46))
]


@pytest.fixture(autouse=True)
def _forget() -> None:
    delivery._remembered.clear()


def test_remembered_partitions_are_the_ones_kafka_java_and_the_partitioner_give() -> None:
    partition_of = delivery._key_partitions(DefaultPartitioner())
    first = [partition_of(key, FOUR) for key in KEYS]
    again = [partition_of(key, FOUR) for key in KEYS]  # from memory now
    assert len(delivery._remembered) == len(KEYS)
    assert first == again
    # Kafka's (and kafka-python's) murmur2 rule, computed independently of aiokafka.
    assert first == [(murmur2(key) & 0x7FFFFFFF) % 4 for key in KEYS]
    assert set(first) == set(FOUR)  # the keys spread: not one constant answer


def test_a_topic_with_other_partitions_is_not_answered_from_another_topics_memory() -> None:
    partition_of = delivery._key_partitions(DefaultPartitioner())
    key = KEYS[7]
    four = partition_of(key, FOUR)
    assert partition_of(key, (0, 1, 2, 3, 4, 5)) == (murmur2(key) & 0x7FFFFFFF) % 6
    assert partition_of(key, FOUR) == four


def test_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "MAX_REMEMBERED_KEYS", 100)
    partition_of = delivery._key_partitions(DefaultPartitioner())
    answers = [partition_of(key, FOUR) for key in KEYS[:250]]
    assert len(delivery._remembered) <= 100
    assert answers == [(murmur2(key) & 0x7FFFFFFF) % 4 for key in KEYS[:250]]


def test_another_partitioner_is_asked_every_time() -> None:
    """A configured partitioner may answer by more than the key (load, a round robin): its
    answers are not remembered."""
    turns = itertools.count()
    partition_of = delivery._key_partitions(
        lambda key, all_partitions, available: all_partitions[next(turns) % len(all_partitions)]
    )
    assert [partition_of(KEYS[0], FOUR) for _ in range(6)] == [0, 1, 2, 3, 0, 1]
    assert delivery._remembered == {}
