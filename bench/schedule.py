"""The schedule's cost against its lock window: tick time and memory at 30, 365 and 100,000
days (``BAOCAO_DEADLINES_LOCK_DAYS``).

Issue 10: at 100,000 days the first tick blocked the worker's event loop for 6 minutes and
grew it to 2.9 GB, because every period of the window was walked, remembered and alerted on.
Each window here runs in a fresh Python process (so its peak RSS is its own): the real
reference data, a ``latest`` table holding a year of monthly reports of every commune, all
34 provinces owned, then ``--ticks`` ticks one minute apart, each marked done as the worker
does after delivery (each window five times over, fresh, keeping the median). The baseline,
measured in the same run, is the 30-day window (the default): the figures are ratios against
it. A tick's work is capped (``BAOCAO_DEADLINES_SCHEDULE_MAX_PER_TICK``), so a long window
costs more ticks, not longer ones: past the cap the tick time stays flat (365 days and
100,000 days do the same work per tick) and memory does not grow at all.

Usage: ``python -m bench.schedule [--ticks N] [--json results.json]`` (``make bench-schedule``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from baocao.core.reference import load_reference
from baocao.core.settings import DeadlineSettings
from baocao.core.topics import Topics
from baocao.streams.schedule import Schedule

WINDOWS = (30, 365, 100_000)
#: Mid-month, a few days before the monthly deadline: approaching and overdue alerts both.
NOW = datetime(2025, 9, 3, 12, tzinfo=UTC)


@dataclass
class Case:
    lock_days: int
    ticks: int
    first_tick_seconds: float
    max_tick_seconds: float
    total_seconds: float
    records_first_tick: int
    records_total: int
    rss_setup_mb: float
    rss_peak_mb: float

    @property
    def growth_mb(self) -> float:
        """Peak RSS over what the process held before the first tick."""
        return self.rss_peak_mb - self.rss_setup_mb


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_case(lock_days: int, ticks: int, rounds: int = 5) -> Case:
    """One window, in this process, ``rounds`` times over: the median round."""
    cases = [_one_round(lock_days, ticks) for _ in range(rounds)]
    return sorted(cases, key=lambda c: c.max_tick_seconds)[len(cases) // 2]


def _one_round(lock_days: int, ticks: int) -> Case:
    """One window: what a worker owning every province would do."""
    reference = load_reference()
    latest = {
        f"{commune}|2025-{month:02d}": {"revision": 1}
        for commune in reference.communes
        for month in range(1, 13)
    }
    clock_now = [NOW]
    schedule = Schedule(
        topics=Topics("bench"),
        reference=reference,
        deadlines=DeadlineSettings(lock_days=lock_days),
        clock=lambda: clock_now[0],
    )
    provinces = list(reference.provinces)
    rss_setup = _rss_mb()
    times: list[float] = []
    records: list[int] = []
    for index in range(ticks):
        clock_now[0] = NOW + timedelta(minutes=index)
        started = time.perf_counter()
        tick = schedule.plan(provinces, latest)
        schedule.done(tick)
        times.append(time.perf_counter() - started)
        records.append(len(tick.outputs))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return Case(
        lock_days=lock_days,
        ticks=ticks,
        first_tick_seconds=times[0],
        max_tick_seconds=max(times),
        total_seconds=sum(times),
        records_first_tick=records[0],
        records_total=sum(records),
        rss_setup_mb=rss_setup,
        rss_peak_mb=peak_mb,
    )


def _in_subprocess(lock_days: int, ticks: int) -> Case:
    done = subprocess.run(
        [sys.executable, "-m", "bench.schedule", "--case", str(lock_days), "--ticks", str(ticks)],
        capture_output=True,
        text=True,
        check=True,
    )
    return Case(**json.loads(done.stdout))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.schedule", description=__doc__)
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument("--case", type=int, help=argparse.SUPPRESS)  # one window, JSON out
    parser.add_argument("--json", dest="json_path", help="Also write the results to this file.")
    args = parser.parse_args(argv)
    if args.case is not None:
        print(json.dumps(asdict(run_case(args.case, args.ticks))))
        return 0

    cases = [_in_subprocess(days, args.ticks) for days in WINDOWS]
    base = cases[0]
    print(f"schedule ticks ({args.ticks} per window, 34 provinces owned, one minute apart)")
    print(
        f"{'lock days':>10} {'1st tick s':>11} {'max tick s':>11} {'x base':>7} "
        f"{'records 1st':>12} {'us/record':>10} {'RSS peak MB':>12} {'growth MB':>10} "
        f"{'x base':>7}"
    )
    for case in cases:
        print(
            f"{case.lock_days:>10} {case.first_tick_seconds:>11.3f} {case.max_tick_seconds:>11.3f} "
            f"{case.max_tick_seconds / base.max_tick_seconds:>7.2f} "
            f"{case.records_first_tick:>12} "
            f"{1e6 * case.first_tick_seconds / max(1, case.records_first_tick):>10.0f} "
            f"{case.rss_peak_mb:>12.1f} {case.growth_mb:>10.1f} "
            f"{case.rss_peak_mb / base.rss_peak_mb:>7.2f}"
        )
    if args.json_path:
        Path(args.json_path).write_text(json.dumps([asdict(c) for c in cases], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
