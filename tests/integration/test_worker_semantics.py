"""``baocao worker`` against the real Kafka: deadlines, locks, approvals, warnings, history,
completeness and the schedule's announcements and alerts, each checked to the value.

Time is injected, never waited for: reports carry Kafka timestamps set by the producer
(``send(timestamp_ms=...)``) before and after a deadline or a lock, and the worker's clock
is shifted with ``BAOCAO_WORKER_CLOCK_OFFSET_SECONDS``. Reports stamped in 2025 would be
removed by the broker's 7-day retention at its next check, so these tests create their
input topics with unlimited retention first.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka.admin import NewTopic
from kafka.structs import TopicPartition
from support.settings import environment
from support.worker import (
    REPORTS,
    TopicReader,
    Worker,
    delete_topics_of,
    latest_by_key,
    wait_for,
    with_worker,
)

from baocao.core.instants import millis
from baocao.core.kafka import admin_client, ensure_topics, producer
from baocao.core.models import LOCAL_TIMEZONE, CommuneReport
from baocao.core.periods import deadline, locks_at, parse_period, period_containing
from baocao.core.reference import load_reference
from baocao.core.settings import Settings
from baocao.core.topics import Topics
from baocao.streams.schedule import province_partition

REFERENCE = load_reference()
PROVINCE = "01"
A, B, C = REFERENCE.communes_by_province[PROVINCE][:3]
OTHER = "79"
AUGUST = parse_period("2025-08")


def report(
    commune: str,
    revision: int,
    *,
    period: str,
    submitted_at: datetime,
    **indicators: float,
) -> CommuneReport:
    return CommuneReport(
        report_id=str(uuid.uuid4()),
        commune_code=commune,
        province_code=REFERENCE.communes[commune].province_code,
        period=period,
        revision=revision,
        submitted_at=submitted_at,
        indicators=indicators,
    )


def publish_at(
    settings: Settings, events: list[tuple[CommuneReport, datetime | None]]
) -> list[tuple[int, int]]:
    """Publish reports keyed by province with the given Kafka timestamps (``None``: now);
    (partition, offset) of each, after checking the partition is the province's."""
    topic = Topics(settings.kafka.topic_prefix).commune_reports
    sender = producer(settings.kafka)
    try:
        futures = [
            sender.send(
                topic,
                key=r.province_code.encode(),
                value=REPORTS.encode(r.to_avro()),
                timestamp_ms=None if at is None else millis(at),
            )
            for r, at in events
        ]
        sender.flush()
        placed = [future.get(timeout=30) for future in futures]
    finally:
        sender.close()
    for (r, _), metadata in zip(events, placed, strict=True):
        assert metadata.partition == province_partition(r.province_code, settings.kafka.partitions)
    return [(m.partition, m.offset) for m in placed]


def offset_to(target: datetime) -> float:
    """The clock offset that makes the worker's clock read ``target`` now."""
    return (target - datetime.now(UTC)).total_seconds()


@pytest.fixture
def topics(test_settings: Settings) -> Iterator[Topics]:
    """The test's topics, the input ones with unlimited retention (2025 timestamps)."""
    names = Topics(test_settings.kafka.topic_prefix)
    admin = admin_client(test_settings.kafka)
    try:
        admin.create_topics(
            [
                NewTopic(
                    name=name,
                    num_partitions=test_settings.kafka.partitions,
                    replication_factor=test_settings.kafka.replication_factor,
                    topic_configs={"retention.ms": "-1"},
                )
                for name in (names.commune_reports, names.approvals)
            ]
        )
    finally:
        admin.close()
    ensure_topics(test_settings.kafka)
    yield names
    delete_topics_of(test_settings)


@pytest.fixture
def readers(test_settings: Settings, topics: Topics) -> Iterator[Callable[[str, str], TopicReader]]:
    opened: list[TopicReader] = []

    def open_reader(topic: str, schema: str) -> TopicReader:
        reader = TopicReader(test_settings, topic, schema)
        opened.append(reader)
        return reader

    yield open_reader
    for reader in opened:
        reader.close()


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[[Settings], Worker]]:
    started: list[Worker] = []

    def start(settings: Settings) -> Worker:
        worker = Worker(settings, tmp_path / "worker.log")
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()


