"""Nothing ages out: the live broker keeps every pipeline topic for ever, ``stack up`` corrects
a topic that would not, and a stopped sink loses nothing however long it is down.

The control arm runs on a broker of its own whose retention check runs every second (a static
broker setting): the same pipeline, with the sink stopped, once on topics with a topic-level
``retention.ms=60000`` (rows are lost) and once on topics as declared (nothing is lost). Both
are compared with the independent recomputation of ``support.recompute``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic, OffsetSpec
from kafka.errors import KafkaError
from support.cli import run, start
from support.gateway import drop_topics
from support.net import free_ports
from support.recompute import expected_latest, expected_province_rows, simulated_month
from support.settings import environment, query
from support.sink import committed
from support.wait import eventually

from baocao.app.stack.kafka_access import PipelineNames, apply_kafka_access, remove_kafka_access
from baocao.core.kafka import admin_client, ensure_topics, wait_for_leaders
from baocao.core.periods import period_containing
from baocao.core.principals import Principal, with_principal
from baocao.core.settings import (
    ClickHouseSettings,
    KafkaSettings,
    Settings,
    SinkSettings,
    StackSettings,
    WorkerSettings,
)
from baocao.core.topics import SPECS, Component, Topics

#: The short retention of the control arm, as the issue states it.
SHORT_RETENTION_MS = 60_000
#: Last month: open whatever day the test runs (reports carry today's broker time).
PERIOD = period_containing("monthly", datetime.now(UTC)).previous().text


def _describe(settings: KafkaSettings, names: list[str]) -> dict[str, dict[str, Any]]:
    admin = admin_client(settings)
    try:
        described = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names],
            config_filter="all",
        )
    finally:
        admin.close()
    topics: dict[str, dict[str, Any]] = described["topic"]
    return topics


def test_the_live_broker_keeps_every_pipeline_topic_for_ever(servers: Settings) -> None:
    """``stack up`` (which ``make test`` ran) left every topic of the default prefix as its
    spec declares: a topic-level ``retention.ms=-1``, deletion (no compaction), no size cap."""
    topics = Topics(servers.kafka.topic_prefix)
    live = _describe(servers.kafka, list(topics.all()))
    for spec in SPECS:
        configs = live[topics.name(spec)]
        assert spec.retention.ms == -1
        assert configs["retention.ms"]["value"] == "-1", topics.name(spec)
        assert configs["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
        assert configs["cleanup.policy"]["value"] == "delete", topics.name(spec)
        assert configs["retention.bytes"]["value"] == "-1", topics.name(spec)


@pytest.fixture
def week_old_topics(test_settings: Settings) -> Iterator[Topics]:
    """The test prefix's topics as an older release left them: the broker's 7 days."""
    topics = Topics(test_settings.kafka.topic_prefix)
    admin = admin_client(test_settings.kafka)
    try:
        admin.create_topics(
            [
                NewTopic(
                    name,
                    1,
                    1,
                    topic_configs={"retention.ms": "604800000", "max.message.bytes": "500000"},
                )
                for name in topics.all()
            ]
        )
        # A topic is described only once its partitions are served (a describe right after
        # the create can find none of its configuration).
        wait_for_leaders(admin, list(topics.all()), timeout=30)
    finally:
        admin.close()
    yield topics
    names = PipelineNames.of(test_settings)
    remove_kafka_access(test_settings.kafka, names)
    drop_topics(test_settings)


def test_stack_up_corrects_a_topic_that_would_age_out_and_says_so(
    test_settings: Settings, week_old_topics: Topics, caplog: pytest.LogCaptureFixture
) -> None:
    before = _describe(test_settings.kafka, list(week_old_topics.all()))
    assert {c["retention.ms"]["value"] for c in before.values()} == {"604800000"}

    with caplog.at_level(logging.WARNING, logger="baocao.app.stack.kafka_access"):
        apply_kafka_access(test_settings.kafka, PipelineNames.of(test_settings))

    after = _describe(test_settings.kafka, list(week_old_topics.all()))
    assert {name: c["retention.ms"]["value"] for name, c in after.items()} == dict.fromkeys(
        week_old_topics.all(), "-1"
    )
    changes = [r.getMessage() for r in caplog.records if "retention.ms was" in r.getMessage()]
    assert sorted(changes) == sorted(
        f"topic {name}: retention.ms was 604800000, set to -1 as declared"
        for name in week_old_topics.all()
    )
    # The input topics also got the broker's append time, and a configuration that is not
    # declared stayed as it was (the change is incremental, not a reset to the defaults).
    assert after[week_old_topics.commune_reports]["message.timestamp.type"]["value"] == (
        "LogAppendTime"
    )
    assert {c["max.message.bytes"]["value"] for c in after.values()} == {"500000"}


# ---------------------------------------------------------------- the control arm


@pytest.fixture(scope="module")
def short_check_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackSettings]:
    """A stack of its own (Kafka and ClickHouse on free ports) whose broker checks retention
    every second instead of every 5 minutes."""
    kafka, controller, tcp, http = free_ports(4)
    stack = StackSettings(
        home=tmp_path_factory.mktemp("retention") / "home",
        kafka_port=kafka,
        kafka_controller_port=controller,
        clickhouse_tcp_port=tcp,
        clickhouse_http_port=http,
        kafka_retention_check_interval_ms=1000,
    )
    env = {
        **os.environ,
        **{f"BAOCAO_STACK_{key.upper()}": str(value) for key, value in stack.model_dump().items()},
    }
    baocao = [sys.executable, "-m", "baocao", "stack"]
    try:
        up = subprocess.run([*baocao, "up"], env=env, capture_output=True, text=True, timeout=180)
        assert up.returncode == 0, up.stdout + up.stderr
        yield stack
    finally:
        subprocess.run([*baocao, "down"], env=env, capture_output=True, timeout=120)


def _arm(stack: StackSettings, name: str, tmp_path: Path) -> Settings:
    """One arm's own prefix, database, worker and sink group on the stack of its own."""
    base = Settings(
        kafka=KafkaSettings(bootstrap_servers=f"127.0.0.1:{stack.kafka_port}", topic_prefix=name),
        clickhouse=ClickHouseSettings(port=stack.clickhouse_tcp_port, database=name),
        worker=WorkerSettings(app_id=f"{name}-rollup", data_dir=tmp_path / name, web_port=0),
        sink=SinkSettings(group_id=f"{name}-sink", flush_interval_seconds=0.3),
        stack=stack,
    )
    return with_principal(base.with_clickhouse_login("admin"), Principal.ADMIN)


