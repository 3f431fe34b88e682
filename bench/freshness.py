"""Freshness under the demo's load: seconds from a report's submission to its row being
visible in ClickHouse, as p50 and p99.

Runs a worker and a sink as subprocesses (own topics and database, like the tests), publishes
one month of reports for every commune as fast as the demo does, each stamped
``submitted_at = now`` as it is sent, and polls ``commune_indicators`` every 0.1 s to see when
each report becomes visible (a report's row and its province's figures are written by the same
sink batch or the next one). The baseline, measured in the same run, is the same poll loop's
own latency: the time a query of the view takes, i.e. the resolution of the measurement.

Usage: ``python -m bench.freshness [--communes N]`` (needs ``baocao stack up``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from baocao.core.catalogue import load_catalogue
from baocao.core.clickhouse import connect
from baocao.core.reference import load_reference
from baocao.producers.publisher import ReportPublisher
from baocao.producers.simulate import default_period, generate_reports
from baocao.sinks.clickhouse.migrate import migrate
from bench.pipeline import drop_everything, isolated_settings


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.freshness", description=__doc__)
    parser.add_argument("--communes", type=int, default=None, help="Default: all 3,321.")
    args = parser.parse_args(argv)
    name = f"fresh{uuid.uuid4().hex[:8]}"
    period = default_period()
    reports = list(
        generate_reports(
            load_reference(), load_catalogue(), period=period, seed=11, communes=args.communes
        )
    )
    with tempfile.TemporaryDirectory() as state_dir:
        settings = isolated_settings(name, Path(state_dir))
        migrate(settings.clickhouse)
        env = {**os.environ, **settings.as_environment(), "BAOCAO_WORKER_LOG_LEVEL": "warning"}
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "baocao", "--log-level", "WARNING", role], env=env
            )
            for role in ("worker", "sink")
        ]
        client = connect(settings.clickhouse)
        sent_at: dict[str, float] = {}
        seen_at: dict[str, float] = {}
        query_seconds: list[float] = []
        try:
            time.sleep(5)  # let the worker join its group: measure steady state, not start-up
            with ReportPublisher(settings.kafka) as publisher:
                for report in reports:
                    now = datetime.now(UTC)
                    publisher.send(dataclasses.replace(report, submitted_at=now))
                    sent_at[report.report_id] = now.timestamp()
            deadline = time.monotonic() + 300
            while len(seen_at) < len(reports) and time.monotonic() < deadline:
                asked = time.monotonic()
                rows = client.execute(
                    "SELECT DISTINCT report_id FROM commune_reports WHERE period = %(p)s",
                    {"p": period},
                )
                query_seconds.append(time.monotonic() - asked)
                observed = time.time()
                for (report_id,) in rows:
                    seen_at.setdefault(report_id, observed)
                time.sleep(0.1)
        finally:
            client.disconnect()
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=60)
            drop_everything(settings)
    ages = [seen_at[i] - sent_at[i] for i in sent_at if i in seen_at]
    if len(ages) < len(reports):
        print(f"only {len(ages)} of {len(reports)} reports became visible", file=sys.stderr)
        return 1
    resolution = statistics.median(query_seconds) + 0.1
    print(f"{'freshness (submission -> visible)':36} {'p50 s':>7} {'p99 s':>7} {'max s':>7}")
    print(
        f"{f'{len(ages):,} reports, {period}':36} {percentile(ages, 0.5):7.2f} "
        f"{percentile(ages, 0.99):7.2f} {max(ages):7.2f}"
    )
    print(
        f"{'baseline: poll resolution':36} {resolution:7.2f}   (p50 = "
        f"{percentile(ages, 0.5) / resolution:.1f}x the measurement's own resolution)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