def figures_of(reader: TopicReader, period: str) -> dict[str, dict[str, Any]]:
    return {
        key.rsplit("|", 1)[1]: value
        for key, value in latest_by_key(reader.poll()).items()
        if key.startswith(f"{PROVINCE}|{period}|")
    }


def figure_values(
    reader: TopicReader, period: str, expected: dict[str, float]
) -> Callable[[], dict[str, dict[str, Any]] | None]:
    def check() -> dict[str, dict[str, Any]] | None:
        got = figures_of(reader, period)
        return got if {k: v["value"] for k, v in got.items()} == expected else None

    return check


def test_a_deadline_passing_and_a_lock_with_warnings_history_and_completeness(
    test_settings: Settings,
    topics: Topics,
    readers: Callable[[str, str], TopicReader],
    start_worker: Callable[[Settings], Worker],
) -> None:
    due, lock = deadline(AUGUST, test_settings.deadlines), locks_at(AUGUST, test_settings.deadlines)
    figures = readers(topics.province_indicators, "province_indicator.v2")
    accepted = readers(topics.accepted_reports, "accepted_report.v1")
    dead = readers(topics.dead_letter, "rejected_report.v1")
    changes = readers(topics.province_indicator_changes, "province_indicator_change.v1")
    completeness = readers(topics.province_completeness, "province_completeness.v1")
    warnings = readers(topics.report_warnings, "report_warning.v1")
    dossiers = ("tthc_received", "tthc_resolved_on_time", "tthc_resolved_late", "tthc_resolved")

    def values(*numbers: float) -> dict[str, float]:
        return dict(zip(dossiers, numbers, strict=True))

    a1 = report(A, 1, period="2025-08", submitted_at=due - timedelta(days=2), **values(10, 8, 1, 9))
    # late, and resolved on time + late (7) exceeds received (5): a warning, still counted
    b1 = report(B, 1, period="2025-08", submitted_at=due + timedelta(hours=1), **values(5, 6, 1, 7))
    a2 = report(
        A, 2, period="2025-08", submitted_at=lock - timedelta(hours=1), **values(12, 8, 1, 9)
    )
    c1 = report(C, 1, period="2025-08", submitted_at=lock, **values(1, 1, 0, 1))
    a3 = report(A, 3, period="2025-08", submitted_at=lock, **values(99, 1, 1, 2))
    worker = start_worker(test_settings)

    # One event at a time, each waited for: one batch, one version each.
    expected = {
        "tthc_received": 10.0,
        "tthc_resolved_on_time": 8.0,
        "tthc_resolved_late": 1.0,
        "tthc_resolved": 9.0,
        "tthc_on_time_rate": 8 / 9,
    }
    publish_at(test_settings, [(a1, a1.submitted_at)])
    wait_for("a1's figures", figure_values(figures, "2025-08", expected), worker=worker)
    publish_at(test_settings, [(b1, b1.submitted_at)])
    expected = {
        "tthc_received": 15.0,
        "tthc_resolved_on_time": 14.0,
        "tthc_resolved_late": 2.0,
        "tthc_resolved": 16.0,
        "tthc_on_time_rate": 14 / 16,
    }
    wait_for("b1's figures", figure_values(figures, "2025-08", expected), worker=worker)
    publish_at(test_settings, [(a2, lock - timedelta(hours=1))])  # a correction before the lock
    expected = {**expected, "tthc_received": 17.0}
    got = wait_for("a2's figures", figure_values(figures, "2025-08", expected), worker=worker)
    offsets = publish_at(
        test_settings, [(c1, lock + timedelta(seconds=1)), (a3, lock + timedelta(days=1))]
    )

    letters = wait_for(
        "two dead letters",
        lambda: r if len(r := dead.poll()) >= 2 else None,
        worker=worker,
    )
    assert sorted(
        (key, [x["code"] for x in v["reasons"]], v["source_offset"]) for key, v in letters
    ) == sorted([(C, ["period_locked"], offsets[0][1]), (A, ["period_locked"], offsets[1][1])])
    assert letters[0][1]["reasons"][0]["message_en"] == (
        "Period 2025-08 locked at 2025-10-05T23:59:59+07:00; it no longer accepts reports or "
        "revisions"
    )
    assert letters[0][1]["reasons"][0]["message_vi"] == (
        "Kỳ báo cáo 2025-08 đã khoá lúc 2025-10-05T23:59:59+07:00; không nhận thêm báo cáo hay "
        "điều chỉnh"
    )

    # figures: absolute, flagged, typed, with the deadline
    assert {
        code: (f["version"], f["communes_reported"], f["communes_with_warnings"])
        for code, f in got.items()
    } == {
        "tthc_received": (3, 2, 1),
        "tthc_resolved_on_time": (3, 2, 1),
        "tthc_resolved_late": (3, 2, 1),
        "tthc_resolved": (3, 2, 0),
        "tthc_on_time_rate": (3, 2, 1),
    }
    assert {(f["report_type"], f["deadline"], f["communes_amended"]) for f in got.values()} == {
        ("monthly", due.astimezone(UTC), 0)
    }

    # accepted records: timeliness judged on the first accepted revision
    by_revision = {(v["commune_code"], v["revision"]): v for _, v in accepted.poll()}
    assert set(by_revision) == {(A, 1), (B, 1), (A, 2)}
    assert [
        (
            by_revision[k]["on_time"],
            by_revision[k]["first_submitted_at"],
            by_revision[k]["accepted_at"],
        )
        for k in ((A, 1), (B, 1), (A, 2))
    ] == [
        (True, a1.submitted_at, a1.submitted_at),
        (False, b1.submitted_at, b1.submitted_at),
        (True, a1.submitted_at, lock - timedelta(hours=1)),
    ]
    assert {v["deadline"] for v in by_revision.values()} == {due.astimezone(UTC)}

    # completeness: expected = every commune of the province; one on time, one late
    final = wait_for(
        "completeness of the last recomputation (version 3)",
        lambda: (
            c
            if (c := latest_by_key(completeness.poll()).get(f"{PROVINCE}|monthly|2025-08"))
            and c["version"] >= 3
            else None
        ),
        worker=worker,
    )
    assert {k: v for k, v in final.items() if k != "updated_at"} == {
        "province_code": PROVINCE,
        "report_type": "monthly",
        "period": "2025-08",
        "deadline": due.astimezone(UTC),
        "communes_expected": REFERENCE.communes_expected(PROVINCE),
        "communes_reported": 2,
        "communes_on_time": 1,
        "communes_late": 1,
        "version": 3,
    }

    # the warning on b1, keyed by its commune
    [(key, warning)] = warnings.poll()
    assert key == B
    assert {
        k: warning[k]
        for k in (
            "warning_id",
            "rule_code",
            "indicator_code",
            "value",
            "reference_value",
            "raised_at",
        )
    } == {
        "warning_id": f"{b1.report_id}:resolved_exceeds_received:tthc_received",
        "rule_code": "resolved_exceeds_received",
        "indicator_code": "tthc_received",
        "value": 7.0,
        "reference_value": 5.0,
        "raised_at": b1.submitted_at,
    }

    # the history of tthc_received: each change, its version and its cause
    history = [
        (
            v["version"],
            v["previous_value"],
            v["value"],
            [
                (c["commune_code"], c["report_id"], c["revision"], c["previous_value"], c["value"])
                for c in v["causes"]
            ],
        )
        for k, v in changes.poll()
        if k == f"{PROVINCE}|2025-08|tthc_received"
    ]
    assert history == [
        (1, None, 10.0, [(A, a1.report_id, 1, None, 10.0)]),
        (2, 10.0, 15.0, [(B, b1.report_id, 1, None, 5.0)]),
        (3, 15.0, 17.0, [(A, a2.report_id, 2, 10.0, 12.0)]),
    ]
    # tthc_resolved did not move with a2: two changes only
    assert [
        v["version"] for k, v in changes.records if k == f"{PROVINCE}|2025-08|tthc_resolved"
    ] == [1, 2]
    assert worker.stop() == 0, worker.tail()


