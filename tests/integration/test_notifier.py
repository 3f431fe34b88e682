"""``baocao notifier`` against a real SMTP server (aiosmtpd) and a real webhook receiver in
the test process, on a real ClickHouse fed by the real worker and sink.

The notifier's clock is shifted to 48 hours before, then after, the deadline of last month's
monthly reports in Lai Châu (38 communes); what each contact received is checked message by
message.
"""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clickhouse_driver import Client
from support.cli import start
from support.mailbox import Mailbox, WebhookReceiver
from support.net import free_port
from support.notifier import (
    OFFICER,
    PROVINCE,
    SECRET,
    clerk_address,
    clock_at,
    communes,
    deadline_of,
    offset_to,
    save_contacts,
    with_notifier,
)
from support.settings import environment
from support.sink import fast, running_sink
from support.wait import eventually
from support.worker import REPORTS, Worker, publish, worker_starter

from baocao.app.dashboard.contacts import Contact
from baocao.app.notifier.commands import build_notifier
from baocao.app.notifier.compose import hashed
from baocao.app.notifier.outbox import Outbox
from baocao.app.notifier.service import Notifier
from baocao.app.notifier.webhook import SIGNATURE_HEADER, signature
from baocao.core.models import LOCAL_TIMEZONE, CommuneReport
from baocao.core.periods import period_containing
from baocao.core.settings import Settings

pytestmark = pytest.mark.integration

#: Last month: open whatever day the test runs (it locks 30 days after the 5th).
PERIOD = period_containing("monthly", datetime.now(UTC)).previous().text
DEADLINE = deadline_of(PERIOD)
SILENT, REPORTING, *OTHERS = communes()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox().start()
    yield box
    box.stop()


