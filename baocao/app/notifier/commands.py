"""``baocao notifier``: reminders, overdue notices and province digests by e-mail and webhook.

    baocao notifier            # a pass every BAOCAO_NOTIFIER_POLL_INTERVAL_SECONDS until stopped
    baocao notifier --once     # one pass (decide, queue, send what is due), then exit
    baocao notifier --status   # messages per state in the outbox, as JSON

It logs in to ClickHouse as ``baocao_notifier`` (read-only) and reads the contacts from the
dashboard's SQLite file; it needs no Kafka access (docs/security.md).
"""

from __future__ import annotations

import json
import signal
import threading
from types import FrameType

import typer

from baocao.app.dashboard.contacts import ContactStore
from baocao.app.dashboard.officers import open_officers
from baocao.app.notifier.delivery import Channel
from baocao.app.notifier.mail import SmtpChannel
from baocao.app.notifier.outbox import Outbox
from baocao.app.notifier.service import Notifier
from baocao.app.notifier.webhook import WebhookChannel
from baocao.core.reference import load_reference
from baocao.core.settings import Settings

__all__ = ["build_notifier", "notifier"]


def build_notifier(settings: Settings) -> Notifier:
    """The notifier of ``settings``: its outbox, the contacts, the configured channels."""
    outbox = Outbox(settings.notifier.outbox(settings.stack.home))
    contacts = ContactStore(open_officers(settings), load_reference())
    channels: dict[str, Channel] = {"email": SmtpChannel(settings.notifier)}
    if settings.notifier.webhook_url:
        channels["webhook"] = WebhookChannel(settings.notifier)
    return Notifier(settings, outbox=outbox, contacts=contacts, channels=channels)


def notifier(
    once: bool = typer.Option(False, "--once", help="One pass, then exit."),
    status: bool = typer.Option(False, "--status", help="Messages per state, as JSON."),
) -> None:
    """Send reminders before a deadline, overdue notices after it and a daily digest to each
    province's officers (e-mail over SMTP, and a signed webhook for phones)."""
    settings = Settings().with_clickhouse_login("notifier")
    service = build_notifier(settings)
    if status:
        typer.echo(json.dumps(service.outbox.counts()))
        return
    if once:
        service.run_once()
        return
    stop = threading.Event()

    def stopping(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    service.run(stop)
