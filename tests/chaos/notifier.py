"""The notifier's chaos row: ``baocao notifier`` SIGKILLed in the middle of a deadline day's
batch and started again; every expected message must arrive, with at most one distinct
Message-ID per key, and nothing for a commune that reported.

It runs on the chaos stack's data once the other faults are over: the notifier logs in as its
own ClickHouse login (``baocao_notifier``, which ``stack up`` created), its clock stands an
hour after last month's deadline, and the clerks of every commune of two provinces and their
officers have e-mail addresses. The SMTP server is aiosmtpd in this process.
"""

from __future__ import annotations

import json
import signal
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

from chaos.harness import Pipeline
from support.cli import start
from support.mailbox import Mailbox
from support.wait import eventually

from baocao.app.dashboard.contacts import Contact, ContactStore
from baocao.app.dashboard.officers import OfficerDatabase
from baocao.app.notifier.outbox import Outbox
from baocao.core.obligations import default_obligations
from baocao.core.periods import deadline, parse_period
from baocao.core.reference import load_reference
from baocao.core.settings import DeadlineSettings

__all__ = ["kill_the_notifier"]

#: Hà Nội and Hồ Chí Minh City: 294 communes between them.
PROVINCES = ("01", "79")
RATE = 40  # messages a second: the batch takes seconds, so the kill lands inside it


def clerk(commune: str) -> str:
    return f"clerk{commune}@example.vn"


def officer(province: str) -> str:
    return f"officer{province}@example.vn"


def _contacts(path: Path) -> None:
    reference = load_reference()
    store = ContactStore(OfficerDatabase(path).open(), reference)
    store.save(
        [
            *(
                Contact(code, "clerk", f"Cán bộ {code}", clerk(code), "", "vi")
                for province in PROVINCES
                for code in reference.communes_by_province[province]
            ),
            *(Contact(p, "officer", f"Lãnh đạo {p}", officer(p), "", "en") for p in PROVINCES),
        ],
        by="chaos",
    )


def _silent(pipeline: Pipeline, period: str) -> set[str]:
    """The communes of :data:`PROVINCES` that owe ``period`` and have no report in ClickHouse,
    read as the administrator (not through the notifier)."""
    reference = load_reference()
    provinces = ", ".join(f"'{p}'" for p in PROVINCES)
    reported = {
        code
        for (code,) in pipeline.query(
            f"SELECT DISTINCT commune_code FROM commune_reports WHERE period = '{period}'"
            f" AND province_code IN ({provinces})"
        )
    }
    obligations = default_obligations(reference)
    return {
        code
        for province in PROVINCES
        for code in obligations.due(reference.communes_by_province[province], parse_period(period))
        if code not in reported
    }


def kill_the_notifier(
    pipeline: Pipeline, *, smtp_port: int, period: str, timeout: float
) -> tuple[float | None, list[str], str]:
    """(seconds from the restart until every message arrived, problems, a note)."""
    folder = pipeline.logs / "notifier"
    folder.mkdir(exist_ok=True)
    _contacts(folder / "officers.db")
    silent = _silent(pipeline, period)
    expected = len(silent) + len(PROVINCES)  # overdue notices and one digest per officer
    after = deadline(parse_period(period), DeadlineSettings()) + timedelta(hours=1)
    env = {
        **pipeline.env(),
        "BAOCAO_DASHBOARD_DB_PATH": str(folder / "officers.db"),
        "BAOCAO_NOTIFIER_OUTBOX_PATH": str(folder / "outbox.db"),
        "BAOCAO_NOTIFIER_SMTP_PORT": str(smtp_port),
        "BAOCAO_NOTIFIER_PROVINCES": ",".join(PROVINCES),
        "BAOCAO_NOTIFIER_REMINDER_DAYS": json.dumps({"monthly": 3}),
        "BAOCAO_NOTIFIER_QUIET_HOURS": "",
        "BAOCAO_NOTIFIER_CLOCK_OFFSET_SECONDS": str(after.timestamp() - time.time()),
        "BAOCAO_NOTIFIER_MAX_MESSAGES_PER_SECOND": str(RATE),
        "BAOCAO_NOTIFIER_POLL_INTERVAL_SECONDS": "1",
        "BAOCAO_NOTIFIER_RETRY_INITIAL_SECONDS": "1",
        "BAOCAO_NOTIFIER_RETRY_MAX_SECONDS": "4",
    }
    mailbox = Mailbox(port=smtp_port).start()
    try:
        first = start("notifier", env=env, log_path=pipeline.logs / "notifier-1.log")
        pipeline.processes["notifier"] = first
        eventually(
            lambda: len(mailbox.messages()) >= expected // 4,
            what="the first quarter of the batch",
            timeout=timeout,
            alive=first.assert_running,
            log=first.log,
        )
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=30)
        before_restart = len(mailbox.messages())
        restarted = time.monotonic()
        second = start("notifier", env=env, log_path=pipeline.logs / "notifier-2.log")
        pipeline.processes["notifier"] = second
        eventually(
            lambda: len({m.key for m in mailbox.messages()}) >= expected,
            what="every expected message after the restart",
            timeout=timeout,
            alive=second.assert_running,
            log=second.log,
        )
        seconds = time.monotonic() - restarted
        time.sleep(2)  # a pass more: nothing new may arrive
        second.stop()
    finally:
        mailbox.stop()
    return (
        seconds,
        _problems(mailbox, folder, silent, expected, before_restart),
        (
            f"{expected} messages ({len(silent)} overdue, {len(PROVINCES)} digests); killed after"
            f" {before_restart}; {len(mailbox.messages()) - expected} resent with the same id"
        ),
    )


def _problems(
    mailbox: Mailbox, folder: Path, silent: set[str], expected: int, before_restart: int
) -> list[str]:
    problems = []
    if before_restart >= expected:
        problems.append("the kill came after the batch")
    outbox = Outbox(folder / "outbox.db")
    try:
        states = outbox.states()
    finally:
        outbox.close()
    if set(states.values()) != {"sent"} or len(states) != expected:
        problems.append(f"outbox: {sorted(set(states.values()))}, {len(states)} of {expected}")
    ids: dict[str, set[str]] = defaultdict(set)
    for message in mailbox.messages():
        ids[message.key].add(message.message_id)
    if set(ids) != set(states):
        problems.append(f"received keys differ from the ledger's: {len(set(ids) ^ set(states))}")
    doubled = [key for key, found in ids.items() if len(found) > 1]
    if doubled:
        problems.append(f"{len(doubled)} keys with two Message-IDs")
    overdue = {m.to for m in mailbox.messages() if m.message["X-Baocao-Kind"] == "overdue"}
    if overdue != {clerk(c) for c in silent}:
        problems.append(f"overdue notices to {len(overdue)} clerks, {len(silent)} silent")
    digests = {m.to for m in mailbox.messages() if m.message["X-Baocao-Kind"] == "digest"}
    if digests != {officer(p) for p in PROVINCES}:
        problems.append(f"digests to {sorted(digests)}")
    return problems
