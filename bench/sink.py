"""Sink throughput on a preloaded backlog, cold start included, against two same-run floors.

A backlog of what the worker writes for ``--periods`` months of simulated reports of every
commune (``baocao simulate``'s generator, 5% corrections) is produced to the benchmark's own
topics before anything is timed: each accepted report (``accepted_report.v1``), and for every
2,000 reports (one worker batch) the figures of every indicator (``province_indicator.v2``) and
the completeness (``province_completeness.v1``) of each province the batch touched.

Then, in the same run:

- **sink**: ``baocao sink`` started as a fresh process (imports, connections, joining the
  group: the cold start) until its committed offsets reach the end of every partition (lag 0),
  every row checked in ClickHouse afterwards;
- **bare consume**: a kafka-python consumer of the project's options joins a new group and
  reads the same messages, nothing else (the transport's floor);
- **bare insert**: clickhouse-driver inserts the same rows, built beforehand, columnar, in
  batches of the sink's size, into a fresh copy of the tables (the database's floor).

Each is reported in records/s with the sink's ratio to it. ``--profile FILE`` runs the sink
under py-spy (``pip install py-spy``) and writes its collapsed stacks to FILE.

Usage: ``python -m bench.sink [--periods 12] [--profile sink.folded]`` (needs ``baocao stack up``).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

from kafka import TopicPartition

from baocao.core.avro import codec_for
from baocao.core.catalogue import load_catalogue
from baocao.core.clickhouse import connect
from baocao.core.kafka import admin_client, consumer, ensure_topics, producer
from baocao.core.periods import deadline, parse_period
from baocao.core.reference import load_reference
from baocao.core.settings import ClickHouseSettings, DeadlineSettings, Settings
from baocao.core.topics import SPECS, Topics
from baocao.producers.simulate import generate_reports
from baocao.sinks.clickhouse.migrate import migrate
from bench.pipeline import drop_everything, isolated_settings

#: Reports per worker batch: the figures of a province are written once per batch.
WORKER_BATCH = 2_000

Backlog = dict[str, list[tuple[bytes, dict[str, Any]]]]  # topic attribute -> (key, record)

SPECS_BY_ATTRIBUTE = {spec.attribute: spec for spec in SPECS}
_SCHEMAS = {
    "accepted_reports": "accepted_report.v1",
    "province_indicators": "province_indicator.v2",
    "province_completeness": "province_completeness.v1",
}


def _keyed(attribute: str, record: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """``record`` with the key its topic's spec gives it."""
    return SPECS_BY_ATTRIBUTE[attribute].key_bytes_of(record), record


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def backlog(periods: list[str], *, seed: int = 7) -> Backlog:
    """The worker's output for ``periods`` of simulated reports (see the module docstring)."""
    reference, catalogue = load_reference(), load_catalogue()
    rules = DeadlineSettings()
    indicators = [i.code for i in catalogue.for_report_type("monthly")]
    rng = random.Random(seed)
    out: Backlog = {topic: [] for topic in _SCHEMAS}
    version = 0
    for period in periods:
        due = deadline(parse_period(period), rules).astimezone(UTC)
        reports = list(
            generate_reports(reference, catalogue, period=period, seed=seed, revisions=0.05)
        )
        reported: dict[str, set[str]] = {}
        for batch in _chunks(reports, WORKER_BATCH):
            version += 1
            for report in batch:
                submitted = report.submitted_at.astimezone(UTC)
                out["accepted_reports"].append(
                    _keyed(
                        "accepted_reports",
                        {
                            "report_id": report.report_id,
                            "commune_code": report.commune_code,
                            "province_code": report.province_code,
                            "period": period,
                            "revision": report.revision,
                            "submitted_at": submitted,
                            "indicators": dict(report.indicators),
                            "report_type": "monthly",
                            "first_submitted_at": submitted,
                            "accepted_at": submitted + timedelta(seconds=1),
                            "deadline": due,
                            "on_time": submitted <= due,
                            "amended": False,
                        },
                    )
                )
                reported.setdefault(report.province_code, set()).add(report.commune_code)
            updated_at = max(r.submitted_at for r in batch).astimezone(UTC)
            for province in sorted({r.province_code for r in batch}):
                count = len(reported[province])
                for code in indicators:
                    out["province_indicators"].append(
                        _keyed(
                            "province_indicators",
                            {
                                "province_code": province,
                                "period": period,
                                "indicator_code": code,
                                "value": rng.uniform(0, 1e6),
                                "numerator": None,
                                "denominator": None,
                                "communes_reported": count,
                                "version": version,
                                "updated_at": updated_at,
                                "report_type": "monthly",
                                "deadline": due,
                                "communes_with_warnings": 0,
                                "communes_amended": 0,
                            },
                        )
                    )
                out["province_completeness"].append(
                    _keyed(
                        "province_completeness",
                        {
                            "province_code": province,
                            "report_type": "monthly",
                            "period": period,
                            "deadline": due,
                            "communes_expected": reference.communes_expected(province),
                            "communes_reported": count,
                            "communes_on_time": count,
                            "communes_late": 0,
                            "version": version,
                            "updated_at": updated_at,
                        },
                    )
                )
    return out


