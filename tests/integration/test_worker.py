"""``baocao worker`` against the real Kafka: what it publishes, and what it recovers.

The worker runs as a subprocess exactly as an operator starts it; the test publishes Avro
reports with kafka-python and reads the output topics back. Every wait polls the real topics
against a deadline.
"""

from __future__ import annotations

import os
import shutil
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
from support.net import free_port
from support.settings import environment
from support.wait import eventually_some

from baocao.core.avro import codec_for
from baocao.core.kafka import admin_client, client_options, ensure_topics, producer
from baocao.core.models import CommuneReport
from baocao.core.periods import period_containing
from baocao.core.reference import load_reference
from baocao.core.settings import Settings
from baocao.core.topics import Topics

REFERENCE = load_reference()
PROVINCE = "01"
A, B = REFERENCE.communes_by_province[PROVINCE][:2]
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


@pytest.fixture
def start_worker(test_settings: Settings, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Start ``baocao worker`` with the test's settings; any left running is killed after."""
    yield from worker_starter(test_settings, tmp_path)


def metrics_page(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as page:
        return str(page.read().decode())


@pytest.fixture
def readers(test_settings: Settings) -> Iterator[dict[str, TopicReader]]:
    ensure_topics(test_settings.kafka)
    topics = Topics(test_settings.kafka.topic_prefix)
    opened = {
        "figures": TopicReader(test_settings, topics.province_indicators, "province_indicator.v2"),
        "accepted": TopicReader(test_settings, topics.accepted_reports, "accepted_report.v1"),
        "dead": TopicReader(test_settings, topics.dead_letter, "rejected_report.v1"),
    }
    yield opened
    for reader in opened.values():
        reader.close()
    delete_topics_of(test_settings)


def delete_topics_of(settings: Settings) -> None:
    """Leave the shared broker tidy: the test's topics and the worker's changelogs."""
    admin = admin_client(settings.kafka)
    try:
        owned = (f"{settings.kafka.topic_prefix}.", f"{settings.worker.app_id}-")
        admin.delete_topics([t for t in admin.list_topics() if t.startswith(owned)])
    finally:
        admin.close()


def test_worker_publishes_latest_revisions_figures_and_dead_letters(
    test_settings: Settings,
    readers: dict[str, TopicReader],
    start_worker: Callable[..., Worker],
) -> None:
    metrics_port = free_port()
    a1 = report(
        A,
        1,
        tthc_received=10,
        tthc_resolved=8,
        tthc_resolved_on_time=6,
        internet_coverage_pct_max=99,
    )
    b1 = report(
        B,
        1,
        tthc_received=20,
        tthc_resolved=10,
        tthc_resolved_on_time=9,
        internet_coverage_pct_max=95,
    )
    a2 = report(
        A,
        2,
        tthc_received=12,
        tthc_resolved=8,
        tthc_resolved_on_time=7,
        internet_coverage_pct_max=80,
    )
    conflicting_a2 = report(A, 2, tthc_received=13)
    unknown = report("99999", 1, tthc_received=1)
    events = [
        encoded(a1),
        encoded(b1),
        encoded(a2),
        encoded(a2),  # the same event again: a duplicate
        encoded(a1),  # revision 1 after revision 2: stale
        encoded(conflicting_a2),
        (PROVINCE, b"\x00 definitely not Avro"),
        encoded(unknown),
    ]
    worker = start_worker("--metrics-port", str(metrics_port))
    offsets = publish(test_settings, events)

    figures = wait_for(
        "the province's final figures",
        figure_check(
            readers["figures"],
            {
                "tthc_received": 32.0,  # 12 (A, revision 2) + 20 (B)
                "tthc_resolved": 18.0,
                "tthc_resolved_on_time": 16.0,
                "tthc_on_time_rate": 16.0 / 18.0,
                "internet_coverage_pct_max": 95.0,  # A's 99 was corrected to 80
            },
        ),
        worker=worker,
    )
    assert {f["communes_reported"] for f in figures.values()} == {2}
    rate = figures["tthc_on_time_rate"]
    assert (rate["numerator"], rate["denominator"]) == (16.0, 18.0)

    dead = wait_for(
        "four dead letters",
        lambda: records if len(records := readers["dead"].poll()) >= 4 else None,
        worker=worker,
    )
    topic = Topics(test_settings.kafka.topic_prefix).commune_reports
    by_offset = {letter["source_offset"]: (key, letter) for key, letter in dead}
    assert len(dead) == 4 and len(by_offset) == 4
    expected = {
        offsets[4]: (A, "stale_revision"),
        offsets[5]: (A, "conflicting_revision"),
        offsets[6]: ("", "malformed_event"),
        offsets[7]: ("99999", "unknown_commune"),
    }
    for offset, (key, code) in expected.items():
        got_key, letter = by_offset[offset]
        assert (got_key, [r["code"] for r in letter["reasons"]]) == (key, [code])
        assert letter["rejection_id"] == (f"{topic}:{letter['source_partition']}:{offset}")
        assert letter["raw_payload"] == events[offsets.index(offset)][1]
    stale_reason = by_offset[offsets[4]][1]["reasons"][0]
    assert stale_reason["message_en"] == ("Revision 1 is older than revision 2 already accepted")

    accepted = wait_for(
        "four accepted records",
        lambda: r if len(r := readers["accepted"].poll()) >= 4 else None,
        worker=worker,
    )
    per_key: dict[str, list[tuple[int, str]]] = {}
    for key, record in accepted:  # ordered within a key (one partition per key)
        per_key.setdefault(key, []).append((record["revision"], str(record["report_id"])))
    assert per_key == {
        f"{A}|{PERIOD}": [
            (1, a1.report_id),
            (2, a2.report_id),
            (2, a2.report_id),  # the duplicate re-emits the revision held
        ],
        f"{B}|{PERIOD}": [(1, b1.report_id)],
    }

    # Faust's web server is off (web port 0): the metrics port is the only one open.
    assert listening_ports(worker.pid) == {metrics_port}
    counted = [
        'baocao_worker_events_total{outcome="accepted"} 3.0',
        'baocao_worker_events_total{outcome="duplicate"} 1.0',
        'baocao_worker_events_total{outcome="rejected"} 4.0',
        'baocao_worker_rejections_total{reason="stale_revision"} 1.0',
        'baocao_worker_rejections_total{reason="malformed_event"} 1.0',
    ]
    page = wait_for(
        "the metrics to count every event",
        lambda: (
            page if all(line in (page := metrics_page(metrics_port)) for line in counted) else None
        ),
        worker=worker,
    )
    # Everything published was processed: no input partition is behind.
    lags = [line for line in page.splitlines() if line.startswith("baocao_worker_consumer_lag{")]
    assert lags, page
    assert all(line.endswith(" 0.0") and ".commune-reports" in line for line in lags), lags

    assert worker.stop() == 0, worker.tail()


def test_worker_recovers_its_state_from_the_changelog_after_losing_its_disk(
    test_settings: Settings,
    readers: dict[str, TopicReader],
    start_worker: Callable[..., Worker],
) -> None:
    worker = start_worker()
    publish(
        test_settings,
        [
            encoded(report(A, 1, tthc_received=10, internet_coverage_pct_max=90)),
            encoded(report(B, 1, tthc_received=20, internet_coverage_pct_max=70)),
        ],
    )
    before = wait_for(
        "the figures of the first run",
        figure_check(
            readers["figures"], {"tthc_received": 30.0, "internet_coverage_pct_max": 90.0}
        ),
        worker=worker,
    )
    assert listening_ports(worker.pid) == set()  # web port 0: no web server
    assert worker.stop() == 0, worker.tail()

    shutil.rmtree(test_settings.worker.data_dir)  # only the changelog topics remain
    worker = start_worker()
    publish(test_settings, [encoded(report(B, 2, tthc_received=5, internet_coverage_pct_max=95))])

    after = wait_for(
        "figures from the recovered state and the new revision",
        figure_check(
            readers["figures"],
            {"tthc_received": 15.0, "internet_coverage_pct_max": 95.0},  # A's 10 + B's new 5
            newer_than=max(f["version"] for f in before.values()),
        ),
        worker=worker,
    )
    assert {f["communes_reported"] for f in after.values()} == {2}
    assert worker.stop() == 0, worker.tail()


def test_a_missing_state_folder_is_created_and_an_impossible_one_refused(
    test_settings: Settings,
    readers: dict[str, TopicReader],
    start_worker: Callable[..., Worker],
    tmp_path: Path,
) -> None:
    nested = tmp_path / "deep" / "ly" / "nested" / "state"
    settings = test_settings.model_copy(
        update={"worker": test_settings.worker.model_copy(update={"data_dir": nested})}
    )
    worker = Worker(settings, tmp_path / "nested.log")
    worker.start()
    try:
        publish(test_settings, [encoded(report(A, 1, tthc_received=3))])
        wait_for("figures", figure_check(readers["figures"], {"tthc_received": 3.0}), worker=worker)
        assert nested.is_dir()
        assert worker.stop() == 0, worker.tail()
    finally:
        worker.kill()

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    refused = subprocess.run(
        [str(Path(sys.executable).with_name("baocao")), "worker"],
        env={**environment(settings), "BAOCAO_WORKER_DATA_DIR": str(blocker / "x")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2
    assert f"cannot use {blocker / 'x'} as the worker's state folder" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_worker_killed_without_leaving_its_group_is_replaced_by_its_restart(
    test_settings: Settings,
    readers: dict[str, TopicReader],
    start_worker: Callable[..., Worker],
) -> None:
    """SIGKILL sends no LeaveGroup: the dead member stays in the group until its session
    expires, and the restarted worker's join waits for that. With Faust's default 60 s
    session it got no partition within the test's 60 s (what made the recovery test above
    flaky when a stop's LeaveGroup was lost); BAOCAO_WORKER_SESSION_TIMEOUT_SECONDS (10 s)
    bounds the wait."""
    worker = start_worker()
    publish(test_settings, [encoded(report(A, 1, tthc_received=10))])
    wait_for(
        "the first figures",
        figure_check(readers["figures"], {"tthc_received": 10.0}),
        worker=worker,
    )
    assert worker.process is not None
    worker.process.kill()
    worker.process.wait()

    worker = start_worker()
    publish(test_settings, [encoded(report(B, 1, tthc_received=5))])

    # 15 needs B's report, published after the restart. (The kill may fall between a batch's
    # outputs and its state: the replay then re-emits the same version, by design.)
    wait_for(
        "figures from the restarted worker",
        figure_check(readers["figures"], {"tthc_received": 15.0}),
        worker=worker,
    )
    assert worker.stop() == 0, worker.tail()
