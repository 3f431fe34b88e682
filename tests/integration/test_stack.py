"""``baocao stack up|status|down`` on a stack of its own: own home, own free ports.

The shared development servers (19092, 19000, ...) are never touched: every command here runs
with BAOCAO_STACK_* variables pointing at a temporary home and ports picked free at random.
The Kafka jars come from the usual cache (``make test`` fetched them with its own stack).
The tests run in file order and share the stack the module fixture starts; the fixture stops
it whatever happens.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clickhouse_driver import Client
from kafka import KafkaConsumer, KafkaProducer
from support.net import free_ports
from support.stack import alive

from baocao.app.stack.clickhouse import ClickHouseServer
from baocao.app.stack.exceptions import PortInUseError
from baocao.app.stack.lifecycle import stack_down, stack_up
from baocao.app.stack.process import ManagedProcess
from baocao.core.kafka import admin_client, client_options, ensure_topics, wait_for_kafka
from baocao.core.principals import Principal, resolve_kafka
from baocao.core.settings import KafkaSettings, StackSettings
from baocao.core.topics import Topics

#: The installed entry point, next to the interpreter running the tests.
BAOCAO = [str(Path(sys.executable).parent / "baocao")]


def _stack_settings(home: Path) -> StackSettings:
    kafka, controller, tcp, http = free_ports(4)
    return StackSettings(
        home=home,
        kafka_port=kafka,
        kafka_controller_port=controller,
        clickhouse_tcp_port=tcp,
        clickhouse_http_port=http,
        startup_timeout_seconds=90,
    )


def _env(settings: StackSettings) -> dict[str, str]:
    env = {**os.environ}
    for name, value in settings.model_dump().items():
        env[f"BAOCAO_STACK_{name.upper()}"] = str(value)
    return env


def _baocao(
    settings: StackSettings, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*BAOCAO, *args],
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if check and done.returncode != 0:
        pytest.fail(
            f"baocao {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done


def _status(settings: StackSettings) -> dict[str, dict[str, Any]]:
    rows = json.loads(_baocao(settings, "stack", "status", "--json").stdout)
    return {row["component"]: row for row in rows}


def _list_topics(kafka: KafkaSettings) -> list[str]:
    admin = admin_client(kafka)
    try:
        return list(admin.list_topics())
    finally:
        admin.close()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackSettings]:
    settings = _stack_settings(tmp_path_factory.mktemp("stack") / "home")
    try:
        _baocao(settings, "stack", "up")
        yield settings
    finally:
        _baocao(settings, "stack", "down", check=False)


def _admin(stack: StackSettings) -> Client:
    """The stack's administrator login (``default`` is locked), password from its home."""
    user, password = ClickHouseServer(stack).admin_login()
    assert user and password
    return Client(host="127.0.0.1", port=stack.clickhouse_tcp_port, user=user, password=password)


def test_up_starts_kafka_and_clickhouse_that_answer(stack: StackSettings) -> None:
    bootstrap = f"127.0.0.1:{stack.kafka_port}"
    # Every client logs in: as the stack's admin, whose credential `stack up` generated.
    admin = resolve_kafka(KafkaSettings(bootstrap_servers=bootstrap), stack, Principal.ADMIN)
    assert admin.sasl_username == "admin"
    cluster = wait_for_kafka(admin, timeout=10)
    assert [broker["port"] for broker in cluster["brokers"]] == [stack.kafka_port]
    # `stack up` created the pipeline's topics (with their configurations)
    assert set(Topics("baocao").all()) <= set(_list_topics(admin))

    # A real round trip: the internal topics work with one replica (offsets commit).
    topic = f"stack-test-{uuid.uuid4().hex[:8]}"
    ensure_topics(admin, [topic])
    producer = KafkaProducer(**client_options(admin), acks="all")
    producer.send(topic, b"hello").get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(
        topic,
        **client_options(admin),
        group_id=f"{topic}-group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=20_000,
    )
    values = [next(consumer).value]
    consumer.commit()
    consumer.close()
    assert values == [b"hello"]

    client = _admin(stack)
    assert client.execute("SELECT 1") == [(1,)]
    client.disconnect()
    with urllib.request.urlopen(f"http://127.0.0.1:{stack.clickhouse_http_port}/ping") as answer:
        assert answer.read() == b"Ok.\n"

    home = stack.home
    assert (home / "kafka" / "data" / "meta.properties").is_file()
    assert (home / "clickhouse" / "data" / "metadata").is_dir()
    assert (home / "logs" / "kafka.log").stat().st_size > 0
    assert (home / "logs" / "clickhouse.log").stat().st_size > 0
    # The SLF4J binding is on the class path: no "NOP logger" fallback.
    assert "NOP" not in (home / "logs" / "kafka.out").read_text()


