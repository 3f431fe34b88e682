"""The roll-up worker alone on a preloaded backlog, against two baselines of the same run.

Preloads ``--months`` months of reports of every commune (5% corrected by a second revision)
onto a topic of its own, then pushes the same backlog through, one after the other:

- **bare loop**: aiokafka batch consume + fastavro decode + a dict roll-up (latest revision
  per commune replaces its previous figures), no outputs: the floor of the transport and
  decoding in Python;
- **naive Faust agent** (:mod:`bench.naive_agent`): decode + dict roll-up + one output record
  per event, no validation, no state table, no checkpoint order;
- **empty Faust agent** (the same module with ``--empty``): counts the events and does
  nothing else: what Faust itself costs per event on this machine, the ceiling of any Faust
  worker here;
- **the worker** (``baocao worker``): everything it does in production (validation, revisions,
  soft rules, state tables with changelogs, figures, changes with causes, completeness, the
  checkpoint order outputs -> changelogs -> offsets).

Reports/s of each is its events over the time from its first event to its last: for the
worker, from the start of its first batch to the end of its last (its own batch log lines),
so Faust's start-up is not counted; "cold start" adds it (process start to lag 0). The
machine is shared, so each is also given per CPU second: its events over the CPU time
(user + system, from ``/proc``) its process spent in the same window, which a neighbour's load
moves far less than the wall clock. The worker's peak RSS is sampled from ``/proc`` too.

Then the restart: the worker is SIGKILLed with its state (RocksDB and changelogs) in place,
started again, and one new revision is published at once; the figure is "made" when its change
record (caused by that revision) is on ``province-indicator-changes``. Seconds from the
restart to that record, and the restarted worker's RSS.

Usage: ``python -m bench.worker [--months 3] [--profile FILE]`` (needs ``baocao stack up``);
``--months 12`` is the issue's full backlog. ``--profile`` runs the worker under
``py-spy record`` (flame data in FILE) instead of the timed runs. Every topic of the run is
deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from kafka import KafkaConsumer, TopicPartition

from baocao.core.avro import codec_for
from baocao.core.catalogue import load_catalogue
from baocao.core.kafka import client_options, ensure_topics, producer, ssl_context
from baocao.core.models import CommuneReport
from baocao.core.periods import period_containing
from baocao.core.reference import load_reference
from baocao.core.settings import Settings
from baocao.core.topics import Topics
from baocao.producers.publisher import encode_report, report_key
from baocao.producers.simulate import generate_reports
from bench.pipeline import REPLAY_ENVIRONMENT, drop_everything, isolated_settings

#: A batch line of the worker's log: ``<asctime> INFO ... batch of N events in S s``.
BATCH_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*batch of (\d+) events in ([\d.]+)s"
)
#: The longest a run may take before the benchmark gives up on it.
RUN_TIMEOUT_SECONDS = 900.0


@dataclass
class Run:
    name: str
    events: int
    seconds: float
    cpu_seconds: float
    cold_seconds: float | None = None
    peak_rss_mb: float | None = None

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def cpu_rate(self) -> float:
        return self.events / self.cpu_seconds


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (all its threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


class Sampler:
    """(unix time, CPU seconds, RSS MiB) of a process, sampled every 50 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.samples.append((time.time(), cpu_seconds(self.pid), rss_mb(self.pid)))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def cpu_between(self, start: float, end: float) -> float:
        """CPU seconds spent from the last sample at or before ``start`` to the first at or
        after ``end`` (a slight overestimate, at most two sampling intervals)."""
        before = [cpu for t, cpu, _ in self.samples if t <= start]
        after = [cpu for t, cpu, _ in self.samples if t >= end]
        first = before[-1] if before else self.samples[0][1]
        last = after[0] if after else self.samples[-1][1]
        return last - first

    @property
    def peak_rss_mb(self) -> float:
        return max((rss for _, _, rss in self.samples), default=0.0)


def months_before(today: datetime, count: int) -> list[str]:
    """The ``count`` months before the current one, oldest first."""
    month = period_containing("monthly", today)
    found: list[str] = []
    for _ in range(count):
        month = month.previous()
        found.append(month.text)
    return found[::-1]


def backlog(months: list[str], revisions: float) -> Iterator[CommuneReport]:
    reference, catalogue = load_reference(), load_catalogue()
    for month in months:
        yield from generate_reports(
            reference, catalogue, period=month, seed=31, revisions=revisions
        )


def preload(settings: Settings, reports: list[CommuneReport]) -> None:
    topic = Topics(settings.kafka.topic_prefix).commune_reports
    writer = producer(settings.kafka)
    try:
        for report in reports:
            writer.send(topic, key=report_key(report), value=encode_report(report))
        writer.flush()
    finally:
        writer.close()


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# -- the bare loop ------------------------------------------------------------------------


