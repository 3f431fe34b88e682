"""The sink waits out a frozen ClickHouse without falling out of its consumer group.

A stack of the test's own (``baocao stack up`` on free ports, its own home) so ClickHouse can
be frozen with SIGSTOP without touching the shared servers. The sink runs with
``max.poll.interval.ms`` at 10 s; ClickHouse stays frozen for 16 s while reports and figures
keep arriving. A consumer that stopped polling for that long would be thrown out of its group
and reassigned; this one pauses its partitions and keeps polling, so it is assigned its
partitions exactly once. After SIGCONT every published record is in ClickHouse exactly once
(as the views read it, FINAL), compared with what the test published.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka.errors import KafkaError
from support import records
from support.net import free_ports
from support.sink import all_committed, committed, publish, running_sink
from support.wait import eventually

from baocao.core import kafka
from baocao.core.clickhouse import connect
from baocao.core.principals import Principal, with_principal
from baocao.core.reference import load_reference
from baocao.core.settings import (
    ClickHouseSettings,
    KafkaSettings,
    Settings,
    SinkSettings,
    StackSettings,
)
from baocao.core.topics import Topics
from baocao.sinks.clickhouse.migrate import migrate

BAOCAO = str(Path(sys.executable).with_name("baocao"))
PERIOD = "2025-08"
FROZEN_SECONDS = 16.0
MAX_POLL_INTERVAL_SECONDS = 10.0


def _stack(settings: StackSettings, *args: str, check: bool = True) -> str:
    env = {**os.environ}
    for name, value in settings.model_dump().items():
        env[f"BAOCAO_STACK_{name.upper()}"] = str(value)
    done = subprocess.run(
        [BAOCAO, "stack", *args], env=env, capture_output=True, text=True, timeout=240
    )
    if check:
        assert done.returncode == 0, f"baocao stack {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackSettings]:
    kafka_port, controller, tcp, http = free_ports(4)
    settings = StackSettings(
        home=tmp_path_factory.mktemp("outage") / "home",
        kafka_port=kafka_port,
        kafka_controller_port=controller,
        clickhouse_tcp_port=tcp,
        clickhouse_http_port=http,
        startup_timeout_seconds=120,
    )
    try:
        _stack(settings, "up")
        yield settings
    finally:
        _stack(settings, "down", check=False)


def _clickhouse_pid(stack: StackSettings) -> int:
    rows = json.loads(_stack(stack, "status", "--json"))
    (pid,) = [row["pid"] for row in rows if row["component"] == "clickhouse"]
    assert isinstance(pid, int)
    return pid


def test_frozen_clickhouse_pauses_the_sink_without_a_rebalance_and_loses_nothing(
    own_stack: StackSettings,
) -> None:
    name = f"t{uuid.uuid4().hex[:10]}"
    # The stack generated its ClickHouse logins and Kafka principals: the test is the admin.
    settings = with_principal(
        Settings(
            kafka=KafkaSettings(
                bootstrap_servers=f"127.0.0.1:{own_stack.kafka_port}", topic_prefix=name
            ),
            clickhouse=ClickHouseSettings(port=own_stack.clickhouse_tcp_port, database=name),
            sink=SinkSettings(
                group_id=f"{name}-sink",
                batch_rows=200,
                flush_interval_seconds=0.3,
                retry_initial_seconds=0.2,
                retry_max_seconds=1.0,
                max_poll_interval_seconds=MAX_POLL_INTERVAL_SECONDS,
            ),
            stack=own_stack,
        ).with_clickhouse_login("admin"),
        Principal.ADMIN,
    )
    topics = Topics(name)
    migrate(settings.clickhouse)
    kafka.ensure_topics(settings.kafka)
    communes = list(load_reference().communes)[:600]

    def reports(chosen: list[str], revision: int) -> list[records.Message]:
        return [
            records.message(
                topics,
                "accepted_reports",
                f"{c}|{PERIOD}",
                records.accepted_report(c, PERIOD, revision, indicators={"births": revision}),
            )
            for c in chosen
        ]

    def figures(version: int) -> list[records.Message]:
        return [
            records.message(
                topics,
                "province_indicators",
                f"{p}|{PERIOD}|births",
                records.figure(p, PERIOD, "births", version, float(version)),
            )
            for p in sorted(load_reference().provinces)
        ]

    before_outage = reports(communes[:300], 1) + figures(1)
    during_outage = reports(communes[300:], 1) + reports(communes[:100], 2) + figures(2)
    clickhouse = _clickhouse_pid(own_stack)

    with running_sink(settings) as (stats, _):
        publish(settings, before_outage)
        # A fresh broker answers NotCoordinator for a while: not yet committed.
        eventually(
            lambda: all_committed(settings),
            what="the records before the outage",
            ignoring=(KafkaError,),
        )
        assert stats.assignments == 1
        offsets_before = committed(settings)

        os.kill(clickhouse, signal.SIGSTOP)
        try:
            frozen_at = time.monotonic()
            publish(settings, during_outage)
            eventually(lambda: stats.paused, what="the sink to pause its partitions", timeout=30)
            while time.monotonic() - frozen_at < FROZEN_SECONDS:
                assert committed(settings) == offsets_before, "committed before the insert"
                time.sleep(1.0)
            assert stats.paused
        finally:
            os.kill(clickhouse, signal.SIGCONT)

        eventually(
            lambda: all_committed(settings),
            what="the records of the outage",
            timeout=120,
            ignoring=(KafkaError,),
        )
        eventually(lambda: not stats.paused, what="the sink to resume")
        # Longer than max.poll.interval.ms without a rebalance: assigned once, never again.
        assert stats.assignments == 1
        assert stats.pauses >= 1
        assert stats.poison == 0

    client = connect(settings.clickhouse)
    try:
        stored = client.execute(
            "SELECT commune_code, revision, indicator_values FROM commune_reports FINAL"
        )
        figures_stored = client.execute(
            "SELECT province_code, version, value FROM province_indicator_values FINAL"
        )
        (rows_with_duplicates,) = client.execute(
            "SELECT count() FROM (SELECT commune_code, period, count() AS n"
            " FROM commune_reports FINAL GROUP BY commune_code, period HAVING n > 1)"
        )[0]
    finally:
        client.execute(f"DROP DATABASE IF EXISTS {name}")
        client.disconnect()

    # What the test published, recomputed here: the highest revision of each commune...
    expected = {c: (2 if c in communes[:100] else 1) for c in communes}
    assert rows_with_duplicates == 0
    assert sorted((c, r) for c, r, _ in stored) == sorted(expected.items())
    assert all(values == [float(r)] for _, r, values in stored)
    # ... and the newest version of each province's figure.
    provinces = sorted(load_reference().provinces)
    assert sorted(figures_stored) == [(p, 2, 2.0) for p in provinces]
