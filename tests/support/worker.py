"""``baocao worker`` as a subprocess and the Kafka side of its tests: publishing reports,
reading the output topics back, waiting on them (shared by the worker, poison, semantics,
SASL and attack tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kafka import KafkaConsumer, TopicPartition

from baocao.core.avro import codec_for
from baocao.core.kafka import admin_client, client_options, producer
from baocao.core.models import CommuneReport
from baocao.core.periods import period_containing
from baocao.core.reference import load_reference
from baocao.core.settings import Settings
from baocao.core.topics import Topics
from support.settings import environment
from support.wait import eventually_some

REFERENCE = load_reference()
PROVINCE = "01"
#: Last month: open (not locked) whatever today is, since reports here carry today's Kafka
#: timestamps and a month locks 30 days after the 5th of the next.
PERIOD = period_containing("monthly", datetime.now(UTC)).previous().text
REPORTS = codec_for("commune_report.v1")
#: Worker start-up (topics, group join, table recovery) takes ~10 s here; this leaves room.
DEADLINE_SECONDS = 60.0

T = TypeVar("T")


def report(commune: str, revision: int, **indicators: float) -> CommuneReport:
    """A report of ``commune``, in province 01 (also when the commune code is unknown)."""
    return CommuneReport(
        report_id=str(uuid.uuid4()),
        commune_code=commune,
        province_code=PROVINCE,
        period=PERIOD,
        revision=revision,
        submitted_at=datetime.now(UTC).replace(microsecond=0),
        indicators=indicators,
    )


class Worker:
    """``baocao worker`` as a subprocess, logging to a file the test shows on failure."""

    def __init__(self, settings: Settings, log: Path, *args: str) -> None:
        self.settings = settings
        self.log = log
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        baocao = Path(sys.executable).with_name("baocao")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(baocao), "worker", *self.args],
                env=environment(self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=45)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"the worker ignored SIGTERM for 45 s; log:\n{self.tail()}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        """Teardown of a test that failed while the worker ran."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def assert_running(self) -> None:
        assert self.process is not None
        code = self.process.poll()
        assert code is None, f"the worker exited with {code}; log:\n{self.tail()}"

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class TopicReader:
    """Reads a whole topic from its start, keeping every decoded record seen so far."""

    def __init__(self, settings: Settings, topic: str, schema: str) -> None:
        self.codec = codec_for(schema)
        self.consumer = KafkaConsumer(**client_options(settings.kafka), enable_auto_commit=False)
        partitions = [TopicPartition(topic, p) for p in range(settings.kafka.partitions)]
        self.consumer.assign(partitions)
        self.consumer.seek_to_beginning(*partitions)
        self.records: list[tuple[str, dict[str, Any]]] = []

    def poll(self) -> list[tuple[str, dict[str, Any]]]:
        for batch in self.consumer.poll(timeout_ms=500).values():
            for message in batch:
                key = message.key.decode() if message.key is not None else ""
                self.records.append((key, self.codec.decode(message.value)))
        return self.records

    def close(self) -> None:
        self.consumer.close()


def wait_for(
    what: str, check: Callable[[], T | None], *, worker: Worker, timeout: float = DEADLINE_SECONDS
) -> T:
    """Poll ``check`` until it returns something, the worker dies, or the deadline passes."""
    return eventually_some(
        check,
        what=what,
        timeout=timeout,
        interval=0,  # check() itself polls Kafka for up to a second
        alive=worker.assert_running,
        log=lambda: f"worker log:\n{worker.tail()}",
    )


def latest_by_key(records: list[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """The record with the highest version per key (what the sink keeps)."""
    latest: dict[str, dict[str, Any]] = {}
    for key, value in records:
        if key not in latest or value["version"] >= latest[key]["version"]:
            latest[key] = value
    return latest


def figure_check(
    reader: TopicReader, expected: dict[str, float], *, newer_than: int = 0
) -> Callable[[], dict[str, dict[str, Any]] | None]:
    """A check for ``wait_for``: the province's latest figures equal ``expected``."""

    def check() -> dict[str, dict[str, Any]] | None:
        latest = latest_by_key(reader.poll())
        got = {
            key.rsplit("|", 1)[1]: value
            for key, value in latest.items()
            if key.startswith(f"{PROVINCE}|{PERIOD}|")
        }
        values = {code: figure["value"] for code, figure in got.items()}
        if values == expected and all(f["version"] > newer_than for f in got.values()):
            return got
        return None

    return check


def publish(settings: Settings, events: list[tuple[str, bytes]]) -> list[int]:
    """Send events in order to the input topic; their offsets."""
    topic = Topics(settings.kafka.topic_prefix).commune_reports
    sender = producer(settings.kafka)
    try:
        futures = [sender.send(topic, key=key.encode(), value=value) for key, value in events]
        sender.flush()
        return [future.get(timeout=30).offset for future in futures]
    finally:
        sender.close()


def encoded(r: CommuneReport) -> tuple[str, bytes]:
    return r.province_code, REPORTS.encode(r.to_avro())


def listening_ports(pid: int) -> set[int]:
    """TCP ports a process listens on (Linux: its socket inodes matched in /proc/net/tcp*)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def worker_starter(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """A fixture's body: ``start(*args, settings=...)`` starts ``baocao worker`` (with
    ``settings`` by default), logging to one file; any left running is killed after."""
    started: list[Worker] = []

    def start(*args: str, settings: Settings = settings) -> Worker:
        worker = Worker(settings, tmp_path / "worker.log", *args)
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()


def metrics_page(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as page:
        return str(page.read().decode())


def delete_topics_of(settings: Settings) -> None:
    """Leave the shared broker tidy: the test's topics and the worker's changelogs."""
    admin = admin_client(settings.kafka)
    try:
        owned = (f"{settings.kafka.topic_prefix}.", f"{settings.worker.app_id}-")
        admin.delete_topics([t for t in admin.list_topics() if t.startswith(owned)])
    finally:
        admin.close()


def with_worker(settings: Settings, **changes: Any) -> Settings:
    """``settings`` with ``BAOCAO_WORKER_*`` ``changes``."""
    return settings.model_copy(update={"worker": settings.worker.model_copy(update=changes)})
