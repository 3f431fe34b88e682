"""The pipeline over SASL/SCRAM, on a Kafka broker of its own.

The test starts a second broker (own home, free ports, with the stack's optional
SASL_PLAINTEXT listener, SCRAM-SHA-256, its user created when the storage is formatted),
publishes with :class:`ReportPublisher`, runs ``baocao worker`` as an operator would with the
``BAOCAO_KAFKA_SASL_*`` variables, and reads the province figures back over SASL. The shared
development broker is not involved.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from pydantic import SecretStr
from support.net import free_ports
from support.settings import environment
from support.wait import eventually

from baocao.app.stack.kafka import KafkaServer
from baocao.core.avro import codec_for
from baocao.core.kafka import (
    KafkaAuthenticationError,
    KafkaUnavailableError,
    client_options,
    wait_for_kafka,
)
from baocao.core.models import CommuneReport
from baocao.core.periods import period_containing
from baocao.core.reference import load_reference
from baocao.core.settings import KafkaSettings, Settings, StackSettings
from baocao.core.topics import Topics
from baocao.producers.exceptions import KafkaUnreachableError
from baocao.producers.publisher import ReportPublisher

PASSWORD = "scram-Pässword-1"
REFERENCE = load_reference()
PROVINCE = "01"
A, B = REFERENCE.communes_by_province[PROVINCE][:2]
PERIOD = period_containing("monthly", datetime.now(UTC)).previous().text


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaServer]:
    """A broker with a SASL_PLAINTEXT listener; stopped whatever happens."""
    java = shutil.which("java")
    assert java is not None, "java is needed for the test broker (make test installs it)"
    plain, controller, sasl = free_ports(3)
    server = KafkaServer(
        StackSettings(
            home=tmp_path_factory.mktemp("sasl-stack"),
            kafka_port=plain,
            kafka_controller_port=controller,
            kafka_sasl_port=sasl,
            kafka_sasl_password=SecretStr(PASSWORD),
            kafka_heap="512m",
        ),
        java=java,
    )
    server.prepare()
    server.process.start()
    try:
        health = server.probe(timeout=90)
        assert health.ok, f"the SASL test broker did not start: {health.detail}"
        yield server
    finally:
        server.process.stop()


def _sasl_kafka(server: KafkaServer, base: KafkaSettings, *, password: str) -> KafkaSettings:
    return KafkaSettings(
        **{
            **base.model_dump(),
            "bootstrap_servers": f"127.0.0.1:{server.settings.kafka_sasl_port}",
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-256",
            "sasl_username": "baocao",
            "sasl_password": SecretStr(password),
        }
    )


def _report(commune: str, value: float) -> CommuneReport:
    return CommuneReport(
        report_id=str(uuid.uuid4()),
        commune_code=commune,
        province_code=PROVINCE,
        period=PERIOD,
        revision=1,
        submitted_at=datetime.now(UTC).replace(microsecond=0),
        indicators={"tthc_received": value},
    )


def test_the_sasl_listener_is_off_by_default() -> None:
    assert StackSettings().kafka_sasl_port == 0
    assert "SASL" not in KafkaServer(StackSettings())._sasl_template_values()["sasl_listener"]


def test_the_pipeline_runs_over_sasl_scram(
    sasl_broker: KafkaServer, test_settings: Settings, tmp_path: Path
) -> None:
    kafka = _sasl_kafka(sasl_broker, test_settings.kafka, password=PASSWORD)
    settings = test_settings.model_copy(update={"kafka": kafka})
    with ReportPublisher(kafka) as publisher:
        publisher.send(_report(A, 10.0))
        publisher.send(_report(B, 5.0))
    assert publisher.stats.delivered == 2

    log = tmp_path / "worker.log"
    with log.open("ab") as out:
        worker = subprocess.Popen(
            [str(Path(sys.executable).with_name("baocao")), "worker"],
            env=environment(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    topic = Topics(kafka.topic_prefix).province_indicators
    consumer = KafkaConsumer(**client_options(kafka), enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in range(kafka.partitions)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        codec = codec_for("province_indicator.v2")
        figure: dict[str, object] = {}
        key = f"{PROVINCE}|{PERIOD}|tthc_received"

        def fifteen() -> bool:
            for batch in consumer.poll(timeout_ms=500).values():
                for message in batch:
                    if message.key == key.encode():
                        figure.update(codec.decode(message.value))
            return figure.get("value") == 15.0

        def alive() -> None:
            assert worker.poll() is None, f"the worker exited:\n{log.read_text()[-4000:]}"

        eventually(
            fifteen,
            what="the figure over SASL",
            timeout=90,
            interval=0,
            alive=alive,
            log=lambda: log.read_text()[-4000:],
        )
        assert figure["communes_reported"] == 2
    finally:
        consumer.close()
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=45)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def test_a_wrong_password_is_a_clear_error(
    sasl_broker: KafkaServer, test_settings: Settings
) -> None:
    kafka = _sasl_kafka(sasl_broker, test_settings.kafka, password="not-the-password")
    # The refusal is recognised when kafka-python logs it; a broker that just drops the
    # connection leaves only a timeout, whose message then points at the credentials too.
    with pytest.raises(
        (KafkaAuthenticationError, KafkaUnavailableError), match="SASL_PASSWORD"
    ) as refused:
        wait_for_kafka(kafka, timeout=20)
    if isinstance(refused.value, KafkaAuthenticationError):
        assert "refused the credentials of 'baocao'" in str(refused.value)
    publisher = ReportPublisher(kafka, connect_timeout=20)
    with pytest.raises(KafkaUnreachableError, match="SASL_PASSWORD"):
        publisher.open()


def test_plaintext_clients_still_reach_the_plain_listener(sasl_broker: KafkaServer) -> None:
    plain = KafkaSettings(bootstrap_servers=sasl_broker.bootstrap_servers)
    assert wait_for_kafka(plain, timeout=20)["brokers"]