async def _bare(settings: Settings, expected: int) -> Run:
    topic = Topics(settings.kafka.topic_prefix).commune_reports
    kafka = settings.kafka
    security: dict[str, object] = {}
    if kafka.uses_sasl or ssl_context(kafka) is not None:
        security = {"security_protocol": kafka.security_protocol, "ssl_context": ssl_context(kafka)}
    if kafka.uses_sasl:
        security |= {
            "sasl_mechanism": kafka.sasl_mechanism,
            "sasl_plain_username": kafka.sasl_username,
            "sasl_plain_password": kafka.sasl_password.get_secret_value(),
        }
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka.bootstrap_servers,
        **security,
        group_id=f"{settings.kafka.topic_prefix}-bare",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    codec = codec_for("commune_report.v2")
    latest: dict[str, dict[str, float]] = {}
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    await consumer.start()
    try:
        count, first, first_cpu = 0, 0.0, 0.0
        while count < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batches.values():
                if not count:
                    first, first_cpu = time.perf_counter(), time.process_time()
                for record in records:
                    report = codec.decode(record.value or b"")
                    figures = sums[f"{report['province_code']}|{report['period']}"]
                    commune = f"{report['commune_code']}|{report['period']}"
                    for code, number in latest.get(commune, {}).items():
                        figures[code] -= number
                    for code, number in report["indicators"].items():
                        figures[code] += number
                    latest[commune] = report["indicators"]
                    count += 1
        return Run(
            "bare aiokafka + fastavro loop",
            count,
            time.perf_counter() - first,
            time.process_time() - first_cpu,
        )
    finally:
        await consumer.stop()


# -- the naive Faust agent ----------------------------------------------------------------


def naive(settings: Settings, env: dict[str, str], expected: int, *, empty: bool = False) -> Run:
    """The naive agent's run, or with ``empty`` Faust's floor (an agent that only counts)."""
    topics = Topics(settings.kafka.topic_prefix)
    role = "empty" if empty else "naive"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.naive_agent",
            f"{settings.kafka.topic_prefix}-{role}",
            topics.commune_reports,
            f"{settings.kafka.topic_prefix}.naive-out",
            str(expected),
            *(["--empty"] if empty else []),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    sampler = Sampler(process.pid)
    try:
        output, _ = process.communicate(timeout=RUN_TIMEOUT_SECONDS)
    finally:
        sampler.stop()
    # Faust's worker redirects stdout into its log (stderr).
    found = re.search(r"naive (\d+) ([\d.]+) ([\d.]+)", output)
    if found is None:
        raise RuntimeError(f"the {role} agent did not finish:\n{output[-3000:]}")
    events, first, last = int(found[1]), float(found[2]), float(found[3])
    return Run(
        "empty Faust agent (Faust's floor)" if empty else "naive Faust agent (1 output/event)",
        events,
        last - first,
        sampler.cpu_between(first, last),
    )


# -- the worker ---------------------------------------------------------------------------