def _offsets(settings: KafkaSettings, topic: str, spec: OffsetSpec) -> dict[int, int]:
    admin = admin_client(settings)
    try:
        partitions = {TopicPartition(topic, p): spec for p in range(settings.partitions)}
        answer = admin.list_partition_offsets(partitions)
    finally:
        admin.close()
    return {tp.partition: info.offset for tp, info in answer.items()}


def _worker_done(settings: Settings) -> bool:
    """The worker committed every report: its outputs were acknowledged before that."""
    topic = Topics(settings.kafka.topic_prefix).commune_reports
    ends = {p: o for p, o in _offsets(settings.kafka, topic, OffsetSpec.LATEST).items() if o}
    admin = admin_client(settings.kafka)
    try:
        group = admin.list_group_offsets(settings.worker.app_id)[settings.worker.app_id]
    finally:
        admin.close()
    done = {tp.partition: meta.offset for tp, meta in group.items() if tp.topic == topic}
    return bool(ends) and all(done.get(p) == o for p, o in ends.items())


def _sink_caught_up(settings: Settings, health_port: int) -> bool:
    """The sink holds its partitions and has committed everything still there to read (a
    partition whose records all aged out has nothing to commit)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/healthz", timeout=2) as answer:
        assert answer.status == 200
    committed_offsets = committed(settings)
    topics = Topics(settings.kafka.topic_prefix)
    for topic in (topics.name(spec) for spec in SPECS if Component.SINKS in spec.readers):
        earliest = _offsets(settings.kafka, topic, OffsetSpec.EARLIEST)
        for partition, end in _offsets(settings.kafka, topic, OffsetSpec.LATEST).items():
            done = committed_offsets.get(TopicPartition(topic, partition), earliest[partition])
            if done != end:
                return False
    return True


def _province_rows(settings: Settings) -> dict[tuple[str, str, str], tuple[float | None, int]]:
    rows = query(
        settings,
        "SELECT province_code, period, indicator_code, value, communes_reported"
        " FROM province_indicators",
    )
    return {(p, per, code): (value, n) for p, per, code, value, n in rows}


def test_a_stopped_sink_loses_rows_to_a_short_retention_and_none_to_the_declared_one(
    short_check_stack: StackSettings, tmp_path: Path
) -> None:
    short = _arm(short_check_stack, "short", tmp_path)
    declared = _arm(short_check_stack, "declared", tmp_path)
    arms = (short, declared)
    short_topics = Topics(short.kafka.topic_prefix)
    ensure_topics(
        short.kafka,
        configs={name: {"retention.ms": str(SHORT_RETENTION_MS)} for name in short_topics.all()},
    )
    ensure_topics(declared.kafka)
    assert _describe(short.kafka, [short_topics.province_indicators])[
        short_topics.province_indicators
    ]["retention.ms"]["value"] == str(SHORT_RETENTION_MS)

    env = {arm.kafka.topic_prefix: environment(arm, BAOCAO_LOG_LEVEL="INFO") for arm in arms}
    lines = simulated_month(
        env["declared"], tmp_path / "reports.jsonl", communes=40, seed=16, period=PERIOD
    )
    expected = expected_province_rows(expected_latest(lines))
    assert expected, "the recomputation must expect provincial figures"

    # The worker rolls every report up while the sinks are stopped.
    for arm in arms:
        prefix = arm.kafka.topic_prefix
        run("migrate", env=env[prefix], check=True)
        run("publish", "--file", str(tmp_path / "reports.jsonl"), env=env[prefix], check=True)
    workers = [
        start("worker", env=env[arm.kafka.topic_prefix], log_path=tmp_path / f"{name}-worker.log")
        for name, arm in zip(("short", "declared"), arms, strict=True)
    ]
    try:
        for arm in arms:
            eventually(
                lambda arm=arm: _worker_done(arm),
                what="the worker to roll up",
                timeout=120,
                ignoring=(KafkaError,),  # the group coordinator is not there yet
                alive=lambda: [worker.assert_running() for worker in workers],
            )
    finally:
        for worker in workers:
            worker.stop()

    # The sink stays down past the short retention: the broker deletes the short arm's
    # figures, and keeps the declared arm's.
    indicators = short_topics.province_indicators

    def aged_out() -> bool:
        earliest = _offsets(short.kafka, indicators, OffsetSpec.EARLIEST)
        latest = _offsets(short.kafka, indicators, OffsetSpec.LATEST)
        assert sum(latest.values()) > 0
        return earliest == latest

    eventually(aged_out, what="the short retention to delete the figures", timeout=180)
    declared_indicators = Topics(declared.kafka.topic_prefix).province_indicators
    assert set(_offsets(declared.kafka, declared_indicators, OffsetSpec.EARLIEST).values()) == {0}

    health_ports = free_ports(len(arms))
    sinks = [
        start(
            "sink",
            "--metrics-port",
            str(port),
            env=env[arm.kafka.topic_prefix],
            log_path=tmp_path / f"{arm.kafka.topic_prefix}-sink.log",
        )
        for arm, port in zip(arms, health_ports, strict=True)
    ]
    try:
        for arm, port in zip(arms, health_ports, strict=True):
            eventually(
                lambda arm=arm, port=port: _sink_caught_up(arm, port),
                what=f"the {arm.kafka.topic_prefix} sink to catch up",
                timeout=120,
                ignoring=(OSError,),
            )
        lost = set(expected) - set(_province_rows(short))
        assert lost == set(expected), "a short retention must lose the figures it deleted"
        kept = _province_rows(declared)
        assert set(kept) == set(expected)
        for key, (value, communes) in expected.items():
            assert kept[key][1] == communes, key
            assert kept[key][0] == (None if value is None else pytest.approx(value, rel=1e-12))
    finally:
        for sink in sinks:
            sink.stop()
