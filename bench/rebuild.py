"""Rebuilding ClickHouse from Kafka: a year of the whole country, against a same-run floor.

The backlog is what the worker writes for ``--periods`` months of every commune
(:func:`bench.sink.backlog`: accepted reports, figures and completeness, ~80,000 records for a
year), produced to the benchmark's own topics. The live database is filled by ``baocao sink``
first (not timed here: ``bench.sink`` measures it). Then, in the same run:

- **rebuild**: ``baocao rebuild clickhouse --database <name>_rebuilt`` as an operator runs
  it, a fresh process: it migrates the new database, replays every topic with a group of its
  own until it has committed their end, and compares every view and table with the live
  database (its verdict must be ``equal``); the time of its replay (as it prints it) and of
  the whole command;
- **bare consume**: a kafka-python consumer of the project's options joins a new group and
  reads the same records, nothing else (the floor of any replay).

Usage: ``python -m bench.rebuild [--periods 12]`` (needs ``baocao stack up``).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from baocao.core.clickhouse import connect
from baocao.sinks.clickhouse.migrate import migrate
from bench.pipeline import drop_everything, isolated_settings
from bench.sink import backlog, bare_consume_seconds, check_rows, preload, sink_seconds

_REPLAYED = re.compile(r"rebuilt \S+ from (?P<records>\d+) records in (?P<seconds>[\d.]+)s")


def rebuild_seconds(env: dict[str, str], database: str) -> tuple[float, float, str]:
    """Seconds of the whole ``rebuild clickhouse`` command and of its replay, and its verdict."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "baocao", "rebuild", "clickhouse", "--database", database],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    total = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(
            f"rebuild clickhouse exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    replayed = _REPLAYED.search(done.stdout)
    if replayed is None:
        raise RuntimeError(f"no replay line in:\n{done.stdout}")
    return total, float(replayed["seconds"]), done.stdout.strip().splitlines()[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rebuild", description=__doc__)
    parser.add_argument("--periods", type=int, default=12, help="Months of reports (1-12).")
    args = parser.parse_args(argv)
    if not 1 <= args.periods <= 12:
        parser.error("--periods must be between 1 and 12")
    periods = [f"2025-{month:02d}" for month in range(1, args.periods + 1)]
    name = f"bench{uuid.uuid4().hex[:8]}"
    rebuilt = f"{name}_rebuilt"
    records = backlog(periods)
    with tempfile.TemporaryDirectory() as state_dir:
        settings = isolated_settings(name, Path(state_dir)).with_clickhouse_login("admin")
        env = {**os.environ, **settings.as_environment(), "BAOCAO_LOG_LEVEL": "WARNING"}
        try:
            migrate(settings.clickhouse)
            total = preload(settings, records)
            sink_seconds(settings, profile=None)
            check_rows(settings, records)
            command, replay, verdict = rebuild_seconds(env, rebuilt)
            consume = bare_consume_seconds(settings, total)
        finally:
            drop_everything(settings)
            client = connect(settings.clickhouse, use_database=False)
            client.execute(f"DROP DATABASE IF EXISTS {rebuilt}")
            client.disconnect()
    print(f"backlog: {total:,} records ({args.periods} months of every commune)")
    print(f"verdict: {verdict}")
    print(f"{'benchmark':58} {'seconds':>8} {'records/s':>10} {'x bare':>7}")
    for label, seconds in (
        ("rebuild clickhouse: replay into a new database (its own)", replay),
        ("rebuild clickhouse: whole command (migrate, replay, compare)", command),
        ("bare kafka-python consume (new group)", consume),
    ):
        print(f"{label:58} {seconds:8.2f} {total / seconds:10,.0f} {seconds / consume:7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
