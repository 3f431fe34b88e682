"""The notifier's pass, in one explicit order:

1. decide: the watched periods, who reported, the notices due (:mod:`.due`);
2. cancel the pending reminders and notices of communes that have reported;
3. write every new message to the outbox (a key already there is not written again);
4. deliver what is due (:mod:`.delivery`).

A crash anywhere repeats the pass: step 3 adds nothing twice, step 4 sends what is pending.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from baocao.app.dashboard.contacts import ContactStore
from baocao.app.notifier.clock import Clock
from baocao.app.notifier.compose import Draft, drafts_of
from baocao.app.notifier.delivery import Channel, Delivered, deliver
from baocao.app.notifier.due import decide, watched_periods
from baocao.app.notifier.exceptions import NotifierError
from baocao.app.notifier.outbox import Outbox
from baocao.app.notifier.reads import ContactBook, statuses_of
from baocao.core.obligations import Obligations, default_obligations
from baocao.core.reference import ReferenceData, load_reference
from baocao.core.settings import Settings

__all__ = ["Notifier", "Pass"]

logger = logging.getLogger(__name__)


@dataclass
class Pass:
    """What one pass did: messages queued, cancelled, and the delivery's outcome."""

    queued: int
    cancelled: int
    delivered: Delivered


class Notifier:
    def __init__(
        self,
        settings: Settings,
        *,
        outbox: Outbox,
        contacts: ContactStore,
        channels: dict[str, Channel],
        clock: Clock | None = None,
        reference: ReferenceData | None = None,
        obligations: Obligations | None = None,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.contacts = contacts
        self.channels = channels
        self.clock = clock or Clock(settings.notifier.clock_offset_seconds)
        self.reference = reference or load_reference()
        self.obligations = obligations or default_obligations(self.reference)
        self.provinces = settings.notifier.province_codes or tuple(self.reference.provinces)

    def decide(self) -> tuple[int, int]:
        """Steps 1-3: (messages newly queued, pending messages cancelled)."""
        rules = self.settings.notifier
        now = self.clock.now()
        watched = watched_periods(
            now, rules.reminder_days, rules.follow_up_days, self.settings.deadlines
        )
        statuses = statuses_of(
            watched,
            self.provinces,
            self.settings.clickhouse,
            self.reference,
            self.obligations,
        )
        reported = [
            (commune, str(s.watched.period.report_type), s.watched.period.text)
            for s in statuses
            for commune in s.reported
        ]
        cancelled = self.outbox.cancel_reported(reported)
        book = ContactBook(self.contacts, self.provinces)
        drafts: list[Draft] = []
        for notice in decide(now, statuses, rules.follow_up_days):
            if notice.kind == "digest":
                recipients = book.officers(notice.province)
            else:
                recipients = book.clerks(notice.subject)
            drafts += drafts_of(notice, recipients, self.reference, rules)
        queued = self.outbox.enqueue(drafts, now=self.clock.timestamp())
        return queued, cancelled

    def run_once(self, stop: threading.Event | None = None) -> Pass:
        """One pass. ClickHouse or the contacts unreadable: nothing new is decided, but what
        is already in the outbox is still sent."""
        try:
            queued, cancelled = self.decide()
        except NotifierError as exc:
            logger.error("could not decide what is due (the outbox is still sent): %s", exc)
            queued = cancelled = 0
        delivered = deliver(
            self.outbox, self.channels, self.clock, self.settings.notifier, stop=stop
        )
        logger.info(
            "queued %d, cancelled %d, sent %d, bounced %d, held %d%s",
            queued,
            cancelled,
            delivered.sent,
            delivered.bounced,
            delivered.deferred,
            " (quiet hours)" if delivered.quiet else "",
        )
        return Pass(queued, cancelled, delivered)

    def run(self, stop: threading.Event) -> None:
        """Passes every poll interval until ``stop`` (which also ends a batch between two
        messages: SIGTERM never waits for a whole deadline day)."""
        while not stop.is_set():
            self.run_once(stop)
            stop.wait(self.settings.notifier.poll_interval_seconds)
