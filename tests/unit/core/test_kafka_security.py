"""Security settings reach every kind of Kafka client: kafka-python options and Faust's."""

from __future__ import annotations

import ssl
from pathlib import Path

import faust
import pytest
from pydantic import SecretStr

from baocao.core.kafka import client_options, ssl_context
from baocao.core.settings import KafkaSettings, Settings
from baocao.streams.security import broker_credentials


def test_plaintext_adds_no_security_options() -> None:
    settings = KafkaSettings(bootstrap_servers="a:1,b:2", client_id="x")
    assert client_options(settings) == {"bootstrap_servers": ["a:1", "b:2"], "client_id": "x"}
    assert broker_credentials(settings) is None


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_scram_options(mechanism: str) -> None:
    settings = KafkaSettings(
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism=mechanism,  # type: ignore[arg-type]
        sasl_username="baocao",
        sasl_password=SecretStr("s3cret"),
    )
    options = client_options(settings)
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert options["sasl_mechanism"] == mechanism
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("baocao", "s3cret")
    assert "ssl_cafile" not in options
    credentials = broker_credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.mechanism.value == mechanism
    assert (credentials.username, credentials.password) == ("baocao", "s3cret")
    assert credentials.protocol.value == "SASL_PLAINTEXT"


def test_sasl_over_tls_passes_the_client_certificate(tmp_path: Path) -> None:
    settings = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_username="u",
        sasl_password=SecretStr("p"),
        ssl_certfile=tmp_path / "client.pem",
        ssl_keyfile=tmp_path / "client.key",
    )
    options = client_options(settings)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["ssl_certfile"] == str(tmp_path / "client.pem")
    assert options["ssl_keyfile"] == str(tmp_path / "client.key")
    assert "ssl_cafile" not in options  # the system's CAs


def test_tls_only_gives_faust_an_ssl_context() -> None:
    settings = KafkaSettings(security_protocol="SSL")
    context = ssl_context(settings)
    assert isinstance(context, ssl.SSLContext) and context.check_hostname
    credentials = broker_credentials(settings)
    assert isinstance(credentials, faust.SSLCredentials)
    assert credentials.protocol.value == "SSL"
    assert client_options(settings)["security_protocol"] == "SSL"


def test_security_settings_travel_to_child_processes() -> None:
    settings = Settings(
        kafka=KafkaSettings(
            security_protocol="SASL_PLAINTEXT",
            sasl_username="baocao",
            sasl_password=SecretStr("s3cret"),
        )
    )
    environment = settings.as_environment()
    assert environment["BAOCAO_KAFKA_SASL_PASSWORD"] == "s3cret"
    assert environment["BAOCAO_KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
    assert "BAOCAO_KAFKA_SSL_CAFILE" not in environment  # unset stays unset
