"""Sustained accepted reports per second through the HTTP gateway, against baselines run alongside.

Starts ``baocao gateway`` as a subprocess on a free loopback port (its own topics and token
database), issues one token per commune, and posts ``--requests`` realistic reports (one per
commune, from the simulator) with ``--concurrency`` requests in flight; every answer must be
202, and each 202 means Kafka acknowledged the report (``acks=all``). Two baselines, measured
in the same run on the same machine:

- ``baocao publish``'s path: the same reports sent straight to Kafka with the same
  :class:`~baocao.producers.publisher.ReportPublisher` (batched, one flush at the end): what a
  commune's HTTP round trip, the checks and the per-report acknowledgement cost against
  bulk publishing;
- ``GET /healthz`` (answered from its cache) at the same concurrency: the HTTP floor of this
  client and server, so the ratio says what the submission path adds to a bare round trip.

Each path also gets the CPU it used (the gateway's processes from ``/proc``, workers included;
the direct publisher's own process): milliseconds of CPU per report and reports per
CPU-second. On a shared machine the reports/s of one run move by a factor of two or three with
the neighbours' load; the CPU a report costs hardly moves, and says what the processes could
sustain on cores of their own (the gateway's workers scale to the cores it is given).

Usage: ``python -m bench.gateway [--requests 3000] [--concurrency 32] [--workers N]
[--json out.json]``
(needs ``baocao stack up``; loopback only, bounded in count).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from baocao.core.catalogue import load_catalogue
from baocao.core.kafka import admin_client
from baocao.core.models import CommuneReport
from baocao.core.principals import Principal, with_principal
from baocao.core.reference import load_reference
from baocao.core.settings import GatewaySettings, KafkaSettings, Settings
from baocao.producers.gateway.store import GatewayStore
from baocao.producers.gateway.tokens import Scope, TokenStore
from baocao.producers.jsonl import report_line
from baocao.producers.publisher import ReportPublisher
from baocao.producers.simulate import generate_reports

WARMUP = 200


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_gateway(settings: Settings, log: Path, *, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, **settings.as_environment(), "BAOCAO_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "baocao", "gateway"]
    if workers > 1:  # the option alone, so this harness also runs an older gateway
        command += ["--workers", str(workers)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=out)
    url = f"http://{settings.gateway.host}:{settings.gateway.port}/openapi.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the gateway exited:\n{log.read_text()}")
        try:
            httpx.get(url, timeout=1.0).raise_for_status()
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the gateway did not start within 60s")


class Connection:
    """A minimal keep-alive HTTP/1.1 client on one loopback connection: the load generator
    must cost far less than the server it measures (httpx's pool costs more than the gateway
    on two cores, which would measure the client)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        return cls(*await asyncio.open_connection(host, port))

    async def request(self, head: bytes, body: bytes = b"") -> int:
        self._writer.write(head + body)
        await self._writer.drain()
        header = await self._reader.readuntil(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        length = 0
        for line in header.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self._reader.readexactly(length)
        return status

    def close(self) -> None:
        self._writer.close()


def post_head(token: str, length: int) -> bytes:
    return (
        "POST /v1/reports HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


HEALTH_HEAD = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"


async def timed_requests(
    host: str,
    port: int,
    concurrency: int,
    requests: list[tuple[bytes, bytes]],
) -> tuple[float, dict[int, int]]:
    """Seconds for ``requests`` with ``concurrency`` connections busy, and their statuses."""
    statuses: dict[int, int] = {}
    pending = iter(requests)
    connections = [await Connection.open(host, port) for _ in range(concurrency)]

    async def worker(connection: Connection) -> None:
        for head, body in pending:
            status = await connection.request(head, body)
            statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    seconds = time.perf_counter() - started
    for connection in connections:
        connection.close()
    return seconds, statuses


@dataclass(frozen=True)
class Phase:
    """One timed phase: wall seconds, and CPU seconds the gateway's processes used in it."""

    seconds: float
    cpu_seconds: float


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants (the workers), from /proc:
    unlike reports/s, the CPU a report costs hardly moves when neighbours load the machine."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    family, frontier = {pid}, {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - family
        family |= frontier
    return sum(times.get(member, 0.0) for member in family)


async def measure_http(
    pid: int, port: int, bodies: list[bytes], tokens: list[str], concurrency: int
) -> tuple[Phase, Phase]:
    """(the submissions, as many /healthz requests)."""
    host = "127.0.0.1"
    health = [(HEALTH_HEAD, b"")] * len(bodies)
    await timed_requests(host, port, concurrency, health[:WARMUP])
    cpu = cpu_seconds(pid)
    health_seconds, health_statuses = await timed_requests(host, port, concurrency, health)
    cpu, health_cpu = cpu_seconds(pid), cpu_seconds(pid) - cpu
    if set(health_statuses) != {200}:
        raise SystemExit(f"/healthz answered {health_statuses}: is the stack up?")
    posts = [(post_head(t, len(b)), b) for t, b in zip(tokens, bodies, strict=True)]
    submit_seconds, statuses = await timed_requests(host, port, concurrency, posts)
    submit_cpu = cpu_seconds(pid) - cpu
    if set(statuses) != {202}:
        raise SystemExit(f"the submissions were answered {statuses}, not all 202")
    return Phase(submit_seconds, submit_cpu), Phase(health_seconds, health_cpu)


def measure_direct(settings: Settings, reports: list[CommuneReport]) -> Phase:
    """The same reports through ReportPublisher in this process (its CPU: this process's)."""
    with ReportPublisher(settings.kafka) as publisher:
        started, cpu = time.perf_counter(), time.process_time()
        for report in reports:
            publisher.send(report)
        publisher.flush()
        return Phase(time.perf_counter() - started, time.process_time() - cpu)


def with_new_ids(reports: list[CommuneReport]) -> list[CommuneReport]:
    return [
        CommuneReport(
            report_id=str(uuid.uuid4()),
            commune_code=r.commune_code,
            province_code=r.province_code,
            period=r.period,
            revision=r.revision,
            submitted_at=r.submitted_at,
            indicators=r.indicators,
        )
        for r in reports
    ]


def delete_topics(settings: Settings) -> None:
    """The broker is shared: leave no benchmark topics behind, also after a failure."""
    admin = admin_client(settings.kafka)
    try:
        prefix = f"{settings.kafka.topic_prefix}."
        created = [t for t in admin.list_topics() if t.startswith(prefix)]
        if created:
            admin.delete_topics(created)
    finally:
        admin.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway", description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="Gateway worker processes (baocao gateway --workers).",
    )
    parser.add_argument("--json", dest="json_path", help="Also write the results to this file.")
    args = parser.parse_args(argv)
    reference = load_reference()
    count = min(args.requests, len(reference.communes))

    prefix = f"bench-gw-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="baocao-bench-gw-") as folder:
        base = with_principal(Settings(), Principal.ADMIN)  # creates its own topics
        settings = base.model_copy(
            update={
                "kafka": KafkaSettings(**{**base.kafka.model_dump(), "topic_prefix": prefix}),
                "gateway": GatewaySettings(
                    host="127.0.0.1",
                    port=free_port(),
                    db_path=Path(folder) / "gateway.db",
                    rate_limit_per_second=0,
                ),
            }
        )
        reports = list(
            generate_reports(
                reference, load_catalogue(), period="2025-08", seed=2025, communes=count
            )
        )
        store = GatewayStore(settings.gateway.db_path).open()
        tokens_by_commune = {
            r.commune_code: TokenStore(store).issue(scope=Scope.COMMUNE, code=r.commune_code).token
            for r in reports
        }
        store.close()
        bodies = [report_line(r).encode() for r in reports]
        tokens = [tokens_by_commune[r.commune_code] for r in reports]
        try:
            process = start_gateway(settings, Path(folder) / "gateway.log", workers=args.workers)
            try:
                submit, health = asyncio.run(
                    measure_http(
                        process.pid, settings.gateway.port, bodies, tokens, args.concurrency
                    )
                )
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
            direct = measure_direct(settings, with_new_ids(reports))
        finally:
            delete_topics(settings)

    rows = (
        ("POST /v1/reports (202 = acked by Kafka)", submit),
        ("ReportPublisher straight to Kafka", direct),
        ("GET /healthz (cached): HTTP floor", health),
    )
    print(
        f"{count:,} reports, {args.concurrency} in flight, {args.workers} gateway process(es), "
        f"loopback, gateway and client on one {os.cpu_count()}-core machine"
    )
    print(f"{'path':42} {'reports/s':>9} {'gateway/this':>12} {'CPU ms each':>11} {'per CPU-s':>9}")
    for name, phase in rows:
        ratio = submit.seconds and phase.seconds / submit.seconds  # gateway's rate / this one
        cpu_ms, per_cpu_second = 1000 * phase.cpu_seconds / count, count / phase.cpu_seconds
        print(
            f"{name:42} {count / phase.seconds:9,.0f} {ratio:12.3f} {cpu_ms:11.3f} "
            f"{per_cpu_second:9,.0f}"
        )
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as out:
            json.dump(
                {
                    "reports": count,
                    "concurrency": args.concurrency,
                    "workers": args.workers,
                    "phases": {
                        name: {
                            "reports_per_second": count / phase.seconds,
                            "cpu_seconds": phase.cpu_seconds,
                        }
                        for name, phase in rows
                    },
                },
                out,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
