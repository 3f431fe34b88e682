"""The files the stack writes for its servers, the cluster id, and the pre-flight check."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from support.stack import read_properties

from baocao.app.bi.credentials import sha256_hex
from baocao.app.stack.clickhouse import NOTHING_DATABASE, ClickHouseServer
from baocao.app.stack.exceptions import MissingDependencyError
from baocao.app.stack.kafka import KafkaServer, new_cluster_id
from baocao.app.stack.preflight import check_tools, java_major_version
from baocao.app.stack.templates import render
from baocao.core.credentials import load_passwords
from baocao.core.settings import StackSettings, clickhouse_logins_path


def _settings(home: Path) -> StackSettings:
    return StackSettings(
        home=home,
        cache_dir=home / "cache",
        kafka_port=31092,
        kafka_controller_port=31093,
        clickhouse_tcp_port=31000,
        clickhouse_http_port=31123,
    )


def test_kafka_properties_use_the_stack_ports_on_loopback(tmp_path: Path) -> None:
    server = KafkaServer(_settings(tmp_path))
    server.properties_file.parent.mkdir(parents=True)
    server.properties_file.write_text(
        render(
            "kafka-server.properties",
            port=31092,
            controller_port=31093,
            data_dir=server.data_dir,
            partitions=4,
            retention_check_interval_ms=1000,
            **server._cluster_template_values(),  # one node
            broker_password="b",
            controller_password="c",
            plain_mechanism="",
            inter_broker_mechanism="SCRAM-SHA-256",
            plain_admin="",
        )
    )
    props = read_properties(server.properties_file)

    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:31093"
    assert props["listeners"] == "SASL_PLAINTEXT://127.0.0.1:31092,CONTROLLER://127.0.0.1:31093"
    assert props["advertised.listeners"] == "SASL_PLAINTEXT://127.0.0.1:31092"
    assert props["log.dirs"] == str(tmp_path / "kafka" / "data")
    # Nothing ages out of a topic without a retention of its own (docs/operations.md).
    assert props["log.retention.ms"] == "-1"
    assert props["log.retention.check.interval.ms"] == "1000"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert server.ports == (31092, 31093)


def test_kafka_command_line_logs_through_log4j2_into_the_stack_logs(tmp_path: Path) -> None:
    server = KafkaServer(_settings(tmp_path))
    argv = server.process.argv
    assert argv[0] == "java"
    assert "-Xmx1g" in argv
    assert f"-Dlog4j2.configurationFile={tmp_path / 'kafka' / 'log4j2.xml'}" in argv
    assert argv[argv.index("-cp") + 1] == f"{tmp_path / 'cache' / 'kafka-4.1.1' / 'libs'}/*"
    assert argv[-2:] == ("kafka.Kafka", str(tmp_path / "kafka" / "server.properties"))

    log4j = ET.fromstring(render("kafka-log4j2.xml", log_file=server.log_file))
    rolling = log4j.find("./Appenders/RollingFile")
    assert rolling is not None
    assert rolling.get("fileName") == str(tmp_path / "logs" / "kafka.log")


def test_clickhouse_config_is_its_own_loopback_server(tmp_path: Path) -> None:
    server = ClickHouseServer(_settings(tmp_path))
    server.prepare()

    config = ET.parse(server.config_file).getroot()
    assert config.tag == "yandex"  # ClickHouse 18.16 needs it; current releases accept it
    assert [host.text for host in config.findall("listen_host")] == ["127.0.0.1"]
    assert config.findtext("tcp_port") == "31000"
    assert config.findtext("http_port") == "31123"
    assert config.findtext("path") == f"{tmp_path}/clickhouse/data/"
    assert config.findtext("tmp_path") == f"{tmp_path}/clickhouse/tmp/"
    assert config.findtext("users_config") == str(tmp_path / "clickhouse" / "users.xml")
    assert config.findtext("logger/log") == str(tmp_path / "logs" / "clickhouse.log")
    assert config.findtext("logger/errorlog") == str(tmp_path / "logs" / "clickhouse.err.log")
    for folder in ("data", "tmp", "user_files", "format_schemas"):
        assert (tmp_path / "clickhouse" / folder).is_dir()

    users = ET.parse(server.users_file).getroot()
    logins = ["default", "baocao_admin", "baocao_sink", "baocao_reader", "baocao_notifier"]
    assert [user.tag for user in users.find("users") or []] == logins
    passwords = load_passwords(clickhouse_logins_path(tmp_path))
    assert sorted(passwords) == sorted(logins)
    text = server.users_file.read_text()
    for login in logins:
        networks = [ip.text for ip in users.findall(f"users/{login}/networks/ip")]
        assert networks == ["127.0.0.1", "::1"], login
        digest = users.findtext(f"users/{login}/password_sha256_hex")
        assert digest == sha256_hex(passwords[login]) and passwords[login] not in text, login
        assert users.find(f"users/{login}/password") is None, login
    # default is locked: read-only and allowed a database that never exists.
    assert users.findtext("profiles/baocao_locked/readonly") == "1"
    assert users.findtext("users/default/profile") == "baocao_locked"
    assert users.findtext("users/default/allow_databases/database") == NOTHING_DATABASE
    assert users.findtext("users/baocao_sink/allow_databases/database") == "baocao"
    assert users.findtext("profiles/baocao_writer/allow_ddl") == "0"
    assert users.findtext("profiles/baocao_reader/readonly") == "1"
    assert users.findtext("profiles/baocao_notifier/readonly") == "1"
    assert users.findtext("users/baocao_notifier/profile") == "baocao_notifier"
    notifier_databases = users.findall("users/baocao_notifier/allow_databases/database")
    assert [d.text for d in notifier_databases] == ["baocao"]
    for secret in (server.users_file, clickhouse_logins_path(tmp_path)):
        assert secret.stat().st_mode & 0o777 == 0o600, secret
    assert clickhouse_logins_path(tmp_path).parent.stat().st_mode & 0o777 == 0o700
    # Written again: the same passwords, nothing rewritten.
    assert not server.write_logins()
    assert load_passwords(clickhouse_logins_path(tmp_path)) == passwords
    assert server.process.argv[1] == f"--config-file={server.config_file}"


def test_paths_are_escaped_in_xml(tmp_path: Path) -> None:
    home = tmp_path / "a&b<c"
    server = ClickHouseServer(_settings(home))
    server.prepare()
    assert ET.parse(server.config_file).getroot().findtext("path") == f"{home}/clickhouse/data/"


def test_a_template_value_left_out_is_an_error() -> None:
    with pytest.raises(KeyError):
        render("kafka-server.properties", port=1)


def test_cluster_ids_look_like_kafkas() -> None:
    ids = {new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    for cluster_id in ids:
        assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}", cluster_id), cluster_id


def test_java_version_is_read_from_the_runtime(tmp_path: Path) -> None:
    fake = tmp_path / "java"
    fake.write_text("#!/bin/sh\necho 'openjdk version \"17.0.15\" 2025-04-15' >&2\n")
    fake.chmod(0o755)
    old = tmp_path / "java8"
    old.write_text("#!/bin/sh\necho 'java version \"1.8.0_402\"' >&2\n")
    old.chmod(0o755)
    assert java_major_version(str(fake)) == 17
    assert java_major_version(str(old)) == 8
    assert java_major_version(str(tmp_path / "missing")) is None


def test_preflight_names_the_missing_program_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(MissingDependencyError) as caught:
        check_tools(clickhouse_server=tmp_path / "clickhouse-server", need_maven=False)
    message = str(caught.value)
    assert f"{tmp_path / 'clickhouse-server'} (package clickhouse-server) is not installed" in (
        message
    )
    assert "scripts/install-system-deps.sh" in message
