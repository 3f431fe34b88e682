"""docker-compose.replicas.yml, read as Compose merges it onto docker-compose.yml: two current
ClickHouse servers replicating through ClickHouse Keeper, placed like ``baocao stack up
--clickhouse-replicas 2``, and every application process pointed at both.

Static, like tests/unit/test_docker_compose.py (CI has no Docker engine).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from support.compose import (
    CLICKHOUSE_NATIVE_PORT,
    ROOT,
    bind_mounts,
    check_depends_on,
    check_pinned_images,
    environment,
    load_raw,
    merged,
)

from baocao.app.stack.clickhouse import replica_port
from baocao.core.settings import StackSettings

REPLICAS = ("clickhouse", "clickhouse-2")
OVERRIDE = ROOT / "docker-compose.replicas.yml"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return merged(load_raw(), load_raw(OVERRIDE))


@pytest.fixture(scope="module")
def services(document: dict[str, Any]) -> dict[str, Any]:
    return dict(document["services"])


def _mounted(service: dict[str, Any], target: str) -> ET.Element:
    mounts = bind_mounts(service)
    assert target in mounts, (target, mounts)
    return ET.parse(ROOT / mounts[target]).getroot()


def test_the_merged_document_keeps_the_general_rules(document: dict[str, Any]) -> None:
    assert check_depends_on(document) == []
    assert check_pinned_images(document) == []


def test_both_replicas_run_one_image_with_their_own_data_and_name(
    services: dict[str, Any],
) -> None:
    images = {services[name]["image"] for name in REPLICAS}
    assert len(images) == 1 and next(iter(images)).startswith("clickhouse/clickhouse-server:")
    data = [
        next(v for v in services[name]["volumes"] if v.endswith(":/var/lib/clickhouse"))
        for name in REPLICAS
    ]
    assert len(set(data)) == 2
    for name in REPLICAS:
        env = environment(services[name])
        assert env["REPLICA_NAME"] == name  # its macro and the host the other fetches from
        assert env["KEEPER_IDENTITY"].startswith("clickhouse:${KEEPER_PASSWORD:?")
        assert services[name]["depends_on"]["keeper"]["condition"] == "service_healthy"
        assert services[name].get("healthcheck"), name


def test_each_replica_meets_the_keeper_with_a_login_and_its_macros(
    services: dict[str, Any],
) -> None:
    keeper = _mounted(services["keeper"], "/etc/clickhouse-keeper/keeper_config.xml")
    keeper_port = keeper.findtext("keeper_server/tcp_port")
    for name in REPLICAS:
        replica = _mounted(services[name], "/etc/clickhouse-server/config.d/replica.xml")
        assert replica.findtext("zookeeper/node/host") == "keeper"
        assert replica.findtext("zookeeper/node/port") == keeper_port
        identity = replica.find("zookeeper/identity")
        assert identity is not None and identity.get("from_env") == "KEEPER_IDENTITY"
        assert replica.findtext("macros/shard") == "01"
        macro = replica.find("macros/replica")
        assert macro is not None and macro.get("from_env") == "REPLICA_NAME"
    assert not services["keeper"].get("ports"), "the Keeper is reached on the network only"


def test_replica_2_is_where_the_local_stack_puts_it(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("BAOCAO_STACK_CLICKHOUSE_TCP_PORT", "BAOCAO_STACK_CLICKHOUSE_HTTP_PORT"):
        monkeypatch.delenv(variable, raising=False)
    defaults = StackSettings()
    native = replica_port(defaults.clickhouse_tcp_port, 2)
    http = replica_port(defaults.clickhouse_http_port, 2)
    assert services["clickhouse-2"]["ports"] == [
        f"127.0.0.1:{native}:{CLICKHOUSE_NATIVE_PORT}",
        f"127.0.0.1:{http}:8123",
    ]


def test_every_application_process_fails_over_to_the_second_replica(
    services: dict[str, Any],
) -> None:
    base = load_raw()
    apps = [n for n, s in base["services"].items() if str(s.get("image", "")) == "baocao:local"]
    assert {"migrate", "sink", "bi-access"} <= set(apps)
    for name in apps:
        env = environment(services[name])
        assert env["BAOCAO_CLICKHOUSE_HOST"] == "clickhouse", name
        assert env["BAOCAO_CLICKHOUSE_ALT_HOSTS"] == f"clickhouse-2:{CLICKHOUSE_NATIVE_PORT}", name