@pytest.fixture
def start_worker(test_settings: Settings, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    yield from worker_starter(test_settings, tmp_path)


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


def notifier_at(settings: Settings, instant: datetime) -> Notifier:
    """The notifier as ``baocao notifier`` builds it, its clock at ``instant``."""
    service = build_notifier(settings)
    service.clock = clock_at(instant)
    return service


def report_of(commune: str) -> tuple[str, bytes]:
    report = CommuneReport(
        report_id=str(uuid.uuid4()),
        commune_code=commune,
        province_code=PROVINCE,
        period=PERIOD,
        revision=1,
        submitted_at=datetime.now(UTC).replace(microsecond=0),
        indicators={"tthc_received": 10, "tthc_resolved": 8, "tthc_resolved_on_time": 7},
    )
    return PROVINCE, REPORTS.encode(report.to_avro())


def wait_reported(db: Client, commune: str, worker: Worker) -> None:
    query = "SELECT count() FROM commune_receipts WHERE commune_code = %(c)s AND period = %(p)s"
    eventually(
        lambda: db.execute(query, {"c": commune, "p": PERIOD})[0][0] == 1,
        what=f"{commune}'s report in ClickHouse",
        timeout=90,
        alive=worker.assert_running,
        log=worker.tail,
    )


def test_reminder_then_overdue_and_digest_then_nothing_once_reported(
    test_settings: Settings,
    db: Client,
    tmp_path: Path,
    mailbox: Mailbox,
    webhook: WebhookReceiver,
    start_worker: Callable[..., Worker],
) -> None:
    settings = with_notifier(test_settings, tmp_path, mailbox, webhook=webhook)
    save_contacts(
        tmp_path / "officers.db",
        [
            Contact(SILENT, "clerk", "Giàng Thị Mỷ", clerk_address(SILENT), "0912000111", "vi"),
            Contact(REPORTING, "clerk", "Tom Lee", clerk_address(REPORTING), "", "en"),
        ],
    )
    worker = start_worker()
    with running_sink(fast(test_settings)):
        publish(settings, [report_of(REPORTING)])
        wait_reported(db, REPORTING, worker)

        # 48 hours before the deadline: one reminder to the silent commune, by e-mail
        # and by webhook; nothing to the commune that reported; no digest yet.
        notifier_at(settings, DEADLINE - timedelta(hours=48)).run_once()
        (reminder,) = mailbox.to(clerk_address(SILENT))
        assert "sắp đến hạn" in reminder.subject
        assert PERIOD in reminder.subject
        assert f"23:59 ngày {DEADLINE.astimezone(LOCAL_TIMEZONE):%d/%m/%Y}" in reminder.text
        assert f"period={PERIOD}" in reminder.text
        assert reminder.message["Message-ID"].endswith("@baocao.local>")
        assert mailbox.to(clerk_address(REPORTING)) == []
        assert mailbox.to(OFFICER) == []
        (call,) = webhook.calls
        assert call.headers[SIGNATURE_HEADER] == signature(call.body, SECRET)
        assert call.json["kind"] == "reminder"
        assert call.json["commune_code"] == SILENT
        assert call.json["recipient"]["address"] == "0912000111"
        assert call.headers["Idempotency-Key"] == hashed(call.json["key"])

        # An hour later (a restart, a replay): nothing is sent twice.
        notifier_at(settings, DEADLINE - timedelta(hours=47)).run_once()
        assert len(mailbox.messages()) == 1 and len(webhook.calls) == 1

        # After the deadline: one overdue notice, one digest listing every missing commune.
        after = DEADLINE + timedelta(hours=1)
        notifier_at(settings, after).run_once()
        silent_mail = mailbox.to(clerk_address(SILENT))
        assert len(silent_mail) == 2
        overdue = silent_mail[1]
        assert overdue.subject.startswith("Quá hạn")
        assert overdue.message_id != reminder.message_id
        (digest,) = mailbox.to(OFFICER)
        missing_part = digest.text.split("Chưa gửi", 1)[1].split("Gửi muộn", 1)[0]
        assert {SILENT, *OTHERS} == {c for c in communes() if f"({c})" in missing_part}
        assert f"({REPORTING})" not in missing_part
        assert f"{len(OTHERS) + 1} xã chưa gửi" in digest.subject
        assert f"#/p/{PROVINCE}?type=monthly&period={PERIOD}" in digest.text
        assert mailbox.to(clerk_address(REPORTING)) == []
        assert [c.json["kind"] for c in webhook.calls] == ["reminder", "overdue"]

        # The silent commune reports: nothing more reaches its clerk; the officer's next
        # daily digest no longer lists it as missing.
        publish(settings, [report_of(SILENT)])
        wait_reported(db, SILENT, worker)
        notifier_at(settings, after + timedelta(days=1)).run_once()
        assert len(mailbox.to(clerk_address(SILENT))) == 2
        assert len(webhook.calls) == 2
        first, second = mailbox.to(OFFICER)
        missing_part = second.text.split("Chưa gửi", 1)[1].split("Gửi muộn", 1)[0]
        assert f"({SILENT})" not in missing_part
        assert len(OTHERS) == sum(f"({c})" in missing_part for c in OTHERS)
        assert second.message_id != first.message_id


def expected_keys(settings: Settings) -> set[str]:
    outbox = Outbox(settings.notifier.outbox(settings.stack.home))
    try:
        return set(outbox.states())
    finally:
        outbox.close()


def assert_each_key_arrived_with_one_message_id(mailbox: Mailbox, keys: set[str]) -> None:
    ids: dict[str, set[str]] = defaultdict(set)
    for message in mailbox.messages():
        ids[message.key].add(message.message_id)
    assert set(ids) == keys
    assert all(len(found) == 1 for found in ids.values()), ids


def test_a_notifier_killed_mid_batch_loses_nothing(
    test_settings: Settings, db: Client, tmp_path: Path, mailbox: Mailbox
) -> None:
    """SIGKILL while it sends 39 messages (38 overdue notices and a digest) at 10 a second;
    the restarted notifier sends the rest, with the same Message-ID for any resent key."""
    settings = with_notifier(
        test_settings,
        tmp_path,
        mailbox,
        max_messages_per_second=10.0,
        clock_offset_seconds=offset_to(DEADLINE + timedelta(hours=1)),
    )
    save_contacts(
        tmp_path / "officers.db",
        [Contact(c, "clerk", f"Cán bộ {c}", clerk_address(c), "", "vi") for c in communes()],
    )
    env = environment(settings, BAOCAO_LOG_LEVEL="INFO")
    first = start("notifier", env=env, log_path=tmp_path / "notifier-1.log")
    try:
        eventually(
            lambda: len(mailbox.messages()) >= 8,
            what="the first messages",
            timeout=60,
            alive=first.assert_running,
            log=first.log,
        )
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=10)
    finally:
        first.stop()
    arrived_before_restart = len(mailbox.messages())
    assert arrived_before_restart < 39, "killed too late to test a restart mid-batch"

    second = start("notifier", env=env, log_path=tmp_path / "notifier-2.log")
    try:
        eventually(
            lambda: len({m.key for m in mailbox.messages()}) == 39,
            what="every message after the restart",
            timeout=60,
            alive=second.assert_running,
            log=second.log,
        )
    finally:
        second.stop()
    keys = expected_keys(settings)
    assert len(keys) == 39
    assert_each_key_arrived_with_one_message_id(mailbox, keys)


def test_smtp_down_for_30_seconds_then_every_message_arrives(
    test_settings: Settings, db: Client, tmp_path: Path, mailbox: Mailbox
) -> None:
    settings = with_notifier(test_settings, tmp_path, mailbox)
    clerks = communes()[:5]
    save_contacts(
        tmp_path / "officers.db",
        [Contact(c, "clerk", f"Cán bộ {c}", clerk_address(c), "", "vi") for c in clerks],
    )
    mailbox.stop()
    stop = threading.Event()

    def run() -> None:  # SQLite connections stay in the thread that opened them
        notifier_at(settings, DEADLINE + timedelta(hours=1)).run(stop)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        time.sleep(30)
        assert mailbox.messages() == []
        outbox = Outbox(settings.notifier.outbox(settings.stack.home))
        assert outbox.counts() == {"pending": 6}
        outbox.close()
        mailbox.start()  # the same port
        eventually(
            lambda: len(mailbox.messages()) == 6, what="every message after the outage", timeout=30
        )
    finally:
        stop.set()
        thread.join(timeout=30)
    keys = expected_keys(settings)
    assert_each_key_arrived_with_one_message_id(mailbox, keys)
    assert {m.to for m in mailbox.messages()} == {*map(clerk_address, clerks), OFFICER}


