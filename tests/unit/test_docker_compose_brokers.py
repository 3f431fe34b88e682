"""docker-compose.brokers-3.yml, read as Compose merges it onto docker-compose.yml: three
KRaft nodes that form one quorum, replicated like ``baocao stack up --brokers 3``, and every
application process pointed at all three.

Static, like tests/unit/test_docker_compose.py (CI has no Docker engine).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.compose import ROOT, environment, load_raw, merged

from baocao.app.stack.kafka import KafkaServer, node_port
from baocao.core.settings import StackSettings

NODES = ("kafka", "kafka-2", "kafka-3")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return merged(load_raw(), load_raw(ROOT / "docker-compose.brokers-3.yml"))


@pytest.fixture(scope="module")
def services(document: dict[str, Any]) -> dict[str, Any]:
    return dict(document["services"])


def test_three_nodes_form_one_quorum(services: dict[str, Any]) -> None:
    envs = [environment(services[name]) for name in NODES]
    ids = [env["KAFKA_NODE_ID"] for env in envs]
    assert ids == ["1", "2", "3"]
    voters = {f"{node_id}@{name}:9093" for node_id, name in zip(ids, NODES, strict=True)}
    for env in envs:
        assert set(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == voters
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert len({env["CLUSTER_ID"] for env in envs}) == 1


def test_replication_is_what_the_local_stack_gives_three_nodes(
    services: dict[str, Any], tmp_path: Path
) -> None:
    local = KafkaServer(StackSettings(home=tmp_path), node=1, nodes=3)._cluster_template_values()
    assert (local["replicas"], local["min_insync"]) == (3, 2)
    for name in NODES:
        env = environment(services[name])
        for key in (
            "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
            "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
            "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR",
            "KAFKA_DEFAULT_REPLICATION_FACTOR",
        ):
            assert env[key] == str(local["replicas"]), (name, key)
        for key in (
            "KAFKA_MIN_INSYNC_REPLICAS",
            "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
            "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR",
        ):
            assert env[key] == str(local["min_insync"]), (name, key)


def test_each_node_is_reachable_inside_and_from_the_host_where_the_stack_puts_it(
    document: dict[str, Any], services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The compose file is written for the defaults, whatever this shell's BAOCAO_STACK_* say.
    monkeypatch.delenv("BAOCAO_STACK_KAFKA_PORT", raising=False)
    defaults = StackSettings()
    for number, name in enumerate(NODES, start=1):
        service = services[name]
        env = environment(service)
        host_port = node_port(defaults.kafka_port, number)
        assert f"127.0.0.1:{host_port}:{host_port}" in service["ports"]
        assert env["KAFKA_ADVERTISED_LISTENERS"] == (
            f"INTERNAL://{name}:9092,HOST://127.0.0.1:{host_port}"
        )
        assert f"HOST://:{host_port}" in env["KAFKA_LISTENERS"].split(",")
        assert service.get("healthcheck"), name
    data = [service["volumes"][0].split(":")[0] for service in (services[n] for n in NODES)]
    assert len(set(data)) == 3 and set(data) <= set(document["volumes"])


def test_every_kafka_client_knows_all_nodes_and_creates_replicated_topics(
    services: dict[str, Any],
) -> None:
    base = load_raw()
    apps = [n for n, s in base["services"].items() if str(s.get("image", "")) == "baocao:local"]
    assert {"migrate", "worker", "sink"} <= set(apps)
    for name in apps:
        env = environment(services[name])
        assert env["BAOCAO_KAFKA_BOOTSTRAP_SERVERS"].split(",") == [f"{n}:9092" for n in NODES]
        assert env["BAOCAO_KAFKA_REPLICATION_FACTOR"] == "3", name
