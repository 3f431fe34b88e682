"""``baocao worker`` against the real Kafka: what it publishes, and what it recovers.

The worker runs as a subprocess exactly as an operator starts it; the test publishes Avro
reports with kafka-python and reads the output topics back. Every wait polls the real topics
against a deadline.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import pytest
from rocksdict import AccessType, Options, Rdict
from support.net import free_port
from support.settings import environment
from support.topics import read_topic
from support.worker import (
    PERIOD,
    PROVINCE,
    REFERENCE,
    TopicReader,
    Worker,
    delete_topics_of,
    encoded,
    figure_check,
    listening_ports,
    metrics_page,
    publish,
    report,
    wait_for,
    with_worker,
    worker_starter,
)

from baocao.core.kafka import ensure_topics
from baocao.core.settings import Settings
from baocao.core.topics import Topics
from baocao.streams.records import TABLE_NAMES

A, B = REFERENCE.communes_by_province[PROVINCE][:2]
#: Where Faust keeps a table partition's persisted changelog offset in its RocksDB.
OFFSET_KEY = b"__faust\0offset__"


@pytest.fixture
def start_worker(test_settings: Settings, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Start ``baocao worker`` with the test's settings; any left running is killed after."""
    yield from worker_starter(test_settings, tmp_path)


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


def _changelog(settings: Settings, topic: str) -> dict[int, tuple[dict[bytes, bytes], int]]:
    """Per partition of a changelog topic read whole: each key's last value, and the offset
    of the partition's last record (-1 when it has none)."""
    contents = read_topic(settings, topic, timeout=60)
    values: dict[int, dict[bytes, bytes]] = {p: {} for p in contents.end_offsets}
    for message in contents.records:
        values[message.partition][message.key] = message.value
    return {p: (values[p], end - 1) for p, end in contents.end_offsets.items()}


def _read_store(path: Path) -> dict[bytes, bytes]:
    """A stopped worker's RocksDB database of one table partition, whole."""
    db = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())
    try:
        # raw mode: keys and values are bytes (rocksdict's stubs type them more widely)
        return {cast(bytes, key): cast(bytes, value) for key, value in db.items()}
    finally:
        db.close()


def test_the_stored_state_is_its_changelog_and_the_persisted_offsets_its_last_records(
    test_settings: Settings,
    readers: dict[str, TopicReader],
    start_worker: Callable[..., Worker],
) -> None:
    # The worker stores a batch's writes itself (RocksDB, changelog, persisted offsets); a
    # restart or another worker recovers from the changelog past each persisted offset.
    worker = start_worker()
    publish(
        test_settings,
        [
            encoded(report(A, 1, tthc_received=10)),
            encoded(report(B, 1, tthc_received=20)),
            encoded(report(A, 2, tthc_received=12)),
        ],
    )
    totals = figure_check(readers["figures"], {"tthc_received": 32.0})
    wait_for("the figures of both communes", totals, worker=worker)
    assert worker.stop() == 0, worker.tail()

    app_id, folder = test_settings.worker.app_id, test_settings.worker.data_dir / "v1" / "tables"
    stored_keys = 0
    for table in TABLE_NAMES:
        changelog = _changelog(test_settings, f"{app_id}-{table}-changelog")
        for partition, (values, last_offset) in changelog.items():
            path = folder / f"{table}-{partition}.db"
            stored = _read_store(path) if path.exists() else {}
            offset = stored.pop(OFFSET_KEY, None)
            assert stored == values, (table, partition)
            assert offset == (str(last_offset).encode() if last_offset >= 0 else None), (
                table,
                partition,
            )
            stored_keys += len(stored)
    # latest: 2 communes; versions, figures, aggregates: 1 province and period each.
    assert stored_keys == 5


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


def test_a_lone_report_goes_when_the_input_is_drained_not_when_the_window_ends(
    test_settings: Settings,
    readers: dict[str, TopicReader],
    start_worker: Callable[..., Worker],
) -> None:
    # A 30-second window: a worker that waits for its batch window to end would make the
    # correction's figures wait up to 30 s; the drained batch sends them at once.
    settings = with_worker(test_settings, batch_within_seconds=30.0)
    worker = start_worker(settings=settings)
    publish(settings, [encoded(report(A, 1, tthc_received=10))])
    wait_for(
        "the first figures (the worker has joined its group)",
        figure_check(readers["figures"], {"tthc_received": 10.0}),
        worker=worker,
        timeout=90,
    )

    sent = time.monotonic()
    publish(settings, [encoded(report(A, 2, tthc_received=12))])
    wait_for(
        "the correction's figures",
        figure_check(readers["figures"], {"tthc_received": 12.0}),
        worker=worker,
        timeout=30,
    )
    assert time.monotonic() - sent < 8.0, worker.tail()
    assert worker.stop() == 0, worker.tail()
