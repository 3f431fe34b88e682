"""``baocao publish``'s path against a bare kafka-python producer, in one run.

Writes ``--periods`` months of simulated reports of every commune to a JSON-lines file, then
times, each on its own fresh topics of the shared broker:

- ``baocao publish``'s path: the command's own reader (every line parsed and checked with the
  stream's rules), :func:`~baocao.producers.runs.publish_lines` and
  :class:`~baocao.producers.publisher.ReportPublisher` (Avro encoding, province keys, delivery
  callbacks, one flush at the end);
- the same path without Kafka (lines read, parsed and checked, reports encoded): what the
  command itself costs;
- a bare kafka-python producer with the project's producer options (``acks=all``, idempotent,
  the same batching) sending the already encoded values with their keys, one flush at the
  end: the floor of the client and the broker.

Usage: ``python -m bench.publish [--periods 3] [--json out.json]`` (needs ``baocao stack up``;
loopback only).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from baocao.core.catalogue import load_catalogue
from baocao.core.kafka import ensure_topics, producer
from baocao.core.principals import Principal, with_principal
from baocao.core.reference import load_reference
from baocao.core.settings import KafkaSettings, Settings
from baocao.core.topics import Topics
from baocao.producers.jsonl import RejectsWriter, ReportLineReader, report_line
from baocao.producers.publisher import ReportPublisher, encode_report, report_key
from baocao.producers.runs import publish_lines
from baocao.producers.simulate import generate_reports
from bench.gateway import delete_topics

PERIODS = ("2025-06", "2025-07", "2025-08", "2025-09", "2025-10", "2025-11")


def with_prefix(base: Settings, prefix: str) -> Settings:
    kafka = KafkaSettings(**{**base.kafka.model_dump(), "topic_prefix": prefix})
    return base.model_copy(update={"kafka": kafka})


def write_file(path: Path, periods: int) -> int:
    reference, catalogue = load_reference(), load_catalogue()
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for period in PERIODS[:periods]:
            for report in generate_reports(reference, catalogue, period=period, seed=2025):
                out.write(report_line(report) + "\n")
                count += 1
    return count


def reader(stream: IO[bytes]) -> ReportLineReader:
    return ReportLineReader(
        stream, reference=load_reference(), catalogue=load_catalogue(), validate=True
    )


@dataclass(frozen=True)
class Phase:
    """Wall and CPU seconds (this process, the producer's sender thread included)."""

    seconds: float
    cpu_seconds: float

    @classmethod
    def since(cls, started: float, cpu: float) -> Phase:
        return cls(time.perf_counter() - started, time.process_time() - cpu)


def time_publish(settings: Settings, path: Path) -> Phase:
    """``baocao publish --file path`` without its progress bar: the same reader, loop and
    publisher."""
    with path.open("rb") as stream, ReportPublisher(settings.kafka) as publisher:
        started, cpu = time.perf_counter(), time.process_time()
        outcome = publish_lines(reader(stream), publisher, rejects=RejectsWriter(None))
        phase = Phase.since(started, cpu)
    if outcome.rejected.lines:
        raise SystemExit(f"{outcome.rejected.lines} simulated lines were rejected")
    return phase


def time_without_kafka(path: Path) -> tuple[Phase, list[tuple[bytes, bytes]]]:
    """Read, check and encode every line; also returns the records for the bare producer."""
    with path.open("rb") as stream:
        started, cpu = time.perf_counter(), time.process_time()
        records = [
            (report_key(line.report), encode_report(line.report))
            for line in reader(stream)
            if line.report is not None
        ]
        return Phase.since(started, cpu), records


def time_bare(settings: Settings, records: list[tuple[bytes, bytes]]) -> Phase:
    ensure_topics(settings.kafka)
    topic = Topics(settings.kafka.topic_prefix).commune_reports
    client = producer(settings.kafka)
    try:
        client.partitions_for(topic)
        started, cpu = time.perf_counter(), time.process_time()
        for key, value in records:
            client.send(topic, key=key, value=value)
        client.flush()
        return Phase.since(started, cpu)
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.publish", description=__doc__)
    parser.add_argument("--periods", type=int, default=3, choices=range(1, len(PERIODS) + 1))
    parser.add_argument("--json", dest="json_path", help="Also write the results to this file.")
    args = parser.parse_args(argv)
    base = with_principal(Settings(), Principal.ADMIN)  # creates and deletes its own topics
    run = f"bench-pub-{uuid.uuid4().hex[:8]}"
    command, bare = with_prefix(base, f"{run}-cmd"), with_prefix(base, f"{run}-bare")
    with tempfile.TemporaryDirectory(prefix="baocao-bench-pub-") as folder:
        path = Path(folder) / "reports.jsonl"
        count = write_file(path, args.periods)
        try:
            local, records = time_without_kafka(path)
            bare_phase = time_bare(bare, records)
            publish = time_publish(command, path)
        finally:
            delete_topics(command)
            delete_topics(bare)
    rows = (
        ("baocao publish (read, check, encode, send, flush)", publish),
        ("bare kafka-python producer, encoded values", bare_phase),
        ("read, check and encode only (no Kafka)", local),
    )
    print(f"{count:,} reports ({args.periods} months of every commune), one broker on loopback")
    print(f"{'path':50} {'reports/s':>9} {'publish/this':>12} {'CPU ms each':>11}")
    for name, phase in rows:
        ratio = phase.seconds / publish.seconds  # publish's rate / this one
        print(
            f"{name:50} {count / phase.seconds:9,.0f} {ratio:12.3f} "
            f"{1000 * phase.cpu_seconds / count:11.4f}"
        )
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as out:
            phases = {
                name: {"reports_per_second": count / p.seconds, "cpu_seconds": p.cpu_seconds}
                for name, p in rows
            }
            json.dump({"reports": count, "phases": phases}, out, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
