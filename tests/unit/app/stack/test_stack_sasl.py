"""The stack's optional SASL_PLAINTEXT listener: off by default, complete when on."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from baocao.app.stack.kafka import KafkaServer
from baocao.core.settings import StackSettings


def _properties(tmp_path: Path, **options: object) -> str:
    server = KafkaServer(
        StackSettings(home=tmp_path, kafka_port=1001, kafka_controller_port=1002, **options)  # type: ignore[arg-type]
    )
    (server.data_dir / "meta.properties").parent.mkdir(parents=True)
    (server.data_dir / "meta.properties").write_text("formatted")  # no JVM in a unit test
    server.prepare()
    return server.properties_file.read_text()


def test_off_by_default(tmp_path: Path) -> None:
    text = _properties(tmp_path)
    assert "SASL" not in text and "sasl" not in text
    assert "listeners=PLAINTEXT://127.0.0.1:1001,CONTROLLER://127.0.0.1:1002\n" in text
    assert KafkaServer(StackSettings(home=tmp_path)).ports == (19092, 19093)


def test_the_sasl_listener(tmp_path: Path) -> None:
    text = _properties(tmp_path, kafka_sasl_port=1003)
    assert (
        "listeners=PLAINTEXT://127.0.0.1:1001,CONTROLLER://127.0.0.1:1002,"
        "SASL_PLAINTEXT://127.0.0.1:1003\n" in text
    )
    assert (
        "advertised.listeners=PLAINTEXT://127.0.0.1:1001,SASL_PLAINTEXT://127.0.0.1:1003\n" in text
    )
    assert ",SASL_PLAINTEXT:SASL_PLAINTEXT\n" in text
    assert "sasl.enabled.mechanisms=SCRAM-SHA-256\n" in text
    assert "inter.broker.listener.name=PLAINTEXT\n" in text
    assert (
        "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required;\n" in text
    )


def test_the_user_is_created_at_format_time(tmp_path: Path) -> None:
    server = KafkaServer(
        StackSettings(home=tmp_path, kafka_sasl_port=1003, kafka_sasl_password=SecretStr("pw"))
    )
    assert server._scram_users() == ["--add-scram", "SCRAM-SHA-256=[name=baocao,password=pw]"]
    assert server.ports[-1] == 1003
    assert KafkaServer(StackSettings(home=tmp_path))._scram_users() == []