def committed(settings: Settings, topic: str, partition: int) -> int:
    """The worker's committed offset on a partition (-1: none yet)."""
    admin = admin_client(settings.kafka)
    try:
        group = settings.worker.app_id  # Faust's consumer group is its app id
        offsets = admin.list_group_offsets(group).get(group, {})
    finally:
        admin.close()
    found = offsets.get(TopicPartition(topic, partition))
    return found.offset if found is not None else -1


def test_an_approval_locks_later_submissions(
    test_settings: Settings,
    topics: Topics,
    readers: Callable[[str, str], TopicReader],
    start_worker: Callable[[Settings], Worker],
) -> None:
    period = period_containing("monthly", datetime.now(UTC)).previous().text  # not locked
    figures = readers(topics.province_indicators, "province_indicator.v2")
    dead = readers(topics.dead_letter, "rejected_report.v1")
    accepted = readers(topics.accepted_reports, "accepted_report.v1")
    approvals = readers(topics.approvals, "approval.v1")
    now = datetime.now(UTC).replace(microsecond=0)
    a1 = report(A, 1, period=period, submitted_at=now, tthc_received=10)
    worker = start_worker(test_settings)
    publish_at(test_settings, [(a1, None)])
    wait_for("a1's figure", figure_values(figures, period, {"tthc_received": 10.0}), worker=worker)

    approved = subprocess.run(
        [
            str(Path(sys.executable).with_name("baocao")),
            "approve",
            "--province",
            PROVINCE,
            "--period",
            period,
            "--report-type",
            "monthly",
            "--by",
            "Sở Nội vụ",
            "--note",
            "đã rà soát",
        ],
        env=environment(test_settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert approved.returncode == 0, approved.stdout + approved.stderr
    [(key, approval)] = wait_for(
        "the approval", lambda: r or None if (r := approvals.poll()) else None, worker=worker
    )
    assert key == PROVINCE
    assert (approval["province_code"], approval["report_type"], approval["period"]) == (
        PROVINCE,
        "monthly",
        period,
    )
    assert (approval["approved_by"], approval["note"]) == ("Sở Nội vụ", "đã rà soát")
    assert str(approval["approval_id"]) in approved.stdout
    partition = province_partition(PROVINCE, test_settings.kafka.partitions)
    wait_for(
        "the worker to take the approval",
        lambda: True if committed(test_settings, topics.approvals, partition) >= 1 else None,
        worker=worker,
    )

    a2 = report(A, 2, period=period, submitted_at=now, tthc_received=11)
    b1 = report(B, 1, period=period, submitted_at=now, tthc_received=1)
    publish_at(test_settings, [(a2, None), (b1, None), (a1, None)])  # a1 again: a resend

    letters = wait_for(
        "two dead letters", lambda: r if len(r := dead.poll()) >= 2 else None, worker=worker
    )
    assert sorted((k, v["revision"], [x["code"] for x in v["reasons"]]) for k, v in letters) == [
        (A, 2, ["period_locked"]),
        (B, 1, ["period_locked"]),
    ]
    when = approval["approved_at"].astimezone(LOCAL_TIMEZONE).isoformat(timespec="seconds")
    assert letters[0][1]["reasons"][0]["message_en"] == (
        f"Period {period} was approved by Sở Nội vụ at {when}; it no longer accepts reports "
        "or revisions"
    )
    # The resend of what was accepted before the approval is no submission: re-emitted.
    resent = wait_for(
        "the resend", lambda: r if len(r := accepted.poll()) >= 2 else None, worker=worker
    )
    assert [(v["revision"], str(v["report_id"])) for _, v in resent] == [(1, a1.report_id)] * 2
    assert {k: v["value"] for k, v in figures_of(figures, period).items()} == {
        "tthc_received": 10.0
    }
    assert worker.stop() == 0, worker.tail()


def test_the_schedule_announces_periods_and_alerts_on_missing_reports(
    test_settings: Settings,
    topics: Topics,
    readers: Callable[[str, str], TopicReader],
    start_worker: Callable[[Settings], Worker],
) -> None:
    rules = test_settings.deadlines
    due, lock = deadline(AUGUST, rules), locks_at(AUGUST, rules)
    figures = readers(topics.province_indicators, "province_indicator.v2")
    periods = readers(topics.reporting_periods, "reporting_period.v1")
    alerts = readers(topics.missing_report_alerts, "missing_reports_alert.v1")

    def worker_at(target: datetime) -> Worker:
        settings = with_worker(
            test_settings, clock_offset_seconds=offset_to(target), schedule_interval_seconds=0.5
        )
        return start_worker(settings)

    def alert(alert_id: str, worker: Worker) -> dict[str, Any]:
        return wait_for(
            f"alert {alert_id}",
            lambda: next((v for _, v in alerts.poll() if v["alert_id"] == alert_id), None),
            worker=worker,
        )

    # Five days before the deadline: August is not due yet, July is (until its lock).
    early = due - timedelta(days=5)
    worker = worker_at(early)
    reported = [report(c, 1, period="2025-08", submitted_at=early, tthc_received=1) for c in (A, B)]
    publish_at(test_settings, [(r, early - timedelta(days=1)) for r in reported])
    wait_for(
        "the figures", figure_values(figures, "2025-08", {"tthc_received": 2.0}), worker=worker
    )
    july = wait_for(
        "July announced",
        lambda: next((v for k, v in periods.poll() if k == "monthly|2025-07"), None),
        worker=worker,
    )
    assert july["deadline"] == deadline(parse_period("2025-07"), rules).astimezone(UTC)
    assert july["locks_at"] == locks_at(parse_period("2025-07"), rules).astimezone(UTC)
    assert early <= july["announced_at"] <= early + timedelta(minutes=2)
    assert worker.stop() == 0, worker.tail()
    assert not any(k == "monthly|2025-08" for k, _ in periods.poll())
    assert not any(
        v["period"] == "2025-08" and v["report_type"] == "monthly" for _, v in alerts.poll()
    )

    # A day before the deadline: August announced, the communes that did not report named.
    approaching = due - timedelta(days=1)
    worker = worker_at(approaching)
    got = alert(f"{PROVINCE}|monthly|2025-08|approaching", worker)
    expected_missing = [c for c in REFERENCE.communes_by_province[PROVINCE] if c not in (A, B)]
    assert {k: v for k, v in got.items() if k != "generated_at"} == {
        "alert_id": f"{PROVINCE}|monthly|2025-08|approaching",
        "province_code": PROVINCE,
        "report_type": "monthly",
        "period": "2025-08",
        "deadline": due.astimezone(UTC),
        "phase": "approaching",
        "commune_codes": expected_missing,
        "communes_expected": REFERENCE.communes_expected(PROVINCE),
    }
    assert approaching <= got["generated_at"] <= approaching + timedelta(minutes=2)
    other = alert(f"{OTHER}|monthly|2025-08|approaching", worker)
    assert other["commune_codes"] == list(REFERENCE.communes_by_province[OTHER])
    august = next(v for k, v in periods.poll() if k == "monthly|2025-08")
    assert {k: v for k, v in august.items() if k != "announced_at"} == {
        "report_type": "monthly",
        "period": "2025-08",
        "starts_at": AUGUST.starts_at.astimezone(UTC),
        "ends_at": AUGUST.ends_at.astimezone(UTC),
        "deadline": due.astimezone(UTC),
        "locks_at": lock.astimezone(UTC),
    }
    assert worker.stop() == 0, worker.tail()

    # An hour after the deadline: the same communes, overdue; every province is alerted once.
    overdue = due + timedelta(hours=1)
    worker = worker_at(overdue)
    got = alert(f"{PROVINCE}|monthly|2025-08|overdue", worker)
    assert (got["phase"], got["commune_codes"]) == ("overdue", expected_missing)

    def august_alerts() -> list[str]:
        return [
            v["alert_id"]
            for _, v in alerts.poll()
            if (v["report_type"], v["period"]) == ("monthly", "2025-08")
        ]

    every = 2 * len(REFERENCE.provinces)  # approaching, then overdue, for every province
    wait_for(
        "every province's alerts",
        lambda: True if len(august_alerts()) >= every else None,
        worker=worker,
    )
    time.sleep(1.5)  # three more ticks of the timer: nothing is alerted twice
    ids = august_alerts()
    assert len(ids) == len(set(ids)) == every
    assert worker.stop() == 0, worker.tail()


def test_officers_steps_from_the_dashboard_are_decided_by_the_worker(
    test_settings: Settings,
    topics: Topics,
    readers: Callable[[str, str], TopicReader],
    start_worker: Callable[[Settings], Worker],
    tmp_path: Path,
) -> None:
    """Issue 19 on the real Kafka and worker: the dashboard publishes each step (as the
    approver principal) and the worker decides: approve, unapprove with a reason, approve,
    accept nationally, then an unapproval refused for good; and two officers sending on the
    same version at once: one wins, the other gets a reason."""
    from support.officers import ORIGIN, make_officers, signed_in

    from baocao.app.web import create_app
    from baocao.core.principals import Principal, with_principal
    from baocao.core.settings import ClickHouseSettings
    from baocao.producers.approve import publish_approval

    period = period_containing("monthly", datetime.now(UTC)).previous().text
    decisions = readers(topics.approval_decisions, "approval_decision.v1")
    worker = start_worker(test_settings)
    approver = with_principal(test_settings, Principal.APPROVER).kafka
    officers = make_officers(tmp_path / "officers.db")
    app = create_app(
        ClickHouseSettings(port=1),  # never read: every step confirms its missing communes
        door=officers.door(),
        publish=lambda record: publish_approval(approver, record),
    )
    hanoi, national = signed_in(app, officers.hanoi), signed_in(app, officers.national)
    seen: list[dict[str, Any]] = []

    def step(client: Any, action: str, version: int, **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"action": action, "report_type": "monthly", "period": period}
        body |= {"based_on_version": version, "confirm_missing": True, **extra}
        sent = client.post(
            f"/api/provinces/{PROVINCE}/steps", json=body, headers={"Origin": ORIGIN}
        )
        assert sent.status_code == 202, sent.text
        wanted = sent.json()["approval_id"]

        def decided() -> dict[str, Any] | None:
            seen.extend(value for _, value in decisions.poll()[len(seen) :])
            return next((d for d in seen if str(d["approval_id"]) == wanted), None)

        return wait_for(f"the decision on {action}", decided, worker=worker)

    assert step(hanoi, "approve", 0)["state"] == "approved"
    assert step(hanoi, "unapprove", 1, note="số liệu xã sai")["state"] == "open"
    assert step(hanoi, "approve", 2)["actor"] == officers.hanoi[0]
    assert step(national, "accept", 3)["state"] == "accepted"
    refused = step(hanoi, "unapprove", 4, note="muộn")
    assert (refused["outcome"], refused["reason_code"]) == ("refused", "period_accepted")
    assert "tiếp nhận" in refused["reason_vi"]
    # Two officers on the same version at once (another period): one wins, one gets a reason.
    other = parse_period(period).previous().text
    first = step(hanoi, "approve", 0, period=other)
    second = step(national, "return", 0, period=other, commune=A, note="thiếu số liệu")
    assert (first["outcome"], second["outcome"]) == ("applied", "refused")
    assert second["reason_code"] == "concurrent_change" and officers.hanoi[0] in second["reason_en"]
    # A province officer cannot accept; another province is refused before anything is sent.
    body = {"action": "accept", "report_type": "monthly", "period": period, "based_on_version": 4}
    assert (
        hanoi.post(
            f"/api/provinces/{PROVINCE}/steps", json=body, headers={"Origin": ORIGIN}
        ).status_code
        == 403
    )
    assert (
        hanoi.post("/api/provinces/79/steps", json=body, headers={"Origin": ORIGIN}).status_code
        == 403
    )
