"""Benchmarks of the pipeline's hot paths, reported as ratios against a baseline run alongside.

The machines are shared and noisy, so absolute numbers mean little from one run to the next;
each figure is therefore paired with a baseline measured in the same process, seconds apart:

- Avro encode/decode of a commune report (fastavro, single-object framing) against the
  standard library's ``json`` on the same records: what the binary contract costs or saves.
- The province recomputation of the roll-up (``aggregate_province``) against a bare
  ``math.fsum`` over the same numbers: the overhead of the catalogue-driven rules.
- Peak memory of the worker's per-commune state for one period of all 3,321 communes
  (``tracemalloc``), against the size of the same figures as a flat list of floats.

Usage: ``python -m bench [--rounds N] [--json results.json]``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from baocao.core.avro import codec_for
from baocao.core.catalogue import load_catalogue
from baocao.core.models import CommuneReport
from baocao.core.reference import load_reference
from baocao.streams.rollup import LatestReport, aggregate_province


@dataclass
class Result:
    name: str
    baseline: str
    ops: int
    seconds: float
    baseline_seconds: float

    @property
    def ratio(self) -> float:
        """How many times slower than the baseline (1.0 = as fast)."""
        return self.seconds / self.baseline_seconds


def best_of(rounds: int, work: Callable[[], object]) -> float:
    """Median wall time of ``rounds`` runs: robust to a neighbour's burst of load."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sample_reports(count: int, seed: int = 2025) -> list[CommuneReport]:
    rng = random.Random(seed)
    reference = load_reference()
    codes = [i.code for i in load_catalogue().reported]
    communes = list(reference.communes.values())
    return [
        CommuneReport(
            report_id=f"00000000-0000-4000-8000-{index:012d}",
            commune_code=commune.code,
            province_code=commune.province_code,
            period="2025-08",
            revision=1,
            submitted_at=datetime(2025, 9, 3, tzinfo=UTC),
            indicators={code: float(rng.randint(0, 10_000)) for code in codes},
        )
        for index, commune in enumerate(rng.choices(communes, k=count))
    ]


def bench_codec(rounds: int) -> list[Result]:
    reports = sample_reports(5_000)
    codec = codec_for("commune_report.v1")
    records = [r.to_avro() for r in reports]
    json_records = [r.to_json() for r in reports]
    encoded = [codec.encode(r) for r in records]
    as_json = [json.dumps(r).encode() for r in json_records]
    encode = best_of(rounds, lambda: [codec.encode(r) for r in records])
    encode_json = best_of(rounds, lambda: [json.dumps(r).encode() for r in json_records])
    decode = best_of(rounds, lambda: [codec.decode(b) for b in encoded])
    decode_json = best_of(rounds, lambda: [json.loads(b) for b in as_json])
    return [
        Result("avro encode", "json.dumps", len(records), encode, encode_json),
        Result("avro decode", "json.loads", len(records), decode, decode_json),
    ]


def bench_rollup(rounds: int) -> list[Result]:
    reference = load_reference()
    catalogue = load_catalogue()
    province = max(reference.communes_by_province, key=reference.communes_expected)
    reports = [LatestReport.of(r) for r in sample_reports(reference.communes_expected(province))]
    columns = [[r.indicators[i.code] for r in reports] for i in catalogue.reported]
    rollup = best_of(rounds, lambda: aggregate_province(province, "2025-08", reports, catalogue))
    bare = best_of(rounds, lambda: [math.fsum(c) for c in columns])
    return [
        Result(
            f"province recompute ({len(reports)} communes)", "fsum per indicator", 1, rollup, bare
        )
    ]


def measure_state_memory() -> tuple[int, int]:
    """Peak bytes of the per-commune state of one period, and of the bare floats."""
    reports = sample_reports(len(load_reference().communes))
    tracemalloc.start()
    state = {r.key: LatestReport.of(r).to_state() for r in reports}
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    floats = sum(len(s["indicators"]) for s in state.values())
    return peak, floats * 8


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", dest="json_path", help="Also write the results to this file.")
    args = parser.parse_args(argv)

    results = bench_codec(args.rounds) + bench_rollup(args.rounds)
    peak, floats = measure_state_memory()
    print(f"{'benchmark':42} {'baseline':20} {'ops/s':>12} {'x baseline':>11}")
    for r in results:
        print(f"{r.name:42} {r.baseline:20} {r.ops / r.seconds:12,.0f} {r.ratio:11.2f}")
    print(
        f"{'worker state, 3,321 communes':42} {'raw float64s':20} {peak:>10,} B "
        f"{peak / floats:10.1f}x"
    )
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as out:
            json.dump(
                {
                    "results": [asdict(r) | {"ratio": r.ratio} for r in results],
                    "state_peak_bytes": peak,
                    "state_raw_bytes": floats,
                    "python": sys.version,
                },
                out,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