def preload(settings: Settings, records: Backlog) -> int:
    """Produce the backlog to the benchmark's topics; return the number of messages."""
    topics = Topics(settings.kafka.topic_prefix)
    ensure_topics(settings.kafka)
    writer = producer(settings.kafka)
    sent = 0
    try:
        for attribute, items in records.items():
            codec = codec_for(_SCHEMAS[attribute])
            name = getattr(topics, attribute)
            for key, record in items:
                writer.send(name, key=key, value=codec.encode(record))
                sent += 1
        writer.flush(timeout=120)
    finally:
        writer.close()
    return sent


def _partitions(settings: Settings) -> list[TopicPartition]:
    topics = Topics(settings.kafka.topic_prefix)
    names = [getattr(topics, attribute) for attribute in _SCHEMAS]
    reader = consumer(settings.kafka, group_id=f"{settings.kafka.topic_prefix}-probe")
    try:
        return [TopicPartition(n, p) for n in names for p in reader.partitions_for_topic(n)]
    finally:
        reader.close()


def _end_offsets(settings: Settings) -> dict[TopicPartition, int]:
    reader = consumer(settings.kafka, group_id=f"{settings.kafka.topic_prefix}-probe")
    try:
        ends = reader.end_offsets(_partitions(settings))
    finally:
        reader.close()
    return {tp: offset for tp, offset in ends.items() if offset > 0}


