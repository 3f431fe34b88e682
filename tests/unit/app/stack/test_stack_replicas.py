"""``baocao stack up --clickhouse-replicas N``: what each replica and ZooKeeper are told.

The servers themselves (replication, failover, ZooKeeper's refusal of anonymous clients)
run in tests/integration/test_replicas.py.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from baocao.app.stack.clickhouse import (
    ClickHouseServer,
    clickhouse_client_environment,
    clickhouse_replicas,
)
from baocao.app.stack.exceptions import StackError
from baocao.app.stack.haproxy import ClickHouseProxy
from baocao.app.stack.lifecycle import servers, stack_up
from baocao.app.stack.zookeeper import ZooKeeperServer
from baocao.core.clickhouse import replicas
from baocao.core.settings import ClickHouseSettings, StackSettings


def _settings(home: Path, replicas: int = 2) -> StackSettings:
    return StackSettings(
        home=home,
        cache_dir=home / "cache",
        clickhouse_replicas=replicas,
        clickhouse_tcp_port=32000,
        clickhouse_http_port=32001,
        clickhouse_interserver_port=32002,
        zookeeper_port=32003,
        clickhouse_proxy_port=32100,
    )


def test_one_replica_is_todays_single_server_without_zookeeper(tmp_path: Path) -> None:
    settings = _settings(tmp_path, replicas=1)
    names = [server.name for server in servers(settings)]
    assert names == ["kafka", "clickhouse"]
    [clickhouse] = [s for s in servers(settings) if isinstance(s, ClickHouseServer)]
    clickhouse.prepare()
    assert clickhouse.ports == (32000, 32001)
    assert not (tmp_path / "clickhouse" / "config.d" / "replication.xml").exists()
    assert clickhouse_client_environment(settings) == {}


def test_each_replica_has_its_ports_folder_macros_and_zookeeper(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    components = servers(settings)
    assert [c.name for c in components] == [
        "kafka",
        "zookeeper",
        "clickhouse",
        "clickhouse-2",
        "clickhouse-proxy",
    ]
    zookeeper = components[1]
    assert isinstance(zookeeper, ZooKeeperServer)
    identity = zookeeper.identity()
    assert identity.startswith("clickhouse:") and len(identity) > 30
    for number, server in enumerate(components[2:4], start=1):
        assert isinstance(server, ClickHouseServer)
        server.prepare()
        step = 10 * (number - 1)
        assert server.ports == (32000 + step, 32001 + step, 32002 + step)
        replication = server.config_dir / "replication.xml"
        assert replication.stat().st_mode & 0o777 == 0o600
        root = ET.parse(replication).getroot()
        assert root.findtext("zookeeper/node/port") == "32003"
        assert root.findtext("zookeeper/identity") == identity
        assert root.findtext("macros/shard") == "01"
        assert root.findtext("macros/replica") == server.name
        assert root.findtext("interserver_http_port") == str(32002 + step)
        config = ET.parse(server.config_file).getroot()
        assert config.findtext("tcp_port") == str(32000 + step)
        assert config.findtext("path") == f"{tmp_path / server.name / 'data'}/"
    assert clickhouse_client_environment(settings) == {
        "BAOCAO_CLICKHOUSE_ALT_HOSTS": "127.0.0.1:32010"
    }
    proxy = components[4]
    assert isinstance(proxy, ClickHouseProxy)
    proxy.prepare()
    haproxy = proxy.config_file.read_text()
    assert proxy.config_file.stat().st_mode & 0o777 == 0o600
    assert "bind 127.0.0.1:32100" in haproxy and "bind 127.0.0.1:32101" in haproxy
    for line in (
        "server clickhouse 127.0.0.1:32000 check",
        "server clickhouse-2 127.0.0.1:32010 check",
        "server clickhouse 127.0.0.1:32001 check",
        "server clickhouse-2 127.0.0.1:32011 check",
    ):
        assert line in haproxy


def test_zookeeper_requires_digest_authentication_and_keeps_its_files_private(
    tmp_path: Path,
) -> None:
    zookeeper = ZooKeeperServer(_settings(tmp_path))
    zookeeper.prepare()
    assert zookeeper.data_dir.stat().st_mode & 0o777 == 0o700
    assert zookeeper.config_file.stat().st_mode & 0o777 == 0o600
    zookeeper.identity()
    assert zookeeper.secrets_file.stat().st_mode & 0o777 == 0o600
    config = dict(
        line.split("=", 1)
        for line in zookeeper.config_file.read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert config["enforce.auth.enabled"] == "true"
    assert config["enforce.auth.schemes"] == "digest"
    assert config["clientPortAddress"] == "127.0.0.1"
    assert config["clientPort"] == "32003"
    assert "-Dzookeeper.enforce.auth.enabled=true" in zookeeper.process.argv


def test_the_replica_count_is_fixed_when_the_home_is_first_started(tmp_path: Path) -> None:
    (tmp_path / "clickhouse-2").mkdir()
    assert clickhouse_replicas(_settings(tmp_path, replicas=1)) == 2  # status/down see both
    single = tmp_path / "single"
    (single / "clickhouse" / "data").mkdir(parents=True)
    with pytest.raises(StackError, match="not replicated"):
        stack_up(_settings(single))


def test_clients_reach_every_replica_one_at_a_time() -> None:
    settings = ClickHouseSettings(host="a", port=1, alt_hosts="b:2, c:3")
    assert [(s.host, s.port, s.alt_hosts) for s in replicas(settings)] == [
        ("a", 1, ""),
        ("b", 2, ""),
        ("c", 3, ""),
    ]
    with pytest.raises(ValueError, match="host:port"):
        replicas(ClickHouseSettings(alt_hosts="b"))
