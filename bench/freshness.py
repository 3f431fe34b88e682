"""Freshness: seconds from a report's submission to its effect being visible in ClickHouse, as
p50 and p99, in two loads.

Runs a worker and a sink as subprocesses (own topics and database, like the tests; their
settings from the environment, e.g. ``BAOCAO_WORKER_BATCH_WITHIN_SECONDS`` and
``BAOCAO_SINK_FLUSH_INTERVAL_SECONDS``, printed with the figures), each report stamped
``submitted_at = now`` as it is sent:

- **steady** (issue 11): ``--rate`` reports/s (1,000) for ``--seconds`` (60), first revisions
  of every commune month after month, paced. A report is visible when its province's figure
  of ``tthc_received`` for its month in ``province_indicators`` counts it: the k-th report of
  a province and month is in once ``communes_reported`` reaches k (the view is polled every
  0.1 s for every province and month at once);
- **burst**: one month of every commune published as fast as the demo does; a report is
  visible when its row is in ``commune_reports`` (the same sink batch as its province's
  figures, or the one before).

The baseline, measured in the same run, is the poll loop's own latency: the time a query of
the view takes plus the poll interval, i.e. the resolution of the measurement.

Each measurement first waits (up to ``--settle-seconds``) until ClickHouse's disk has settled
from an earlier run's deletions (``bench/settle.py``), and prints what it waited.

Usage: ``python -m bench.freshness [--mode steady|burst|both] [--rate 1000] [--seconds 60]
[--communes N] [--settle-seconds 420]`` (needs ``baocao stack up``).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from clickhouse_driver import Client

from baocao.core.catalogue import load_catalogue
from baocao.core.clickhouse import connect
from baocao.core.kafka import producer
from baocao.core.reference import load_reference
from baocao.core.settings import Settings
from baocao.core.topics import Topics
from baocao.producers.publisher import ReportPublisher, encode_report, report_key
from baocao.producers.simulate import default_period, generate_reports
from baocao.sinks.clickhouse.migrate import migrate
from bench.pipeline import REPLAY_ENVIRONMENT, drop_everything, isolated_settings
from bench.settle import wait_for_settled_disk
from bench.worker import months_before


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


#: Poll interval of the views.
POLL_SECONDS = 0.1
#: How long after the last report the steady mode waits for all to be visible.
WAIT_SECONDS = 300.0


#: ClickHouse's own counters (``system.events``) printed for a steady run: how many inserts
#: and parts the sink made ClickHouse write, and what merging them cost.
SERVER_COUNTERS = {
    "InsertQuery": "inserts",
    "MergeTreeDataWriterBlocks": "parts written",
    "MergedRows": "rows merged",
    "MergesTimeMilliseconds": "ms merging",
}


def server_counters(client: Client) -> dict[str, int]:
    """ClickHouse's counters since its start (absent until the first event of the kind)."""
    rows = client.execute(
        "SELECT event, value FROM system.events WHERE event IN %(events)s",
        {"events": tuple(SERVER_COUNTERS)},
    )
    return {str(event): int(value) for event, value in rows}


@dataclasses.dataclass
class Figures:
    label: str
    ages: list[float]
    query_seconds: list[float]
    #: What ClickHouse did during the run (a line of counters), when measured.
    server: str = ""
    #: A long steady run's p99 per minute of submission (where in the run the tail is).
    per_minute: list[float] = dataclasses.field(default_factory=list)

    @property
    def resolution(self) -> float:
        return statistics.median(self.query_seconds) + POLL_SECONDS

    def print(self) -> None:
        ages = self.ages
        print(
            f"{self.label:44} {percentile(ages, 0.5):7.2f} {percentile(ages, 0.99):7.2f} "
            f"{max(ages):7.2f}   baseline (poll resolution) {self.resolution:.2f} s"
        )
        if self.server:
            print(f"{'':44} ClickHouse meanwhile: {self.server}")
        if len(self.per_minute) > 1:
            minutes = ", ".join(f"{p99:.2f}" for p99 in self.per_minute)
            print(f"{'':44} p99 per minute: {minutes}")


class Pipeline:
    """A worker and a sink on their own topics and database, for one measurement."""

    def __init__(self, name: str, state_dir: Path) -> None:
        self.settings = isolated_settings(name, state_dir)
        migrate(self.settings.clickhouse)
        env = {
            **os.environ,
            **self.settings.as_environment(),
            **REPLAY_ENVIRONMENT,  # the steady load replays months past their lock
            "BAOCAO_WORKER_LOG_LEVEL": "warning",
        }
        self.processes = [
            subprocess.Popen(
                [sys.executable, "-m", "baocao", "--log-level", "WARNING", role], env=env
            )
            for role in ("worker", "sink")
        ]
        self.client = connect(self.settings.clickhouse)

    def close(self) -> None:
        self.client.disconnect()
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        drop_everything(self.settings)