def test_status_reports_both_healthy(stack: StackSettings) -> None:
    rows = _status(stack)
    assert set(rows) == {"kafka", "clickhouse"}
    kafka, clickhouse = rows["kafka"], rows["clickhouse"]
    assert (kafka["state"], kafka["healthy"]) == ("running", True)
    assert kafka["ports"] == [stack.kafka_port, stack.kafka_controller_port]
    assert kafka["data_dir"] == str(stack.home / "kafka" / "data")
    assert kafka["health"].endswith("1 broker(s)")
    assert (clickhouse["state"], clickhouse["healthy"]) == ("running", True)
    assert clickhouse["ports"] == [stack.clickhouse_tcp_port, stack.clickhouse_http_port]
    assert clickhouse["health"].startswith("ClickHouse ")
    assert _baocao(stack, "stack", "status", "--check").returncode == 0


def test_up_again_changes_nothing(stack: StackSettings) -> None:
    before = {name: row["pid"] for name, row in _status(stack).items()}
    _baocao(stack, "stack", "up")
    assert {name: row["pid"] for name, row in _status(stack).items()} == before


def test_up_refuses_ports_taken_by_others_before_starting_anything(
    stack: StackSettings, tmp_path: Path
) -> None:
    other = _stack_settings(tmp_path / "other").model_copy(
        update={"clickhouse_tcp_port": stack.clickhouse_tcp_port}
    )
    try:
        with pytest.raises(PortInUseError, match=str(stack.clickhouse_tcp_port)):
            stack_up(other, timeout=30)
        assert ManagedProcess.registered(other.home) == []  # Kafka was not started either
    finally:
        stack_down(other, timeout=5)


def test_down_stops_the_servers_and_the_managed_processes(stack: StackSettings) -> None:
    client = _admin(stack)
    client.execute("CREATE TABLE default.kept (x UInt8) ENGINE = MergeTree ORDER BY x")
    client.execute("INSERT INTO default.kept VALUES", [(7,)])
    client.disconnect()
    cluster_id = (stack.home / "kafka" / "data" / "meta.properties").read_text()
    worker = ManagedProcess("worker", ["sleep", "600"], home=stack.home)
    worker_pid = worker.start().pid
    rows = _status(stack)
    assert rows["worker"]["state"] == "running"
    pids = [rows["kafka"]["pid"], rows["clickhouse"]["pid"], worker_pid]

    done = _baocao(stack, "stack", "down")

    assert "stopped: worker, kafka, clickhouse" in done.stdout
    assert [pid for pid in pids if alive(pid)] == []
    assert not worker.is_running()
    ports = [
        stack.kafka_port,
        stack.kafka_controller_port,
        stack.clickhouse_tcp_port,
        stack.clickhouse_http_port,
    ]
    assert [port for port in ports if _listening(port)] == []
    assert {row["state"] for row in _status(stack).values()} == {"stopped"}
    assert _baocao(stack, "stack", "status", "--check", check=False).returncode == 1
    assert list((stack.home / "run").glob("*.pid")) == []

    # Up again: same data, same Kafka cluster (the storage is formatted once).
    _baocao(stack, "stack", "up")
    client = _admin(stack)
    assert client.execute("SELECT x FROM default.kept") == [(7,)]
    client.disconnect()
    assert (stack.home / "kafka" / "data" / "meta.properties").read_text() == cluster_id
