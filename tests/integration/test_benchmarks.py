"""The end-to-end benchmarks run on the real stack, at a small size.

Nothing here is timed (speed is what the benchmarks print, not what tests assert): these
check that a benchmark still logs in, runs the pipeline and sees every report it sent. Both
had stopped working unnoticed when ClickHouse's ``default`` login was locked (issue 9): their
worker and sink could not read the migration ledger, and ``bench.freshness`` gave up.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _bench(*args: str) -> str:
    """The benchmark's report (stdout), after checking it exited 0 and that its sink stored
    no poison message: a benchmark measures the pipeline's normal path. The worker's schedule
    ticks every second, so its announcements reach the sink within the short runs here."""
    done = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env={**os.environ, "BAOCAO_WORKER_SCHEDULE_INTERVAL_SECONDS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stderr[-4000:]}"
    poisoned = [line for line in done.stderr.splitlines() if "sink_poison_messages" in line]
    assert not poisoned, f"{len(poisoned)} poison messages, e.g. {poisoned[0]}"
    return done.stdout


def test_the_freshness_benchmark_sees_every_report_it_sends() -> None:
    out = _bench(
        "bench.freshness",
        *("--mode", "both", "--rate", "100", "--seconds", "3", "--communes", "60"),
        *("--settle-seconds", "0"),  # one probe of the disk, no wait
    )

    assert re.search(r"^steady: disk (NOT )?settled after 0 s of waiting \(probe", out, re.M)
    assert re.search(r"^steady: 300 reports at [\d,]+/s for 3 s +\d", out, re.M), out
    # ClickHouse's counters over the run: the sink's inserts at least.
    inserts = re.search(r"ClickHouse meanwhile: ([\d,]+) inserts/s", out)
    assert inserts and int(inserts[1].replace(",", "")) > 0, out
    assert re.search(r"^burst: 60 reports of \d{4}-\d{2} at once +\d", out, re.M), out
    assert "not visible" not in out, out


def test_the_pipeline_benchmark_brings_every_report_to_clickhouse() -> None:
    out = _bench("bench.pipeline", "--periods", "1")

    assert re.search(r"^pipeline: publish -> figures in ClickHouse +3,487 ", out, re.M), out
    assert re.search(r"^baseline: Kafka produce \+ consume only +3,487 ", out, re.M), out


def test_the_worker_benchmark_runs_every_path_over_the_whole_backlog() -> None:
    out = _bench("bench.worker", "--months", "1")

    for path in (
        "bare aiokafka + fastavro loop",
        "naive Faust agent (1 output/event)",
        "empty Faust agent (Faust's floor)",
        "baocao worker",
    ):
        assert re.search(rf"^{re.escape(path)} +3,487 +[\d.]+ +[\d,]+ ", out, re.M), (path, out)
    assert re.search(r"^killed worker restarted on 1 months of state: next figure", out, re.M), out
    # Faust's data folders go to a temporary directory, not the caller's.
    assert not list(ROOT.glob("*-naive-data")) and not list(ROOT.glob("*-empty-data"))


def test_the_retention_benchmark_measures_every_topic_the_month_filled() -> None:
    out = _bench("bench.retention", "--periods", "1")

    assert re.search(r"^1 month\(s\), 3,487 reports", out, re.M), out
    sizes = {
        match["topic"]: int(match["bytes"].replace(",", ""))
        for match in re.finditer(r"^(?P<topic>[\w.-]+) +(?P<bytes>[\d,]+) +[\d,]+ ", out, re.M)
    }
    # Every report is on the input and (accepted) on the output topic, each at least its body.
    assert sizes["commune-reports"] > 3_487 * 500, out
    assert sizes["commune-reports.accepted"] > 3_487 * 500, out
    assert sizes["province-indicators"] > 0 and sizes["province-indicator-changes"] > 0, out
    assert sizes["commune-reports.historic"] == 0, out


def test_the_rebuild_benchmark_rebuilds_every_record_to_an_equal_database() -> None:
    out = _bench("bench.rebuild", "--periods", "1")

    total = int(re.search(r"^backlog: ([\d,]+) records", out, re.M)[1].replace(",", ""))  # type: ignore[index]
    assert total > 3_000, out
    assert re.search(r"^verdict: equal: \d+ views and \d+ tables", out, re.M), out
    for label in ("replay into a new database", "whole command", "bare kafka-python consume"):
        assert re.search(rf"{label}.* +[\d.]+ +[\d,]+ +[\d.]+$", out, re.M), (label, out)


def test_the_notifier_benchmark_sends_a_whole_deadline_day() -> None:
    """3,320 overdue notices and 34 digests, each accepted once by the benchmark's SMTP
    server (the benchmark asserts the counts itself), and the same through raw smtplib."""
    out = _bench("bench.notifier")
    figures = dict(line.split(maxsplit=1) for line in out.splitlines() if line.strip())
    assert (figures["messages"], figures["digests"]) == ("3354", "34")
    assert float(figures["repeat_pass_seconds"]) > 0
