"""What keeping every record for ever costs on disk: bytes per report, per topic, and the
projection for ten years of every commune.

Pushes ``--periods`` months of simulated reports for all 3,321 communes (5% corrections)
through a worker and a sink on the local stack (their own topics and database, as
``bench.pipeline`` does), then asks the broker for the size of each topic's log
(``DescribeLogDirs``: the segment bytes of every partition, one replica). The baseline,
measured in the same run, is the Avro body of the reports themselves: the ratio says what the
log adds (record headers, keys, and every output the worker derives from a report).

Usage: ``python -m bench.retention [--periods 1]`` (needs ``baocao stack up``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

from baocao.core.catalogue import load_catalogue
from baocao.core.kafka import admin_client
from baocao.core.reference import load_reference
from baocao.core.settings import Settings
from baocao.core.topics import SPECS, Topics
from baocao.producers.publisher import encode_report
from baocao.producers.simulate import generate_reports
from baocao.sinks.clickhouse.migrate import migrate
from bench.pipeline import drop_everything, isolated_settings, pipeline, running_pipeline

#: Ten years of monthly reports.
PROJECTED_PERIODS = 120


def topic_bytes(settings: Settings) -> dict[str, int]:
    """Bytes of each topic of the benchmark's prefix (and its worker's changelogs) on the
    broker's disk, summed over partitions (one replica)."""
    admin = admin_client(settings.kafka)
    try:
        answers = admin.describe_log_dirs()
    finally:
        admin.close()
    sizes: dict[str, int] = defaultdict(int)
    mine = (f"{settings.kafka.topic_prefix}.", f"{settings.worker.app_id}-")
    for broker in answers:
        for log_dir in broker["log_dirs"]:
            for topic in log_dir["topics"]:
                if topic["name"].startswith(mine):
                    sizes[topic["name"]] += sum(p["partition_size"] for p in topic["partitions"])
    return dict(sizes)


def settle(settings: Settings, *, quiet_seconds: float = 3.0, timeout: float = 60.0) -> None:
    """Wait until no topic of the benchmark grew for ``quiet_seconds`` (the worker's last
    completeness and change records come after the figures the pipeline waits for)."""
    deadline = time.monotonic() + timeout
    last = topic_bytes(settings)
    while time.monotonic() < deadline:
        time.sleep(quiet_seconds)
        now = topic_bytes(settings)
        if now == last:
            return
        last = now


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.retention", description=__doc__)
    parser.add_argument("--periods", type=int, default=1, help="Months of reports to push.")
    args = parser.parse_args(argv)
    if not 1 <= args.periods <= 10:
        parser.error("--periods must be between 1 and 10")
    periods = [f"2026-{month:02d}" for month in range(10 - args.periods + 1, 11)]
    name = f"bench{uuid.uuid4().hex[:8]}"
    reference, catalogue = load_reference(), load_catalogue()
    with tempfile.TemporaryDirectory() as state_dir:
        settings = isolated_settings(name, Path(state_dir))
        migrate(settings.clickhouse)
        with running_pipeline(settings):
            reports, _ = pipeline(settings, periods)
            settle(settings)
        sizes = topic_bytes(settings)
        drop_everything(settings)
    payload = sum(
        len(encode_report(report))
        for period in periods
        for report in generate_reports(reference, catalogue, period=period, seed=7, revisions=0.05)
    )
    topics = Topics(name)
    kept = {topics.name(spec): spec for spec in SPECS}
    per_period = reports / len(periods)
    print(
        f"{args.periods} month(s), {reports:,} reports ({per_period:,.0f} a month), "
        f"Avro bodies {payload / reports:,.0f} B/report"
    )
    print(
        f"{'topic (kept for ever)':40} {'bytes':>12} {'B/report':>9} {'x Avro':>7} {'10 years':>10}"
    )
    total = 0
    for topic, spec in kept.items():
        size = sizes.get(topic, 0)
        total += size
        ten_years = size / len(periods) * PROJECTED_PERIODS
        print(
            f"{spec.suffix:40} {size:12,} {size / reports:9,.0f} {size / payload:7.2f} "
            f"{ten_years / 1e9:8.2f} GB"
        )
    ten_years = total / len(periods) * PROJECTED_PERIODS
    print(
        f"{'all pipeline topics':40} {total:12,} {total / reports:9,.0f} {total / payload:7.2f} "
        f"{ten_years / 1e9:8.2f} GB"
    )
    changelogs = {topic: size for topic, size in sizes.items() if topic not in kept}
    print(
        f"{'worker changelogs (compacted, not kept)':40} {sum(changelogs.values()):12,} "
        f"{sum(changelogs.values()) / reports:9,.0f}"
    )
    print(
        f"10 years = {PROJECTED_PERIODS} monthly periods of all communes, one replica; "
        "multiply by the replication factor (3 on three brokers)."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