def sink_seconds(
    settings: Settings, *, profile: Path | None, processes: int = 1
) -> tuple[float, float, int]:
    """Seconds from starting ``processes`` ``baocao sink`` processes (one consumer group)
    until the group has committed every offset; seconds until its first commit (the cold
    start: imports, connections, joining the group, a first batch), and how many records
    that first commit covered."""
    ends = _end_offsets(settings)
    env = {**os.environ, **settings.as_environment(), "BAOCAO_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "baocao", "sink"]
    if profile is not None:
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        command = [py_spy, "record", "--format", "raw", "-r", "200", "-o", str(profile), "--"]
        command += [sys.executable, "-m", "baocao", "sink"]
    admin = admin_client(settings.kafka)
    group = settings.sink.group_id
    started = time.monotonic()
    sinks = [
        subprocess.Popen(command if n == 0 else command[-4:], env=env) for n in range(processes)
    ]
    first: tuple[float, int] | None = None
    try:
        while True:
            for process in sinks:
                if process.poll() is not None:
                    raise RuntimeError(f"a sink exited early with {process.returncode}")
            offsets = admin.list_group_offsets(group).get(group, {})
            done = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
            if done and first is None:
                first = (time.monotonic() - started, sum(done.values()))
            if all(done.get(tp) == end for tp, end in ends.items()):
                assert first is not None
                return time.monotonic() - started, *first
            time.sleep(0.05)
    finally:
        for n, process in enumerate(sinks):
            profiled = profile is not None and n == 0
            process.send_signal(signal.SIGINT if profiled else signal.SIGTERM)
        for process in sinks:
            process.wait(timeout=120)  # py-spy writes its profile once the sink exits
        admin.close()


def bare_consume_seconds(settings: Settings, total: int) -> float:
    """Seconds for a kafka-python consumer in a new group to read ``total`` messages."""
    topics = Topics(settings.kafka.topic_prefix)
    started = time.monotonic()
    reader = consumer(settings.kafka, group_id=f"{settings.kafka.topic_prefix}-bare")
    reader.subscribe([getattr(topics, attribute) for attribute in _SCHEMAS])
    seen = 0
    try:
        while seen < total:
            for records in reader.poll(timeout_ms=500, max_records=50_000).values():
                seen += len(records)
        return time.monotonic() - started
    finally:
        reader.close()


def _columns(records: Backlog) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """The rows of the backlog as insert columns per table (built before any clock runs)."""
    accepted = records["accepted_reports"]
    rows: dict[str, tuple[list[str], list[list[Any]]]] = {}
    names = [
        "report_id",
        "commune_code",
        "province_code",
        "period",
        "revision",
        "submitted_at",
        "report_type",
        "first_submitted_at",
        "accepted_at",
        "deadline",
        "on_time",
        "amended",
    ]
    columns: list[list[Any]] = [[r[n] for _, r in accepted] for n in names]
    codes = [sorted(r["indicators"]) for _, r in accepted]
    columns.append(codes)
    columns.append(
        [[r["indicators"][c] for c in cs] for cs, (_, r) in zip(codes, accepted, strict=True)]
    )
    rows["commune_reports"] = ([*names, "indicator_codes", "indicator_values"], columns)
    for attribute, table in (
        ("province_indicators", "province_indicator_values"),
        ("province_completeness", "province_completeness_values"),
    ):
        items = [r for _, r in records[attribute]]
        keys = list(items[0])
        rows[table] = (keys, [[r[k] for r in items] for k in keys])
    return rows


def bare_insert_seconds(clickhouse: ClickHouseSettings, records: Backlog, batch: int) -> float:
    """Seconds for clickhouse-driver to insert the backlog's rows, columnar, ``batch`` rows
    per insert, into a fresh copy of the tables."""
    migrate(clickhouse)
    tables = _columns(records)
    client = connect(clickhouse)
    try:
        started = time.monotonic()
        for table, (names, columns) in tables.items():
            sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES"
            for start in range(0, len(columns[0]), batch):
                part = [column[start : start + batch] for column in columns]
                client.execute(sql, part, columnar=True)
        return time.monotonic() - started
    finally:
        client.disconnect()


def check_rows(settings: Settings, records: Backlog) -> None:
    """Every record of the backlog is a row: distinct keys and versions, not just counts."""
    expected = {
        "commune_reports": len(
            {
                (r["commune_code"], r["period"], r["revision"])
                for _, r in records["accepted_reports"]
            }
        ),
        "province_indicator_values": len(records["province_indicators"]),
        "province_completeness_values": len(records["province_completeness"]),
    }
    keys = {
        "commune_reports": "commune_code, period, revision",
        "province_indicator_values": "province_code, period, indicator_code, version",
        "province_completeness_values": "province_code, report_type, period, version",
    }
    client = connect(settings.clickhouse)
    try:
        for table, key in keys.items():
            ((found,),) = client.execute(
                f"SELECT count() FROM (SELECT DISTINCT {key} FROM {table})"
            )
            if found != expected[table]:
                raise AssertionError(f"{table}: {found} distinct rows, expected {expected[table]}")
    finally:
        client.disconnect()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sink", description=__doc__)
    parser.add_argument("--periods", type=int, default=12, help="Months of reports (1-12).")
    parser.add_argument("--profile", type=Path, help="Run the sink under py-spy, stacks here.")
    parser.add_argument(
        "--sinks", type=int, default=1, help="Sink processes in the group (1-4: 4 partitions)."
    )
    args = parser.parse_args(argv)
    if not 1 <= args.periods <= 12:
        parser.error("--periods must be between 1 and 12")
    if not 1 <= args.sinks <= 4:
        parser.error("--sinks must be between 1 and 4")
    periods = [f"2025-{month:02d}" for month in range(1, args.periods + 1)]
    name = f"bench{uuid.uuid4().hex[:8]}"
    records = backlog(periods)
    with tempfile.TemporaryDirectory() as state_dir:
        settings = isolated_settings(name, Path(state_dir)).with_clickhouse_login("admin")
        baseline_db = settings.clickhouse.model_copy(update={"database": f"{name}_bare"})
        try:
            migrate(settings.clickhouse)
            total = preload(settings, records)
            sink, cold, first_records = sink_seconds(
                settings, profile=args.profile, processes=args.sinks
            )
            check_rows(settings, records)
            consume = bare_consume_seconds(settings, total)
            insert = bare_insert_seconds(baseline_db, records, settings.sink.batch_rows)
        finally:
            drop_everything(settings)
            client = connect(baseline_db, use_database=False)
            client.execute(f"DROP DATABASE IF EXISTS {baseline_db.database}")
            client.disconnect()
    counts = ", ".join(f"{topic}={len(items):,}" for topic, items in records.items())
    print(f"backlog: {total:,} records ({counts})")
    print(f"{'benchmark':52} {'seconds':>8} {'records/s':>10} {'sink/this':>10}")
    for label, seconds in (
        (f"sink x{args.sinks}: cold start -> lag 0, rows checked", sink),
        ("bare kafka-python consume (new group)", consume),
        ("bare clickhouse-driver columnar insert", insert),
    ):
        print(f"{label:52} {seconds:8.2f} {total / seconds:10,.0f} {seconds / sink:10.2f}")
    print(
        f"sink cold start: first batch ({first_records:,} records) committed after {cold:.2f}s;"
        f" after it {(total - first_records) / max(sink - cold, 1e-9):,.0f} records/s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
