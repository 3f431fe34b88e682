"""The notifier's test setup: a small province (Lai Châu, 38 communes), its clerks' and
officer's contacts in a dashboard database of the test's own, settings pointing the notifier
at the test's SMTP server and webhook, and its clock shifted to a chosen instant."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from pydantic import SecretStr

from baocao.app.dashboard.contacts import Contact, ContactStore
from baocao.app.dashboard.officers import OfficerDatabase
from baocao.app.notifier.clock import Clock
from baocao.core.periods import deadline, parse_period
from baocao.core.reference import load_reference
from baocao.core.settings import NotifierSettings, Settings
from support.mailbox import Mailbox, WebhookReceiver
from support.settings import RULES

__all__ = [
    "PROVINCE",
    "SECRET",
    "clerk_address",
    "clock_at",
    "communes",
    "deadline_of",
    "offset_to",
    "save_contacts",
    "with_notifier",
]

#: Lai Châu, the province with the fewest communes (38): a digest lists them all.
PROVINCE = "12"
OFFICER = "officer12@example.vn"
SECRET = "test-webhook-secret"
REFERENCE = load_reference()


def communes() -> tuple[str, ...]:
    return REFERENCE.communes_by_province[PROVINCE]


def clerk_address(commune: str) -> str:
    return f"clerk{commune}@example.vn"


def deadline_of(period: str) -> datetime:
    return deadline(parse_period(period), RULES)


def offset_to(instant: datetime) -> float:
    """The clock offset that makes the notifier's ``now`` equal ``instant``."""
    return instant.timestamp() - time.time()


def clock_at(instant: datetime) -> Clock:
    return Clock(offset_to(instant))


def save_contacts(
    path: Path, clerks: Iterable[Contact], *, officer_language: str = "vi"
) -> ContactStore:
    """The test's dashboard database at ``path`` with ``clerks`` and one officer of
    :data:`PROVINCE`."""
    store = ContactStore(OfficerDatabase(path).open(), REFERENCE)
    officer = Contact(PROVINCE, "officer", "Lò Văn Thắng", OFFICER, "", officer_language)
    store.save([*clerks, officer], by="test")
    return store


def with_notifier(
    settings: Settings,
    tmp_path: Path,
    mailbox: Mailbox,
    *,
    webhook: WebhookReceiver | None = None,
    **changes: object,
) -> Settings:
    """``settings`` whose notifier sends to ``mailbox`` (and ``webhook``), watches monthly
    reports of :data:`PROVINCE` only (reminders 2 days ahead), has no quiet hours and retries
    within a second; its outbox and the contacts live in ``tmp_path``."""
    notifier = NotifierSettings(
        smtp_port=mailbox.port,
        webhook_url=webhook.url if webhook is not None else "",
        webhook_secret=SecretStr(SECRET),
        provinces=PROVINCE,
        reminder_days={"monthly": 2},
        follow_up_days=3,
        quiet_hours="",
        outbox_path=tmp_path / "outbox.db",
        poll_interval_seconds=0.5,
        retry_initial_seconds=0.5,
        retry_max_seconds=2.0,
    ).model_copy(update=changes)
    dashboard = settings.dashboard.model_copy(update={"db_path": tmp_path / "officers.db"})
    return settings.model_copy(
        update={"notifier": notifier, "dashboard": dashboard, "deadlines": RULES}
    )
