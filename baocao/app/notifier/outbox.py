"""The outbox and ledger (SQLite): every message is written here BEFORE it is sent, under its
key (recipient, commune, period, kind), and never queued twice.

States: ``pending`` (to send; retried with backoff while its channel is down), ``sent``,
``bounced`` (refused for good: an SMTP 5xx for the recipient, a webhook 4xx) and
``cancelled`` (the commune reported before it went out). The file survives restarts and
replays; a crash between a send and its ``sent`` mark sends the message again with the same
Message-ID (at most one distinct id per key; a receiver can drop the copy).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from baocao.app.notifier.compose import Draft, hashed

__all__ = ["Entry", "Outbox"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    key             TEXT PRIMARY KEY,
    message_id      TEXT NOT NULL,
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
    address         TEXT NOT NULL,
    kind            TEXT NOT NULL,
    commune         TEXT NOT NULL,
    province        TEXT NOT NULL,
    report_type     TEXT NOT NULL,
    period          TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sent', 'bounced', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error      TEXT NOT NULL DEFAULT '',
    decided_at      REAL NOT NULL,
    sent_at         REAL
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_by_commune ON outbox (commune, report_type, period, state);
"""


@dataclass(frozen=True, slots=True)
class Entry:
    """A message of the outbox as the channels send it."""

    key: str
    message_id: str
    channel: str
    address: str
    subject: str
    text: str
    #: What the webhook posts (and the e-mail's headers read): the notice and its recipient.
    payload: dict[str, Any]
    attempts: int
    decided_at: float


class Outbox:
    def __init__(self, path: Path) -> None:
        # Names, addresses and phones: 0600 in a 0700 folder (SQLite gives its -wal and -shm
        # files the database's mode).
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL with synchronous=NORMAL: a committed mark survives the process being killed
        # (it is in the OS's cache); only a power loss can take back the last marks, and
        # then those messages go out again with the same Message-ID. FULL (an fsync per
        # message) made a national deadline day 7x slower than raw smtplib (bench/notifier.py).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def enqueue(self, drafts: Iterable[Draft], *, now: float) -> int:
        """Write the drafts whose key is new (one transaction); how many were new."""
        rows = [_row(d, now) for d in drafts]
        before = self._db.total_changes
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "INSERT OR IGNORE INTO outbox (key, message_id, channel, address, kind, commune,"
                " province, report_type, period, subject, text, payload, next_attempt_at,"
                " decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return self._db.total_changes - before

    def cancel_reported(self, reported: Iterable[tuple[str, str, str]]) -> int:
        """Cancel the pending reminders and overdue notices of (commune, report type, period)
        that have reported; how many."""
        before = self._db.total_changes
        self._db.executemany(
            "UPDATE outbox SET state = 'cancelled' WHERE state = 'pending'"
            " AND kind IN ('reminder', 'overdue') AND commune = ? AND report_type = ?"
            " AND period = ?",
            list(reported),
        )
        return self._db.total_changes - before

    def due(self, now: float, limit: int) -> list[Entry]:
        """Pending messages whose next attempt has come, oldest decision first."""
        rows = self._db.execute(
            "SELECT key, message_id, channel, address, subject, text, payload, attempts,"
            " decided_at FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?"
            " ORDER BY decided_at, key LIMIT ?",
            (now, limit),
        )
        return [Entry(k, m, c, a, s, t, json.loads(p), n, d) for k, m, c, a, s, t, p, n, d in rows]

    def mark_sent(self, key: str, *, now: float) -> None:
        self._db.execute(
            "UPDATE outbox SET state = 'sent', sent_at = ?, attempts = attempts + 1 WHERE key = ?",
            (now, key),
        )

    def mark_bounced(self, key: str, reason: str, *, now: float) -> None:
        self._db.execute(
            "UPDATE outbox SET state = 'bounced', sent_at = ?, attempts = attempts + 1,"
            " last_error = ? WHERE key = ?",
            (now, reason[:500], key),
        )

    def retry_later(self, key: str, reason: str, *, at: float) -> None:
        self._db.execute(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?"
            " WHERE key = ?",
            (at, reason[:500], key),
        )

    def defer(self, channel: str, *, until: float) -> None:
        """Hold every pending message of ``channel`` due before ``until`` (the channel is down;
        one message probes it when the backoff ends)."""
        self._db.execute(
            "UPDATE outbox SET next_attempt_at = ? WHERE state = 'pending' AND channel = ?"
            " AND next_attempt_at < ?",
            (until, channel, until),
        )

    def counts(self) -> dict[str, int]:
        """Messages per state."""
        rows = self._db.execute("SELECT state, count(*) FROM outbox GROUP BY state")
        return {state: count for state, count in rows}

    def states(self) -> dict[str, str]:
        """Key -> state of every message (tests, ``baocao notifier status``)."""
        return dict(self._db.execute("SELECT key, state FROM outbox").fetchall())


def _row(draft: Draft, now: float) -> tuple[Any, ...]:
    notice = draft.notice
    payload = {
        "key": draft.key,
        "idempotency_key": hashed(draft.key),
        "message_id": draft.message_id,
        "kind": notice.kind,
        "report_type": notice.report_type,
        "period": notice.period,
        "deadline": notice.deadline.isoformat(),
        "province_code": notice.province,
        "commune_code": "" if notice.kind == "digest" else notice.subject,
        "day": notice.day,
        "missing": list(notice.missing),
        "late": list(notice.late),
        "recipient": {
            "name": draft.recipient_name,
            "address": draft.address,
            "language": draft.language,
        },
        "subject": draft.subject,
        "text": draft.text,
        "link": draft.link,
    }
    return (
        draft.key,
        draft.message_id,
        draft.channel,
        draft.address,
        notice.kind,
        notice.subject,
        notice.province,
        notice.report_type,
        notice.period,
        draft.subject,
        draft.text,
        json.dumps(payload, ensure_ascii=False),
        now,
        now,
    )
