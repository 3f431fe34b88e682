"""Wait until ClickHouse's disk has settled from an earlier run's deletions.

On a journal-less ext4 (this VM's root), creating a file within minutes of many deletions
scans past the recently deleted inodes: the previous benchmark's ``DROP DATABASE`` (tens of
thousands of part files) made the next run's inserts up to ten times slower for 3 to 6
minutes (README, "Freshness: what the tail was made of"). A benchmark that wants the
pipeline's figures, not its predecessor's cleanup, first times a probe insert that writes a
part of about a real table's file count, until it is as fast as on a settled disk.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from clickhouse_driver import Client

__all__ = ["Settled", "wait_for_settled_disk"]

#: Columns of the probe table: a part of it has about as many files as one of the sink's.
PROBE_COLUMNS = 20
#: A probe insert this fast, three times in a row, means the disk has settled (2-4 ms on a
#: settled disk here; a 47-row insert took 24 ms right after a 200/s run's drop).
SETTLED_MS = 6.0
PROBE_EVERY_SECONDS = 2.0


@dataclass(frozen=True)
class Settled:
    """How long the wait took and the last probes' median."""

    waited_seconds: float
    probe_ms: float
    settled: bool

    def describe(self) -> str:
        state = "settled" if self.settled else "NOT settled"
        return (
            f"disk {state} after {self.waited_seconds:.0f} s of waiting "
            f"(probe insert {self.probe_ms:.1f} ms, settled at <= {SETTLED_MS:.0f} ms)"
        )


def probe_insert_ms(client: Client, table: str) -> float:
    """Milliseconds one single-row insert into ``table`` takes (a new part, its files)."""
    row = [tuple([1] + ["x"] * (PROBE_COLUMNS - 1))]
    started = time.perf_counter()
    client.execute(f"INSERT INTO {table} VALUES", row)
    return (time.perf_counter() - started) * 1000


def wait_for_settled_disk(client: Client, *, limit_seconds: float) -> Settled:
    """Probe every :data:`PROBE_EVERY_SECONDS` until three probes in a row take at most
    :data:`SETTLED_MS`, or ``limit_seconds`` pass (0: a single probe, no wait); the probe
    table is dropped afterwards."""
    table = "settle_probe"
    columns = ", ".join(["c0 UInt32"] + [f"c{n} String" for n in range(1, PROBE_COLUMNS)])
    client.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns}) ENGINE = MergeTree ORDER BY c0")
    started = time.monotonic()
    recent: list[float] = []
    try:
        while True:
            recent = [*recent[-2:], probe_insert_ms(client, table)]
            waited = time.monotonic() - started
            if limit_seconds <= 0:  # one probe, for the record
                return Settled(waited, recent[0], settled=recent[0] <= SETTLED_MS)
            if len(recent) == 3 and max(recent) <= SETTLED_MS:
                return Settled(waited, statistics.median(recent), settled=True)
            if waited >= limit_seconds:
                return Settled(waited, statistics.median(recent), settled=False)
            time.sleep(PROBE_EVERY_SECONDS)
    finally:
        client.execute(f"DROP TABLE IF EXISTS {table}")