def burst(pipeline: Pipeline, communes: int | None) -> Figures:
    """A month of every commune at once: submission -> its row in ``commune_reports``."""
    period = default_period()
    reports = list(
        generate_reports(
            load_reference(), load_catalogue(), period=period, seed=11, communes=communes
        )
    )
    client = pipeline.client
    sent_at: dict[str, float] = {}
    seen_at: dict[str, float] = {}
    query_seconds: list[float] = []
    time.sleep(5)  # let the worker join its group: measure steady state, not start-up
    with ReportPublisher(pipeline.settings.kafka) as publisher:
        for report in reports:
            now = datetime.now(UTC)
            publisher.send(dataclasses.replace(report, submitted_at=now))
            sent_at[report.report_id] = now.timestamp()
    deadline = time.monotonic() + 300
    while len(seen_at) < len(reports) and time.monotonic() < deadline:
        asked = time.monotonic()
        rows = client.execute(
            "SELECT DISTINCT report_id FROM commune_reports WHERE period = %(p)s", {"p": period}
        )
        query_seconds.append(time.monotonic() - asked)
        observed = time.time()
        for (report_id,) in rows:
            seen_at.setdefault(report_id, observed)
        time.sleep(POLL_SECONDS)
    ages = [seen_at[i] - sent_at[i] for i in sent_at if i in seen_at]
    if len(ages) < len(reports):
        raise RuntimeError(f"only {len(ages)} of {len(reports)} reports became visible")
    return Figures(f"burst: {len(ages):,} reports of {period} at once", ages, query_seconds)


class _Visibility(threading.Thread):
    """Polls ``province_indicators``: per (province, month), how many communes it counts."""

    def __init__(self, pipeline: Pipeline, months: list[str]) -> None:
        super().__init__(daemon=True)
        self.client = connect(pipeline.settings.clickhouse)
        self.months = months
        self.counted: dict[tuple[str, str], list[tuple[int, float]]] = {}
        self.query_seconds: list[float] = []
        self.failed_polls = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            asked = time.monotonic()
            try:
                rows = self.client.execute(
                    "SELECT province_code, period, max(communes_reported) "
                    "FROM province_indicators "
                    "WHERE indicator_code = 'tthc_received' AND period IN %(months)s "
                    "GROUP BY province_code, period",
                    {"months": tuple(self.months)},
                )
            except Exception as exc:  # a busy server: poll again, say so
                self.failed_polls += 1
                print(f"poll failed ({self.failed_polls}): {exc!r}", file=sys.stderr)
                self.client.disconnect()
                time.sleep(POLL_SECONDS)
                continue
            self.query_seconds.append(time.monotonic() - asked)
            observed = time.time()
            for province, period, count in rows:
                seen = self.counted.setdefault((province, period), [])
                if not seen or seen[-1][0] < count:
                    seen.append((int(count), observed))
            time.sleep(POLL_SECONDS)
        self.client.disconnect()

    def seen_at(self, province: str, period: str, k: int) -> float | None:
        """When the k-th report of a province and month was first counted."""
        for count, observed in self.counted.get((province, period), ()):
            if count >= k:
                return observed
        return None


