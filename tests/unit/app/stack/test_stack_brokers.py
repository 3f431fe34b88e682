"""``baocao stack up --brokers N``: the files and ports of each Kafka node.

The cluster itself (three nodes, one lost, writes with acks=all going on) runs in the chaos
suite (``make chaos``); here, what each node is told.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.stack import read_properties

from baocao.app.stack.kafka import KafkaServer, kafka_client_environment, kafka_nodes
from baocao.app.stack.lifecycle import servers
from baocao.core.settings import StackSettings


def _settings(home: Path, brokers: int = 3) -> StackSettings:
    return StackSettings(
        home=home,
        cache_dir=home / "cache",
        kafka_brokers=brokers,
        kafka_port=31092,
        kafka_controller_port=31093,
    )


def _properties(server: KafkaServer) -> dict[str, str]:
    server.properties_file.parent.mkdir(parents=True, exist_ok=True)
    server.data_dir.mkdir(parents=True, exist_ok=True)
    (server.data_dir / "meta.properties").write_text("cluster.id=x\n")  # no formatting
    server.prepare()
    return read_properties(server.properties_file)


def test_each_node_has_its_id_ports_and_folder_and_all_share_the_voters(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    nodes = [s for s in servers(settings) if isinstance(s, KafkaServer)]
    assert [n.name for n in nodes] == ["kafka", "kafka-2", "kafka-3"]
    voters = "1@127.0.0.1:31093,2@127.0.0.1:31103,3@127.0.0.1:31113"
    for number, node in enumerate(nodes, start=1):
        props = _properties(node)
        port = 31092 + 10 * (number - 1)
        assert props["node.id"] == str(number)
        assert props["controller.quorum.voters"] == voters
        assert props["listeners"] == (
            f"SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{port + 1}"
        )
        assert props["advertised.listeners"] == f"SASL_PLAINTEXT://127.0.0.1:{port}"
        assert props["log.dirs"] == str(tmp_path / node.name / "data")
        assert node.ports == (port, port + 1)
        assert node.log_file == tmp_path / "logs" / f"{node.name}.log"


def test_three_nodes_replicate_three_times_and_need_two_in_sync(tmp_path: Path) -> None:
    props = _properties(KafkaServer(_settings(tmp_path), node=2, nodes=3))
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "share.coordinator.state.topic.replication.factor",
        "default.replication.factor",
    ):
        assert props[key] == "3", key
    for key in (
        "min.insync.replicas",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.min.isr",
    ):
        assert props[key] == "2", key


def test_one_node_keeps_its_ports_and_one_replica(tmp_path: Path) -> None:
    settings = _settings(tmp_path, brokers=1)
    [node] = [s for s in servers(settings) if isinstance(s, KafkaServer)]
    props = _properties(node)
    assert node.name == "kafka" and node.ports == (31092, 31093)
    assert props["controller.quorum.voters"] == "1@127.0.0.1:31093"
    assert props["default.replication.factor"] == "1"
    assert props["min.insync.replicas"] == "1"
    assert kafka_client_environment(settings) == {}


def test_a_home_formatted_for_three_nodes_is_found_whatever_the_setting(tmp_path: Path) -> None:
    for name in ("kafka", "kafka-2", "kafka-3"):
        (tmp_path / name / "data").mkdir(parents=True)
    settings = _settings(tmp_path, brokers=1)
    assert kafka_nodes(settings) == 3  # so `stack status` and `stack down` see every node
    assert kafka_client_environment(settings) == {
        "BAOCAO_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:31092,127.0.0.1:31102,127.0.0.1:31112",
        "BAOCAO_KAFKA_REPLICATION_FACTOR": "3",
    }


def test_every_node_has_the_same_principals(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    first, third = (KafkaServer(settings, node=n, nodes=3) for n in (1, 3))
    one, three = _properties(first), _properties(third)
    for key in (
        "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config",
        "listener.name.controller.plain.sasl.jaas.config",
        "super.users",
    ):
        assert one[key] == three[key], key
    assert first.admin_settings().replication_factor == 3


def test_a_later_node_takes_the_cluster_id_of_the_first(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    first = tmp_path / "kafka" / "data"
    first.mkdir(parents=True)
    (first / "meta.properties").write_text("version=1\ncluster.id=AbC-123\nnode.id=1\n")
    assert KafkaServer(settings, node=2, nodes=3)._cluster_id() == "AbC-123"


def test_node_numbers_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        KafkaServer(_settings(tmp_path), node=4, nodes=3)
