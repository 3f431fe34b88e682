"""``wait_for_leaders`` asks again while a new partition's leader does not serve it yet.

With three brokers, a leader's own metadata can lag behind the metadata another broker
already served: its ListOffsets answer is ``UnknownTopicOrPartitionError`` for a moment.
That was taken as final, and a worker creating its changelogs stopped at start-up (seen in
``make chaos``). The real brokers' side is covered by ``make chaos`` (three brokers); here a
fake admin answers as that lagging leader did.
"""

from __future__ import annotations

from typing import Any

import pytest
from kafka.errors import TopicAuthorizationFailedError, UnknownTopicOrPartitionError

from baocao.core.kafka import KafkaUnavailableError, wait_for_leaders


class LaggingAdmin:
    """Knows the topic; its leader refuses ListOffsets ``refusals`` times, then answers."""

    def __init__(self, refusals: int, error: type[Exception] = UnknownTopicOrPartitionError):
        self.refusals = refusals
        self.error = error
        self.asked = 0

    def wait_for_topics(self, topics: list[str], timeout_ms: int) -> None:
        return None

    def describe_topics(self, topics: list[str]) -> list[dict[str, Any]]:
        return [
            {"name": name, "partitions": [{"partition_index": i} for i in range(4)]}
            for name in topics
        ]

    def list_partition_offsets(self, partitions: dict[Any, Any], timeout_ms: int) -> dict:
        self.asked += 1
        if self.asked <= self.refusals:
            raise self.error("The following partitions are not known: ...")
        return dict.fromkeys(partitions, 0)


def test_a_leader_whose_metadata_lags_is_asked_again_until_it_serves() -> None:
    admin = LaggingAdmin(refusals=3)

    wait_for_leaders(admin, ["w-rollup-latest-changelog"], timeout=10)

    assert admin.asked == 4


def test_a_leader_that_never_serves_is_reported_after_the_timeout() -> None:
    admin = LaggingAdmin(refusals=10**6)

    with pytest.raises(KafkaUnavailableError, match="no serving leader within 1s"):
        wait_for_leaders(admin, ["w-rollup-latest-changelog"], timeout=1)

    assert 3 <= admin.asked <= 10  # asked again every 0.2 s, not in a busy loop


def test_other_refusals_are_not_waited_out() -> None:
    admin = LaggingAdmin(refusals=1, error=TopicAuthorizationFailedError)

    with pytest.raises(KafkaUnavailableError):
        wait_for_leaders(admin, ["w-rollup-latest-changelog"], timeout=10)

    assert admin.asked == 1