class WorkerProcess:
    """``baocao worker`` as a subprocess, its log in a file the benchmark reads."""

    def __init__(self, env: dict[str, str], log: Path, profile: Path | None = None) -> None:
        self.log = log
        command = [sys.executable, "-m", "baocao", "worker", "--log-level", "INFO"]
        if profile is not None:
            py_spy = Path(sys.executable).with_name("py-spy")
            command = [str(py_spy), "record", "-r", "200", "-f", "raw", "-o", str(profile)]
            command += ["--", sys.executable, "-m", "baocao", "worker", "--log-level", "INFO"]
        self.started = time.time()
        with log.open("ab") as out:
            self.process = subprocess.Popen(command, env=env, stdout=out, stderr=out)
        self._read = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    def batches(self) -> list[tuple[float, int, float]]:
        """(end as unix time, events, seconds) of every batch logged so far."""
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            match = BATCH_LINE.match(line)
            if match:
                end = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                found.append((end, int(match[2]), float(match[3])))
        return found

    def wait_events(self, expected: int) -> Run:
        """Wait until the worker logged ``expected`` events."""
        sampler = Sampler(self.pid)
        deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the worker exited: see {self.log}")
                batches = self.batches()
                if sum(b[1] for b in batches) >= expected:
                    time.sleep(0.1)  # a sample after the end
                    break
                time.sleep(0.1)
            else:
                raise RuntimeError(f"the worker did not finish in {RUN_TIMEOUT_SECONDS:.0f}s")
        finally:
            sampler.stop()
        first_start = batches[0][0] - batches[0][2]
        last_end = batches[-1][0]
        return Run(
            "baocao worker",
            sum(b[1] for b in batches),
            last_end - first_start,
            sampler.cpu_between(first_start, last_end),
            cold_seconds=last_end - self.started,
            peak_rss_mb=sampler.peak_rss_mb,
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def restart(
    settings: Settings, env: dict[str, str], log: Path, last: CommuneReport
) -> tuple[float, float]:
    """Seconds from a restart (after SIGKILL) to the figure of a new revision, and RSS then."""
    topics = Topics(settings.kafka.topic_prefix)
    changes = codec_for("province_indicator_change.v1")
    reader = KafkaConsumer(**client_options(settings.kafka), enable_auto_commit=False)
    partitions = [
        TopicPartition(topics.province_indicator_changes, p)
        for p in reader.partitions_for_topic(topics.province_indicator_changes) or ()
    ]
    reader.assign(partitions)
    reader.seek_to_end()
    for tp in partitions:
        reader.position(tp)
    correction = replace(
        last,
        report_id=str(uuid.uuid4()),
        revision=last.revision + 1,
        submitted_at=datetime.now(UTC).replace(microsecond=0),
        indicators={k: v + 1 for k, v in last.indicators.items()},
    )
    worker = WorkerProcess(env, log)
    writer = producer(settings.kafka)
    writer.send(
        topics.commune_reports,
        key=report_key(correction),
        value=encode_report(correction),
    ).get(timeout=30)
    writer.close()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for records in reader.poll(timeout_ms=200).values():
                for record in records:
                    change = changes.decode(record.value)
                    if any(c["report_id"] == correction.report_id for c in change["causes"]):
                        return time.time() - worker.started, rss_mb(worker.pid)
        raise RuntimeError(f"no figure from the restarted worker in 120 s: see {log}")
    finally:
        worker.stop()
        reader.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker", description=__doc__)
    parser.add_argument("--months", type=int, default=3, help="Months of backlog (issue: 12).")
    parser.add_argument("--revisions", type=float, default=0.05, help="Share corrected.")
    parser.add_argument("--profile", type=Path, help="py-spy the worker into this file.")
    parser.add_argument("--keep-log", type=Path, help="Copy the worker's log here.")
    args = parser.parse_args(argv)
    name = f"bw{uuid.uuid4().hex[:8]}"
    months = months_before(datetime.now(UTC), args.months)
    reports = list(backlog(months, args.revisions))
    with tempfile.TemporaryDirectory() as state_dir:
        settings = isolated_settings(name, Path(state_dir) / "worker")
        env = {
            **os.environ,
            **settings.as_environment(),
            **REPLAY_ENVIRONMENT,  # the backlog replays months past their lock
            # One long period: the schedule's timer (minutes apart) does not fire mid-run.
            "BAOCAO_WORKER_SCHEDULE_INTERVAL_SECONDS": "600",
        }
        log = Path(state_dir) / "worker.log"
        try:
            ensure_topics(settings.kafka)
            ensure_topics(settings.kafka, [f"{name}.naive-out"])
            loaded = time.perf_counter()
            preload(settings, reports)
            print(
                f"preloaded {len(reports):,} reports ({len(months)} months x "
                f"{len(load_reference().communes):,} communes, {args.revisions:.0%} corrected) "
                f"in {time.perf_counter() - loaded:.1f}s",
                flush=True,
            )
            if args.profile is not None:
                worker = WorkerProcess(env, log, profile=args.profile)
                run = worker.wait_events(len(reports))
                worker.stop(signal.SIGINT)
                print(f"worker under py-spy: {run.rate:,.0f} reports/s; profile in {args.profile}")
                return 0
            runs = [asyncio.run(_bare(settings, len(reports)))]
            runs.append(naive(settings, env, len(reports)))
            runs.append(naive(settings, env, len(reports), empty=True))
            worker = WorkerProcess(env, log)
            run = worker.wait_events(len(reports))
            worker.stop(signal.SIGKILL)
            runs.append(run)
            ready, restarted_rss = restart(settings, env, log, reports[-1])
        finally:
            if args.keep_log is not None and log.exists():
                shutil.copy(log, args.keep_log)
            drop_everything(settings)
    naive_rate = runs[1].rate
    naive_cpu_rate = runs[1].cpu_rate
    print(
        f"{'path':36} {'events':>7} {'seconds':>7} {'reports/s':>9} {'x naive':>7} "
        f"{'CPU s':>6} {'per CPU s':>9} {'x naive':>7}"
    )
    for r in runs:
        print(
            f"{r.name:36} {r.events:7,} {r.seconds:7.2f} {r.rate:9,.0f} "
            f"{r.rate / naive_rate:7.2f} {r.cpu_seconds:6.2f} {r.cpu_rate:9,.0f} "
            f"{r.cpu_rate / naive_cpu_rate:7.2f}"
        )
    worker_run = runs[-1]
    assert worker_run.cold_seconds is not None and worker_run.peak_rss_mb is not None
    print(
        f"worker from cold start to lag 0: {worker_run.cold_seconds:.1f}s "
        f"({worker_run.events / worker_run.cold_seconds:,.0f} reports/s)"
    )
    print(f"worker peak RSS over the backlog: {worker_run.peak_rss_mb:.0f} MB")
    print(
        f"killed worker restarted on {len(months)} months of state: next figure "
        f"{ready:.1f}s after the restart; RSS then {restarted_rss:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