def steady(pipeline: Pipeline, rate: float, seconds: float) -> Figures:
    """``rate`` first revisions a second for ``seconds``: submission -> counted in
    ``province_indicators``."""
    count = int(rate * seconds)
    reference, catalogue = load_reference(), load_catalogue()
    months = months_before(datetime.now(UTC), -(-count // len(reference.communes)) + 1)
    warmup, *months = months
    # Drawn before the clock starts: the simulator's draws cost the harness more CPU than
    # sending (a seventh of its samples), CPU the worker and the sink then lacked.
    reports = list(
        itertools.islice(
            (
                report
                for month in months
                for report in generate_reports(reference, catalogue, period=month, seed=13)
            ),
            count,
        )
    )
    topic = Topics(pipeline.settings.kafka.topic_prefix).commune_reports
    # 5 ms of linger: a request per few reports instead of one per report (kafka-python's
    # network thread was a quarter of the harness's CPU at 1 ms); counted in the ages.
    writer = producer(pipeline.settings.kafka, linger_ms=5)
    watcher = _Visibility(pipeline, [warmup, *months])
    watcher.start()
    try:
        # One report first, through to ClickHouse: the worker and the sink are running.
        first = next(generate_reports(reference, catalogue, period=warmup, seed=13))
        writer.send(topic, key=report_key(first), value=encode_report(first))
        writer.flush()
        ready = time.monotonic() + 120
        while watcher.seen_at(first.province_code, warmup, 1) is None:
            if time.monotonic() > ready:
                raise RuntimeError("the pipeline did not show a first report in 120 s")
            time.sleep(0.1)
        sent: list[tuple[str, str, int, float]] = []
        index: dict[tuple[str, str], int] = {}
        counted_before = server_counters(pipeline.client)
        started = time.monotonic()
        for number, report in enumerate(reports):
            due = started + number / rate
            while (wait := due - time.monotonic()) > 0:
                time.sleep(min(wait, 0.005))
            now = datetime.now(UTC)
            report = dataclasses.replace(report, submitted_at=now)
            writer.send(topic, key=report_key(report), value=encode_report(report))
            k = index[(report.province_code, report.period)] = (
                index.get((report.province_code, report.period), 0) + 1
            )
            sent.append((report.province_code, report.period, k, now.timestamp()))
        achieved = len(sent) / (time.monotonic() - started)
        writer.flush()
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            if all(watcher.seen_at(p, m, k) is not None for p, m, k, _ in sent):
                break
            time.sleep(1.0)
        elapsed = time.monotonic() - started
        counted_after = server_counters(pipeline.client)
    finally:
        watcher.stop.set()
        watcher.join()
        writer.close()
    ages, unseen = [], 0
    by_minute: dict[int, list[float]] = {}
    for province, month, k, at in sent:
        seen = watcher.seen_at(province, month, k)
        if seen is None:  # counted as never: the percentiles include it as infinite
            unseen += 1
            ages.append(math.inf)
        else:
            ages.append(seen - at)
        by_minute.setdefault(int((at - sent[0][3]) // 60), []).append(ages[-1])
    label = f"steady: {len(sent):,} reports at {achieved:,.0f}/s for {seconds:.0f} s"
    if unseen:
        label += f" ({unseen:,} not visible after {WAIT_SECONDS:.0f} s)"
    server = ", ".join(
        f"{(counted_after.get(event, 0) - counted_before.get(event, 0)) / elapsed:,.0f} {name}/s"
        for event, name in SERVER_COUNTERS.items()
    )
    per_minute = [percentile(by_minute[m], 0.99) for m in sorted(by_minute)]
    return Figures(
        label,
        ages,
        watcher.query_seconds,
        server=f"{server} over {elapsed:.0f} s",
        per_minute=per_minute if seconds >= 180 else [],
    )


def knobs(settings: Settings) -> str:
    return (
        f"worker batch_within_seconds={settings.worker.batch_within_seconds}, "
        f"batch_max={settings.worker.batch_max}; "
        f"sink flush_interval_seconds={settings.sink.flush_interval_seconds}, "
        f"min_insert_interval_seconds={settings.sink.min_insert_interval_seconds}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.freshness", description=__doc__)
    parser.add_argument("--mode", choices=("steady", "burst", "both"), default="both")
    parser.add_argument("--rate", type=float, default=1000.0, help="Steady reports/s.")
    parser.add_argument("--seconds", type=float, default=60.0, help="Steady duration.")
    parser.add_argument("--communes", type=int, default=None, help="Burst: default all.")
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=420.0,
        help="Wait up to this long for ClickHouse's disk to settle from an earlier run's"
        " deletions (bench/settle.py); 0 measures at once, after one probe.",
    )
    args = parser.parse_args(argv)
    results: list[Figures] = []
    for mode in ("steady", "burst") if args.mode == "both" else (args.mode,):
        with tempfile.TemporaryDirectory() as state_dir:
            pipeline = Pipeline(f"fresh{uuid.uuid4().hex[:8]}", Path(state_dir))
            try:
                settled = wait_for_settled_disk(pipeline.client, limit_seconds=args.settle_seconds)
                print(f"{mode}: {settled.describe()}", flush=True)
                if mode == "steady":
                    results.append(steady(pipeline, args.rate, args.seconds))
                else:
                    results.append(burst(pipeline, args.communes))
            finally:
                pipeline.close()
    print(f"{'freshness (submission -> visible)':44} {'p50 s':>7} {'p99 s':>7} {'max s':>7}")
    for figures in results:
        figures.print()
    print(f"with {knobs(Settings())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
