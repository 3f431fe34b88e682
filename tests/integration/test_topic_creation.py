"""Topic creation on the real broker: a publish right after it is accepted at once.

A new partition has a leader in the metadata before the leader broker serves it; a producer
that sends then gets ``NotLeaderForPartitionError`` and kafka-python logs a warning for every
retry (issue 12). ``ensure_topics`` waits for serving leaders, so nothing of that is logged.
"""

from __future__ import annotations

import logging
import time
import uuid

import pytest
from kafka import TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType
from support.settings import as_principal

from baocao.core.kafka import admin_client, consumer, ensure_topics, producer
from baocao.core.principals import Principal
from baocao.core.settings import KafkaSettings, Settings
from baocao.core.topics import Topics
from baocao.streams.app import changelog_topics, create_app
from baocao.streams.commands import prepare_kafka

#: Rounds of create-then-publish: the race is timing-dependent, so one round on the code
#: without the wait is refused about three times in four; three rounds almost always.
ROUNDS = 3


def _publish_to_every_partition(
    settings: KafkaSettings, topics: list[str]
) -> dict[TopicPartition, bytes]:
    """Create ``topics`` and send one record to each partition the moment creation returns
    (the producer built first, as a publisher is); return what was sent where."""
    sender = producer(settings)
    try:
        created = ensure_topics(settings, topics)
        assert created == topics
        sent: dict[TopicPartition, bytes] = {}
        for topic in created:
            for partition in range(settings.partitions):
                value = f"{topic}/{partition}/{uuid.uuid4()}".encode()
                sender.send(topic, partition=partition, value=value)
                sent[TopicPartition(topic, partition)] = value
        sender.flush(timeout=60)
        return sent
    finally:
        sender.close()


def _read_back(settings: KafkaSettings, partitions: list[TopicPartition]) -> dict:
    reader = consumer(settings, group_id=f"{settings.topic_prefix}-check")
    received: dict[TopicPartition, list[bytes]] = {}
    try:
        reader.assign(partitions)
        reader.seek_to_beginning(*partitions)
        deadline = time.monotonic() + 30
        while sum(map(len, received.values())) < len(partitions) and time.monotonic() < deadline:
            for partition, records in reader.poll(timeout_ms=500).items():
                received.setdefault(partition, []).extend(r.value for r in records)
    finally:
        reader.close()
    return received


def test_a_publish_right_after_topic_creation_is_accepted_at_once(
    test_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="kafka")
    for round_ in range(ROUNDS):
        settings = KafkaSettings(
            **{
                **test_settings.kafka.model_dump(),
                "topic_prefix": f"{test_settings.kafka.topic_prefix}r{round_}",
            }
        )
        topics = list(Topics(settings.topic_prefix).all())
        try:
            sent = _publish_to_every_partition(settings, topics)
            received = _read_back(settings, list(sent))
        finally:
            admin = admin_client(settings)
            try:
                existing = set(admin.list_topics())
                admin.delete_topics([topic for topic in topics if topic in existing])
            finally:
                admin.close()
        refusals = [r.getMessage() for r in caplog.records if "NotLeader" in r.getMessage()]
        assert refusals == [], f"round {round_}: {len(refusals)} refusals, e.g. {refusals[0]}"
        assert received == {partition: [value] for partition, value in sent.items()}
    # Every partition of every pipeline topic was written: the check covered all of them.
    assert len(sent) == len(topics) * test_settings.kafka.partitions >= 40


@pytest.mark.usefixtures("kafka_access")  # the principals' ACLs on the test's names
def test_the_worker_creates_its_changelogs_before_faust_starts(test_settings: Settings) -> None:
    # A changelog Faust created itself could be missing from its consumer's first metadata,
    # counted there with 0 partitions, and the first table write then stopped the worker
    # with PartitionsMismatch (seen in CI on a fresh prefix). The worker, logged in as
    # itself, creates them first, named as Faust names them and configured as Faust would.
    worker = as_principal(test_settings, Principal.WORKER)
    faust_names = {
        table.changelog_topic.get_topic_name() for table in create_app(worker).tables.values()
    }

    prepare_kafka(worker)

    assert set(changelog_topics(worker.worker.app_id)) == faust_names
    admin = admin_client(test_settings.kafka)
    try:
        described = admin.describe_topics(sorted(faust_names))
        configs = admin.describe_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, name, configs=["cleanup.policy"])
                for name in faust_names
            ]
        )
    finally:
        admin.close()
    partitions = {topic["name"]: len(topic["partitions"]) for topic in described}
    assert partitions == dict.fromkeys(faust_names, test_settings.kafka.partitions)
    policies = {name: found["cleanup.policy"]["value"] for name, found in configs["topic"].items()}
    assert policies == dict.fromkeys(faust_names, "compact")
