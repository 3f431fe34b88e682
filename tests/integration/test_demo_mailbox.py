"""``baocao demo``'s mailbox: one notifier pass, on a migrated per-test database holding the
dashboard's known month, into the demo's SMTP server and its mbox file."""

from __future__ import annotations

import mailbox
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from support.dashboard import HANOI, PERIOD, Seeded, migrated, seed

from baocao.app.dashboard.contacts import Contact, ContactStore
from baocao.app.dashboard.officers import open_officers
from baocao.app.demo_mailbox import SILENT_COMMUNES, demo_mailbox
from baocao.core.reference import load_reference
from baocao.core.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def seeded(test_settings: Settings, clickhouse_db: str, tmp_path: Path) -> tuple[Settings, Seeded]:
    with migrated(test_settings) as client:
        communes = seed(client)
    settings = test_settings.model_copy(
        update={
            "stack": test_settings.stack.model_copy(update={"home": tmp_path / "home"}),
            "dashboard": test_settings.dashboard.model_copy(
                update={"db_path": tmp_path / "officers.db"}
            ),
        }
    )
    return settings, communes


def messages(path: Path) -> list[EmailMessage]:
    """The mbox's messages, as a mail client reads them."""
    box = mailbox.mbox(path)
    try:
        parsed = [message_from_bytes(box.get_bytes(key), policy=default) for key in box.iterkeys()]
    finally:
        box.close()
    return [m for m in parsed if isinstance(m, EmailMessage)]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def test_the_demo_files_one_reminder_per_silent_commune_into_an_mbox(
    seeded: tuple[Settings, Seeded],
) -> None:
    settings, communes = seeded
    reference = load_reference()
    # A clerk of a commune that reported the period: nothing for them.
    ContactStore(open_officers(settings), reference).save(
        [Contact(communes.on_time, "clerk", "Đã nộp", "danop@example.vn", "", "vi")], by="test"
    )
    assert communes.missing in SILENT_COMMUNES  # 00070, the demo clerk's commune

    held = demo_mailbox(settings, period=PERIOD, form_url="http://127.0.0.1:18099")
    assert held.path == settings.stack.home.absolute() / "demo" / "notifier.mbox"
    received = messages(held.path)
    assert held.messages == len(received) == len(SILENT_COMMUNES) == 3
    assert held.subject == str(received[0]["Subject"])
    by_address = {m["To"].addresses[0].addr_spec: m for m in received}
    assert sorted(by_address) == sorted(f"vanthu.{c}@example.vn" for c in SILENT_COMMUNES)
    due_soon = {"vi": "sắp đến hạn", "en": "due soon"}
    for code, language in SILENT_COMMUNES.items():
        message = by_address[f"vanthu.{code}@example.vn"]
        commune = reference.communes[code]
        assert commune.province_code == HANOI
        assert str(message["Subject"]).endswith(f"{PERIOD} {due_soon[language]}: {commune.name}")
        link = f"http://127.0.0.1:18099/?type=monthly&period={PERIOD}"
        assert link in text_of(message)

    # A second demo replaces the mailbox (its outbox too): the same three messages, not six.
    again = demo_mailbox(settings, period=PERIOD)
    assert again.messages == 3 and len(messages(again.path)) == 3
