"""The stack's Kafka authenticates every listener: SCRAM for clients, PLAIN for the node on
its controller listener, KRaft's StandardAuthorizer with nothing allowed without an ACL; no
password on a command line; credentials only the user may read."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest
from support.stack import read_properties

from baocao.app.stack import kafka as stack_kafka
from baocao.app.stack.kafka import KafkaServer
from baocao.core.principals import (
    Principal,
    credentials_dir,
    ensure_credentials,
    load_credential,
)
from baocao.core.settings import StackSettings


def _prepared(tmp_path: Path) -> KafkaServer:
    server = KafkaServer(
        StackSettings(home=tmp_path / "home", kafka_port=1001, kafka_controller_port=1002)
    )
    # as after a first start: credentials generated, storage formatted with its users
    # (no JVM in a unit test)
    ensure_credentials(server.settings, Principal)
    (server.data_dir).mkdir(parents=True)
    (server.data_dir / "meta.properties").write_text("formatted")
    server.prepare()
    return server


def test_every_listener_authenticates_and_nothing_is_allowed_without_an_acl(
    tmp_path: Path,
) -> None:
    props = read_properties(_prepared(tmp_path).properties_file)

    assert props["listeners"] == "SASL_PLAINTEXT://127.0.0.1:1001,CONTROLLER://127.0.0.1:1002"
    assert props["advertised.listeners"] == "SASL_PLAINTEXT://127.0.0.1:1001"
    protocols = dict(p.split(":") for p in props["listener.security.protocol.map"].split(","))
    assert protocols == {"CONTROLLER": "SASL_PLAINTEXT", "SASL_PLAINTEXT": "SASL_PLAINTEXT"}
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-256,SCRAM-SHA-512"
    assert props["sasl.mechanism.controller.protocol"] == "PLAIN"
    assert (
        props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    )
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:controller;User:broker;User:admin"
    assert props["auto.create.topics.enable"] == "false"


def test_credentials_are_generated_once_and_private(tmp_path: Path) -> None:
    server = _prepared(tmp_path)
    stack = server.settings
    folder = credentials_dir(stack)
    first = {p: load_credential(stack, p) for p in Principal}

    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert set(json.loads(path.read_text())) == {"username", "password", "mechanism"}
    assert stat.S_IMODE(server.properties_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(stack.home.stat().st_mode) == 0o700
    broker = first[Principal.BROKER]
    assert broker is not None
    assert f'password="{broker.password.get_secret_value()}"' in (
        server.properties_file.read_text()
    )
    server.prepare()  # again: nothing changes
    assert {p: load_credential(stack, p) for p in Principal} == first
    assert len({c.password.get_secret_value() for c in first.values() if c}) == len(Principal)


def test_formatting_keeps_the_passwords_off_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = _prepared(tmp_path)
    seen: dict[str, object] = {}

    def fake_run(argv: list[str], **options: object) -> subprocess.CompletedProcess[str]:
        argfile = Path(argv[-1].removeprefix("@"))
        seen["argv"], seen["args"] = argv, argfile.read_text()
        seen["mode"] = stat.S_IMODE(argfile.stat().st_mode)
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(stack_kafka.subprocess, "run", fake_run)
    admin = load_credential(server.settings, Principal.ADMIN)
    assert admin is not None
    server._format_storage([admin])

    password = admin.password.get_secret_value()
    assert not any(password in arg for arg in seen["argv"])  # type: ignore[attr-defined]
    assert str(seen["argv"]).count("@") == 1
    assert f'"SCRAM-SHA-256=[name=admin,password={password}]"' in str(seen["args"])
    assert seen["mode"] == 0o600
    assert not (server.folder / "format.args").exists()  # removed afterwards


def test_a_storage_formatted_before_sasl_gets_a_plain_admin_login(tmp_path: Path) -> None:
    server = KafkaServer(
        StackSettings(home=tmp_path / "home", kafka_port=1001, kafka_controller_port=1002)
    )
    server.data_dir.mkdir(parents=True)
    (server.data_dir / "meta.properties").write_text("formatted")  # before SASL: no users
    server.prepare()

    props = read_properties(server.properties_file)
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-256,SCRAM-SHA-512,PLAIN"
    assert props["sasl.mechanism.inter.broker.protocol"] == "PLAIN"
    admin = load_credential(server.settings, Principal.ADMIN)
    assert admin is not None
    jaas = props["listener.name.sasl_plaintext.plain.sasl.jaas.config"]
    assert f'user_admin="{admin.password.get_secret_value()}"' in jaas
    assert server.admin_settings().sasl_mechanism == "PLAIN"
    # a home formatted with its users (the normal case) has no PLAIN login
    fresh = _prepared(tmp_path / "fresh")
    assert "PLAIN" not in read_properties(fresh.properties_file)["sasl.enabled.mechanisms"]
    assert fresh.admin_settings().sasl_mechanism == "SCRAM-SHA-256"
