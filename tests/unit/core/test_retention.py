"""Retention is declared with each topic and reaches every place a topic or broker is made:
``ensure_topics``' configurations and both Docker Compose files (the local stack's broker:
``tests/unit/app/stack/test_stack_config.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from baocao.core.kafka import topic_configs
from baocao.core.topics import SPECS, Component, Topics

ROOT = Path(__file__).parents[3]
TOPICS = Topics("unit")


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.suffix)
def test_every_topic_that_lands_as_rows_or_feeds_a_rebuild_keeps_its_records_for_ever(
    spec: Any,
) -> None:
    lands_as_rows = Component.SINKS in spec.readers
    feeds_a_rebuild = Component.STREAMS in spec.readers
    assert lands_as_rows or feeds_a_rebuild
    assert spec.retention.ms == -1
    assert spec.retention.why.strip()
    configs = topic_configs(TOPICS, TOPICS.name(spec))
    assert configs["retention.ms"] == "-1"
    assert configs["retention.bytes"] == "-1"
    # The sink keeps every revision and version: compaction would drop history.
    assert configs["cleanup.policy"] == "delete"


def test_a_topic_that_is_not_the_pipeline_s_gets_no_declaration() -> None:
    assert topic_configs(TOPICS, "unit-rollup-latest-changelog") == {}


@pytest.mark.parametrize("compose", ["docker-compose.yml", "docker-compose.brokers-3.yml"])
def test_every_compose_kafka_node_keeps_any_other_topic_for_ever(compose: str) -> None:
    services = yaml.safe_load((ROOT / compose).read_text())["services"]
    nodes = {name: service for name, service in services.items() if name.startswith("kafka")}
    nodes.pop("kafka-access")  # the one-shot admin client, not a broker
    expected = {"kafka"} if compose == "docker-compose.yml" else {"kafka", "kafka-2", "kafka-3"}
    assert set(nodes) == expected
    for name, service in nodes.items():
        assert str(service["environment"]["KAFKA_LOG_RETENTION_MS"]) == "-1", name
