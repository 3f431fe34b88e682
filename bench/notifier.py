"""``baocao notifier`` on a national deadline day, against raw smtplib, in one run.

Every commune (3,321) has a clerk with an e-mail address and every province (34) an officer;
nobody has reported last month. The notifier's clock stands one hour after the deadline, so
one pass decides 3,320 overdue notices (Đặc khu Hoàng Sa owes no report) and 34 digests,
writes them to its outbox and sends them to a real SMTP server (aiosmtpd, in this process,
loopback). Measured:

- the pass: messages per second, split into deciding (ClickHouse read, templates, outbox
  writes) and delivering (SMTP and the ledger's ``sent`` marks, each on disk before the next
  message);
- the delay from each message's decision to the server's acceptance (p50, p99, max);
- a repeat pass (a restart, a replay): what deciding again costs when nothing is new;
- the baseline: the same messages, already built, sent by raw smtplib over one connection
  with no ledger at all. The ratio is what the at-most-once ledger and the templates cost.

Usage: ``python -m bench.notifier [--json out.json]`` (needs ``baocao stack up``; it creates and
drops a database of its own).
"""

from __future__ import annotations

import argparse
import email.policy
import json
import smtplib
import socket
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from baocao.app.dashboard.contacts import Contact, ContactStore
from baocao.app.dashboard.officers import OfficerDatabase
from baocao.app.notifier.clock import Clock
from baocao.app.notifier.commands import build_notifier
from baocao.app.notifier.delivery import deliver
from baocao.app.notifier.mail import email_message
from baocao.core.clickhouse import connect
from baocao.core.periods import deadline, period_containing
from baocao.core.reference import load_reference
from baocao.core.settings import ClickHouseSettings, NotifierSettings, Settings
from baocao.sinks.clickhouse.migrate import migrate


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Counter:
    """An aiosmtpd handler that counts what it accepted."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.count += len(envelope.rcpt_tos)
        return "250 OK"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def contacts(path: Path) -> None:
    reference = load_reference()
    store = ContactStore(OfficerDatabase(path).open(), reference)
    clerks = [
        Contact(code, "clerk", f"Cán bộ {code}", f"clerk{code}@example.vn", "", "vi")
        for code in reference.communes
    ]
    officers = [
        Contact(code, "officer", f"Lãnh đạo {code}", f"officer{code}@example.vn", "", "en")
        for code in reference.provinces
    ]
    store.save([*clerks, *officers], by="bench")


def run(folder: Path) -> dict[str, Any]:
    base = Settings().with_clickhouse_login("admin")
    database = f"bench_notifier_{uuid.uuid4().hex[:8]}"
    clickhouse = ClickHouseSettings(**{**base.clickhouse.model_dump(), "database": database})
    counter = Counter()
    port = free_port()
    server = Controller(counter, hostname="127.0.0.1", port=port)
    server.start()
    period = period_containing("monthly", datetime.now(UTC)).previous()
    after_deadline = deadline(period, base.deadlines) + timedelta(hours=1)
    settings = base.model_copy(
        update={
            "clickhouse": clickhouse,
            "dashboard": base.dashboard.model_copy(update={"db_path": folder / "officers.db"}),
            "notifier": NotifierSettings(
                smtp_port=port,
                quiet_hours="",
                reminder_days={"monthly": 3},
                outbox_path=folder / "outbox.db",
                batch_size=10_000,
            ),
        }
    )
    try:
        migrate(clickhouse)
        contacts(folder / "officers.db")
        notifier = build_notifier(settings)
        notifier.clock = Clock(after_deadline.timestamp() - time.time())

        started = time.perf_counter()
        queued, _ = notifier.decide()
        decided = time.perf_counter()
        delivered = deliver(notifier.outbox, notifier.channels, notifier.clock, settings.notifier)
        finished = time.perf_counter()
        assert delivered.sent == queued == counter.count, (delivered.sent, queued, counter.count)

        repeat_started = time.perf_counter()
        again, _ = notifier.decide()
        repeat = time.perf_counter() - repeat_started
        assert again == 0

        # The baseline: the same messages, built beforehand, raw smtplib, one connection.
        rows = notifier.outbox._db.execute("SELECT key FROM outbox").fetchall()
        notifier.outbox._db.execute("UPDATE outbox SET state = 'pending'")
        entries = notifier.outbox.due(notifier.clock.timestamp(), len(rows))
        wire = email.policy.compat32.clone(linesep="\r\n")  # as send_message writes it
        built = [
            (e.address, email_message(e, settings.notifier).as_bytes(policy=wire)) for e in entries
        ]
        before = counter.count
        baseline_started = time.perf_counter()
        client = smtplib.SMTP("127.0.0.1", port)
        for address, message in built:
            client.sendmail("baocao@localhost", [address], message)
        client.quit()
        baseline = time.perf_counter() - baseline_started
        assert counter.count - before == len(built)
    finally:
        server.stop()
        connect(clickhouse, use_database=False).execute(f"DROP DATABASE IF EXISTS {database}")
    total = finished - started
    return {
        "messages": queued,
        "digests": sum(1 for e in entries if e.payload["kind"] == "digest"),
        "pass_seconds": round(total, 3),
        "decide_seconds": round(decided - started, 3),
        "deliver_seconds": round(finished - decided, 3),
        "messages_per_second": round(queued / total, 1),
        "delivered_per_second": round(queued / (finished - decided), 1),
        "delay_p50_seconds": round(statistics.median(delivered.delays), 3),
        "delay_p99_seconds": round(percentile(delivered.delays, 0.99), 3),
        "delay_max_seconds": round(max(delivered.delays), 3),
        "repeat_pass_seconds": round(repeat, 3),
        "baseline_seconds": round(baseline, 3),
        "baseline_per_second": round(len(built) / baseline, 1),
        "ratio_pass_to_baseline": round(total / baseline, 2),
        "ratio_deliver_to_baseline": round((finished - decided) / baseline, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-notifier-") as folder:
        figures = run(Path(folder))
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