def test_a_permanently_refused_address_is_bounced_once(
    test_settings: Settings, db: Client, tmp_path: Path, mailbox: Mailbox
) -> None:
    settings = with_notifier(test_settings, tmp_path, mailbox)
    gone, kept = communes()[:2]
    save_contacts(
        tmp_path / "officers.db",
        [Contact(c, "clerk", f"Cán bộ {c}", clerk_address(c), "", "vi") for c in (gone, kept)],
    )
    mailbox.refused.add(clerk_address(gone))
    for hours in (1, 2, 3):
        notifier_at(settings, DEADLINE + timedelta(hours=hours)).run_once()
    outbox = Outbox(settings.notifier.outbox(settings.stack.home))
    try:
        states = {json.loads(key)[0]: state for key, state in outbox.states().items()}
        attempts = outbox._db.execute(
            "SELECT attempts, last_error FROM outbox WHERE state = 'bounced'"
        ).fetchall()
    finally:
        outbox.close()
    assert states == {
        f"email:{clerk_address(gone)}": "bounced",
        f"email:{clerk_address(kept)}": "sent",
        f"email:{OFFICER}": "sent",
    }
    assert [(n, e.startswith("550")) for n, e in attempts] == [(1, True)]
    assert {m.to for m in mailbox.messages()} == {clerk_address(kept), OFFICER}


def test_with_clickhouse_unreachable_what_is_queued_still_goes_out(
    test_settings: Settings, db: Client, tmp_path: Path, mailbox: Mailbox
) -> None:
    settings = with_notifier(test_settings, tmp_path, mailbox)
    save_contacts(
        tmp_path / "officers.db",
        [Contact(SILENT, "clerk", "Giàng Thị Mỷ", clerk_address(SILENT), "", "vi")],
    )
    mailbox.stop()
    after = DEADLINE + timedelta(hours=1)
    assert notifier_at(settings, after).run_once().queued == 2
    mailbox.start()
    unreachable = settings.clickhouse.model_copy(update={"port": free_port()})
    cut_off = settings.model_copy(update={"clickhouse": unreachable})
    done = notifier_at(cut_off, after + timedelta(seconds=5)).run_once()
    assert (done.queued, done.delivered.sent) == (0, 2)
    assert {m.to for m in mailbox.messages()} == {clerk_address(SILENT), OFFICER}


def test_a_webhook_answering_503_is_retried_and_one_answering_400_bounces(
    test_settings: Settings,
    db: Client,
    tmp_path: Path,
    mailbox: Mailbox,
    webhook: WebhookReceiver,
) -> None:
    settings = with_notifier(test_settings, tmp_path, mailbox, webhook=webhook)
    save_contacts(
        tmp_path / "officers.db",
        [
            Contact(SILENT, "clerk", "Giàng Thị Mỷ", "", "0912000111", "vi"),
            Contact(REPORTING, "clerk", "Lò Thị Hoa", "", "0912000222", "vi"),
        ],
    )
    after = DEADLINE + timedelta(hours=1)
    webhook.status = 503
    held = notifier_at(settings, after).run_once()
    # Two overdue notices held (one call tried, the other held with it), the digest e-mailed.
    assert (held.queued, held.delivered.sent, held.delivered.deferred) == (3, 1, 1)
    assert webhook.calls == [] and len(mailbox.to(OFFICER)) == 1
    webhook.status = 204
    sent = notifier_at(settings, after + timedelta(seconds=1)).run_once()
    assert (sent.queued, sent.delivered.sent) == (0, 2)
    assert sorted(c.json["recipient"]["address"] for c in webhook.calls) == [
        "0912000111",
        "0912000222",
    ]
    # A gateway that refuses a message for good (400) bounces it, once.
    webhook.status = 400
    save_contacts(
        tmp_path / "officers.db",
        [Contact(OTHERS[0], "clerk", "Vàng A Sử", "", "0912000333", "vi")],
    )
    notifier_at(settings, after + timedelta(seconds=2)).run_once()
    notifier_at(settings, after + timedelta(seconds=5)).run_once()
    outbox = Outbox(settings.notifier.outbox(settings.stack.home))
    try:
        states = {json.loads(key)[0]: state for key, state in outbox.states().items()}
    finally:
        outbox.close()
    assert states["webhook:0912000333"] == "bounced"
    assert states["webhook:0912000111"] == states["webhook:0912000222"] == "sent"
