"""End-to-end throughput of the pipeline on the real local stack, against Kafka alone.

Publishes ``--periods`` months of simulated reports for every commune through a worker and a
sink running as subprocesses (their own topics and database, like the tests), and measures the
time from the first report sent until ClickHouse shows every province's figures. The baseline,
measured in the same run, is the same number of messages of the same size produced to and
consumed back from one Kafka topic with no processing: the ratio says what validation, the
roll-up, the changelogs and ClickHouse add on top of the transport.

Usage: ``python -m bench.pipeline [--periods 3]`` (needs ``baocao stack up``).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from baocao.core.catalogue import load_catalogue
from baocao.core.clickhouse import connect
from baocao.core.kafka import admin_client, consumer, ensure_topics, producer
from baocao.core.principals import Principal, with_principal
from baocao.core.reference import load_reference
from baocao.core.settings import (
    ClickHouseSettings,
    KafkaSettings,
    Settings,
    SinkSettings,
    WorkerSettings,
)
from baocao.producers.publisher import ReportPublisher, encode_report
from baocao.producers.simulate import generate_reports
from baocao.sinks.clickhouse.migrate import migrate

#: The environment a benchmark replaying past months gives the worker and the sink. A month
#: locks 30 days after its deadline; here it locks ten years after: later than any month a
#: benchmark replays, and still inside ClickHouse's ``DateTime`` range (to 2106). A hundred
#: years (the value before) sent every announced period to ``sink_poison_messages`` for
#: its lock time, so the benchmarks also measured the sink's poison path.
REPLAY_ENVIRONMENT = {"BAOCAO_DEADLINES_LOCK_DAYS": "3650"}


def isolated_settings(name: str, state_dir: Path) -> Settings:
    # Creates its own topics and database: the Kafka and ClickHouse admins.
    base = with_principal(Settings(), Principal.ADMIN).with_clickhouse_login("admin")
    return Settings(
        kafka=KafkaSettings(**{**base.kafka.model_dump(), "topic_prefix": name}),
        clickhouse=ClickHouseSettings(**{**base.clickhouse.model_dump(), "database": name}),
        worker=WorkerSettings(
            **{**base.worker.model_dump(), "app_id": name, "data_dir": state_dir, "web_port": 0}
        ),
        sink=SinkSettings(**{**base.sink.model_dump(), "group_id": f"{name}-sink"}),
        stack=base.stack,
    )


@contextmanager
def running_pipeline(settings: Settings) -> Iterator[None]:
    """A worker and a sink of ``settings`` as subprocesses (replaying past months, quiet),
    stopped with SIGTERM when the block ends."""
    env = {
        **os.environ,
        **settings.as_environment(),
        **REPLAY_ENVIRONMENT,
        "BAOCAO_LOG_LEVEL": "WARNING",
    }
    processes = [
        subprocess.Popen([sys.executable, "-m", "baocao", role], env=env)
        for role in ("worker", "sink")
    ]
    try:
        yield
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)


def kafka_round_trip(settings: KafkaSettings, payloads: list[bytes]) -> float:
    """Seconds to produce ``payloads`` to a fresh topic and consume them all back."""
    topic = f"{settings.topic_prefix}.baseline"
    ensure_topics(settings, [topic])
    reader = consumer(settings, group_id=f"{topic}-reader")
    reader.subscribe([topic])
    reader.poll(timeout_ms=1000)  # join the group before the clock starts
    writer = producer(settings)
    started = time.monotonic()
    for payload in payloads:
        writer.send(topic, key=b"01", value=payload)
    writer.flush()
    seen = 0
    while seen < len(payloads):
        for records in reader.poll(timeout_ms=500, max_records=10_000).values():
            seen += len(records)
    elapsed = time.monotonic() - started
    writer.close()
    reader.close()
    return elapsed


def pipeline(settings: Settings, periods: list[str]) -> tuple[int, float]:
    """Reports pushed through, and seconds until every figure is visible in ClickHouse."""
    reference, catalogue = load_reference(), load_catalogue()
    reports = [
        report
        for period in periods
        for report in generate_reports(reference, catalogue, period=period, seed=7, revisions=0.05)
    ]
    expected_rows = len(periods) * len(reference.provinces)
    client = connect(settings.clickhouse)
    started = time.monotonic()
    with ReportPublisher(settings.kafka) as publisher:
        for report in reports:
            publisher.send(report)
    while True:
        (count,) = client.execute(
            "SELECT count() FROM province_indicators WHERE indicator_code = 'tthc_received'"
            " AND communes_reported = communes_expected"
        )[0]
        if count >= expected_rows:
            break
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    client.disconnect()
    return len(reports), elapsed


def drop_everything(settings: Settings) -> None:
    """Remove the benchmark's database and topics (including the worker's changelogs)."""
    client = connect(settings.clickhouse, use_database=False)
    client.execute(f"DROP DATABASE IF EXISTS {settings.clickhouse.database}")
    client.disconnect()
    admin = admin_client(settings.kafka)
    try:
        mine = [t for t in admin.list_topics() if t.startswith(settings.kafka.topic_prefix)]
        if mine:
            admin.delete_topics(mine)
    finally:
        admin.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__)
    parser.add_argument("--periods", type=int, default=3, help="Months of reports to push.")
    args = parser.parse_args(argv)
    name = f"bench{uuid.uuid4().hex[:8]}"
    periods = [f"2026-{month:02d}" for month in range(10 - args.periods + 1, 11)]
    if not 1 <= args.periods <= 10:
        parser.error("--periods must be between 1 and 10")
    with tempfile.TemporaryDirectory() as state_dir:
        settings = isolated_settings(name, Path(state_dir))
        migrate(settings.clickhouse)
        with running_pipeline(settings):
            reports, seconds = pipeline(settings, periods)
        sample = next(
            generate_reports(load_reference(), load_catalogue(), period=periods[0], seed=7)
        )
        baseline = kafka_round_trip(settings.kafka, [encode_report(sample)] * reports)
        drop_everything(settings)
    print(f"{'benchmark':44} {'reports':>8} {'seconds':>8} {'reports/s':>10} {'x baseline':>11}")
    print(
        f"{'pipeline: publish -> figures in ClickHouse':44} {reports:8,} {seconds:8.1f} "
        f"{reports / seconds:10,.0f} {seconds / baseline:11.2f}"
    )
    print(
        f"{'baseline: Kafka produce + consume only':44} {reports:8,} {baseline:8.1f} "
        f"{reports / baseline:10,.0f} {1.0:11.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
