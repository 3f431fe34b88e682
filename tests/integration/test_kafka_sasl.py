"""The pipeline over SASL/SCRAM with per-principal ACLs, on the stack's own broker.

The stack's broker has no PLAINTEXT client listener: every client logs in with SCRAM, and
each principal may do what the ACLs of ``baocao/app/stack/kafka_access.py`` allow. Here the
test's prefix gets those ACLs (``kafka_access``), the ``publisher`` principal publishes, a
``baocao worker`` subprocess runs as the ``worker`` principal (the BAOCAO_KAFKA_SASL_*
variables, as an operator would set them) and the ``sink`` principal reads the figures back:
the grants are enough for the pipeline, and a wrong password is a clear error.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from pydantic import SecretStr
from support.cli import invoke
from support.gateway import drop_topics
from support.settings import as_principal
from support.worker import Worker

from baocao.app.stack.kafka_access import PipelineNames, remove_kafka_access
from baocao.core.avro import codec_for
from baocao.core.kafka import (
    KafkaAuthenticationError,
    KafkaUnavailableError,
    client_options,
    producer_timed_topics,
    wait_for_kafka,
)
from baocao.core.models import CommuneReport
from baocao.core.periods import period_containing
from baocao.core.principals import Principal
from baocao.core.reference import load_reference
from baocao.core.settings import Settings
from baocao.core.topics import Topics
from baocao.producers.exceptions import KafkaUnreachableError
from baocao.producers.publisher import ReportPublisher

REFERENCE = load_reference()
PROVINCE = "01"
A, B = REFERENCE.communes_by_province[PROVINCE][:2]
PERIOD = period_containing("monthly", datetime.now(UTC)).previous().text


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


def test_the_pipeline_runs_with_each_principal_s_own_grants(
    test_settings: Settings, kafka_access: list[Any], tmp_path: Path
) -> None:
    publisher_settings = as_principal(test_settings, Principal.PUBLISHER)
    assert publisher_settings.kafka.sasl_username == "publisher"
    with ReportPublisher(publisher_settings.kafka) as publisher:
        publisher.send(_report(A, 10.0))
        publisher.send(_report(B, 5.0))
    assert publisher.stats.delivered == 2

    worker = Worker(as_principal(test_settings, Principal.WORKER), tmp_path / "worker.log")
    worker.start()
    sink = as_principal(test_settings, Principal.SINK).kafka
    topic = Topics(sink.topic_prefix).province_indicators
    consumer = KafkaConsumer(**client_options(sink), enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in range(sink.partitions)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        codec = codec_for("province_indicator.v2")
        figure: dict[str, object] = {}
        deadline = time.monotonic() + 90
        key = f"{PROVINCE}|{PERIOD}|tthc_received"
        while time.monotonic() < deadline and figure.get("value") != 15.0:
            worker.assert_running()
            for batch in consumer.poll(timeout_ms=500).values():
                for message in batch:
                    if message.key == key.encode():
                        figure = codec.decode(message.value)
        assert figure.get("value") == 15.0, f"no figure; worker log:\n{worker.tail()}"
        assert figure["communes_reported"] == 2
        assert "AuthorizationFailed" not in worker.log.read_text()
    finally:
        consumer.close()
        assert worker.stop() == 0


def test_a_wrong_password_is_a_clear_error(test_settings: Settings) -> None:
    kafka = test_settings.kafka.model_copy(
        update={"sasl_username": "publisher", "sasl_password": SecretStr("not-the-password")}
    )
    # The refusal is recognised when kafka-python logs it; a broker that just drops the
    # connection leaves only a timeout, whose message then points at the credentials too.
    with pytest.raises(
        (KafkaAuthenticationError, KafkaUnavailableError), match="SASL_PASSWORD"
    ) as refused:
        wait_for_kafka(kafka, timeout=20)
    if isinstance(refused.value, KafkaAuthenticationError):
        assert "refused the credentials of 'publisher'" in str(refused.value)
    publisher = ReportPublisher(kafka, connect_timeout=20)
    with pytest.raises(KafkaUnreachableError, match="SASL_PASSWORD"):
        publisher.open()


def test_kafka_access_sets_up_a_pipeline_as_the_admin(test_settings: Settings) -> None:
    names = PipelineNames.of(test_settings)
    try:
        done = invoke("kafka-access", settings=test_settings)
        assert done.exit_code == 0, done.stdout + done.stderr
        assert f"ACLs for topic prefix {test_settings.kafka.topic_prefix!r}" in done.stdout
        publisher = as_principal(test_settings, Principal.PUBLISHER).kafka
        with ReportPublisher(publisher) as sent:
            sent.send(_report(A, 1.0))
        assert sent.stats.delivered == 1
        assert producer_timed_topics(test_settings.kafka) == []
    finally:
        remove_kafka_access(test_settings.kafka, names)
        drop_topics(test_settings)
