"""The demo's mailbox: ``baocao demo`` ends with one pass of ``baocao notifier`` into an SMTP
server in this process (aiosmtpd), which files each message it accepts into an mbox file,
``<stack home>/demo/notifier.mbox`` (``mail -f`` or any mail client opens it).

The demo leaves a few Hà Nội communes silent and gives their clerks example.vn addresses.
The notifier's clock stands 48 hours before the deadline of the demo's period, so each of
those clerks gets one reminder ("sắp đến hạn") whatever day the demo runs. Its outbox is the
demo's own, emptied at every run (the real one's ledger would send a key only once, ever).
"""

from __future__ import annotations

import logging
import mailbox
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from baocao.app.dashboard.contacts import Contact, ContactStore
from baocao.app.dashboard.officers import open_officers
from baocao.app.notifier.commands import build_notifier
from baocao.core.periods import deadline, parse_period
from baocao.core.reference import load_reference
from baocao.core.settings import Settings

__all__ = ["SILENT_COMMUNES", "DemoMailbox", "demo_contacts", "demo_mailbox"]

#: Hà Nội communes the demo does not publish (00070 is the demo clerk's: the reminder's
#: link leads that clerk to the form of the period) and their clerks' languages.
SILENT_COMMUNES: dict[str, str] = {"00070": "vi", "00073": "vi", "00091": "en"}
#: The notifier's clock in the demo: this long before the deadline of the demo's period.
BEFORE_DEADLINE = timedelta(hours=48)


@dataclass(frozen=True, slots=True)
class DemoMailbox:
    """The mbox file the pass wrote, how many messages it holds, and the first one's
    subject (empty when none)."""

    path: Path
    messages: int
    subject: str


def demo_contacts() -> list[Contact]:
    """One clerk per silent commune, at an example.vn address."""
    return [
        Contact(code, "clerk", f"Văn thư xã {code} (demo)", f"vanthu.{code}@example.vn", "", lang)
        for code, lang in SILENT_COMMUNES.items()
    ]


def demo_mailbox(
    settings: Settings,
    *,
    period: str,
    form_url: str | None = None,
    dashboard_url: str | None = None,
) -> DemoMailbox:
    """Save the demo's contacts, run one notifier pass at 48 hours before ``period``'s
    deadline into an SMTP server filing into ``<stack home>/demo/notifier.mbox`` (replaced),
    and say what it holds. ``settings``' ClickHouse login is the one the notifier reads with."""
    folder = settings.stack.home.absolute() / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    path, outbox = folder / "notifier.mbox", folder / "notifier-outbox.db"
    for stale in (path, outbox, Path(f"{outbox}-wal"), Path(f"{outbox}-shm")):
        stale.unlink(missing_ok=True)
    store = ContactStore(open_officers(settings), load_reference())
    store.save(demo_contacts(), by="demo")
    moment = deadline(parse_period(period), settings.deadlines) - BEFORE_DEADLINE
    with _smtp_server_into(path) as port:
        links = {"form_url": form_url, "dashboard_url": dashboard_url}
        notifier = settings.notifier.model_copy(
            update={
                "smtp_host": "127.0.0.1",
                "smtp_port": port,
                "smtp_starttls": "off",
                "smtp_user": "",
                "webhook_url": "",
                "provinces": "01",
                "reminder_days": {"monthly": 3},
                "quiet_hours": "",
                "outbox_path": outbox,
                "max_messages_per_second": 0.0,
                "clock_offset_seconds": (moment - datetime.now(UTC)).total_seconds(),
                **{name: url for name, url in links.items() if url},
            }
        )
        build_notifier(settings.model_copy(update={"notifier": notifier})).run_once()
    box = mailbox.mbox(path)
    try:
        # The bytes as filed: a compat32 message re-generated would pad a folded subject.
        parsed = [message_from_bytes(box.get_bytes(key), policy=default) for key in box.iterkeys()]
    finally:
        box.close()
    return DemoMailbox(path, len(parsed), str(parsed[0]["Subject"]) if parsed else "")


class _IntoMbox:
    """An aiosmtpd handler: each accepted message appended to one mbox file."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        with self._lock:
            box = mailbox.mbox(self._path)
            try:
                box.lock()
                box.add(content)
                box.flush()
            finally:
                box.unlock()
                box.close()
        return "250 Message accepted"


@contextmanager
def _smtp_server_into(path: Path) -> Iterator[int]:
    """An SMTP server on a free loopback port (yielded) filing into ``path``; its protocol
    chatter (aiosmtpd logs every command at INFO) stays out of the demo's output."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(_IntoMbox(path), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()
