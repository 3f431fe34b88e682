"""The messages' words and keys: Vietnamese by default, English by the contact's choice;
each names the period, the report type, the deadline and its link; the same key gives the
same Message-ID, another recipient or kind another."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path

import pytest
from support.settings import RULES
from typer.testing import CliRunner

from baocao.app.cli import app as cli
from baocao.app.dashboard.contacts import Contact
from baocao.app.notifier.compose import drafts_of, ledger_key_of
from baocao.app.notifier.due import Notice
from baocao.app.notifier.mail import email_message
from baocao.app.notifier.outbox import Outbox
from baocao.app.notifier.quiet import in_quiet_hours
from baocao.app.notifier.templates import KINDS, LANGUAGES, template_names
from baocao.app.notifier.webhook import signature
from baocao.core.periods import deadline, parse_period
from baocao.core.reference import load_reference
from baocao.core.settings import NotifierSettings

REFERENCE = load_reference()
COMMUNE = REFERENCE.communes_by_province["12"][0]
DUE = deadline(parse_period("2025-08"), RULES)
SETTINGS = NotifierSettings(
    dashboard_url="https://dash.example.vn",
    form_url="https://baocao.example.vn",
    webhook_url="https://sms.example.vn/hook",
)


def notice(kind: str = "reminder", **changes: object) -> Notice:
    fields: dict[str, object] = {
        "kind": kind,
        "report_type": "monthly",
        "period": "2025-08",
        "deadline": DUE,
        "province": "12",
        "subject": COMMUNE,
    }
    return Notice(**{**fields, **changes})  # type: ignore[arg-type]


def clerk(language: str, phone: str = "") -> Contact:
    return Contact(COMMUNE, "clerk", "Giàng Thị Mỷ", "my@example.vn", phone, language)


def test_a_reminder_in_vietnamese_names_period_type_deadline_and_link() -> None:
    (draft,) = drafts_of(notice(), [clerk("vi")], REFERENCE, SETTINGS)
    name = REFERENCE.communes[COMMUNE].name
    assert draft.subject == f"Báo cáo tháng kỳ 2025-08 sắp đến hạn: {name}"
    assert "Hạn nộp: 23:59 ngày 05/09/2025." in draft.text
    assert "https://baocao.example.vn/?type=monthly&period=2025-08" in draft.text
    assert draft.text.startswith("Kính gửi Giàng Thị Mỷ,")


def test_english_when_the_contact_asks_for_it() -> None:
    (draft,) = drafts_of(notice("overdue"), [clerk("en")], REFERENCE, SETTINGS)
    assert draft.subject.startswith("Overdue: monthly report 2025-08 of ")
    assert "The deadline was 23:59 on 5 September 2025 (UTC+7)" in draft.text


def test_a_digest_lists_missing_and_late_communes_with_their_dashboard_links() -> None:
    missing, late = REFERENCE.communes_by_province["12"][1:3]
    digest = notice("digest", subject="12", day="2025-09-06", missing=(missing,), late=(late,))
    officer = Contact("12", "officer", "Lò Văn Thắng", "thang@example.vn", "", "vi")
    (draft,) = drafts_of(digest, [officer], REFERENCE, SETTINGS)
    assert "1 xã chưa gửi, 1 xã gửi muộn (2025-09-06)" in draft.subject
    assert "https://dash.example.vn/#/p/12?type=monthly&period=2025-08" in draft.text
    assert f"({missing}): https://dash.example.vn/#/c/{missing}?" in draft.text
    assert f"({late}): https://dash.example.vn/#/c/{late}?" in draft.text
    assert draft.text.index(missing) < draft.text.index("Gửi muộn") < draft.text.index(late)


def test_keys_and_message_ids_are_deterministic_and_per_recipient_channel_and_kind() -> None:
    first = drafts_of(notice(), [clerk("vi", phone="0912000111")], REFERENCE, SETTINGS)
    again = drafts_of(notice(), [clerk("vi", phone="0912000111")], REFERENCE, SETTINGS)
    assert [d.message_id for d in first] == [d.message_id for d in again]
    assert [d.channel for d in first] == ["email", "webhook"]
    assert len({d.message_id for d in first}) == 2
    overdue = drafts_of(notice("overdue"), [clerk("vi")], REFERENCE, SETTINGS)
    assert overdue[0].message_id != first[0].message_id
    assert ledger_key_of(notice(), "email", "My@Example.vn") == (
        f'["email:my@example.vn", "{COMMUNE}", "monthly", "2025-08", "reminder"]'
    )
    without_webhook = drafts_of(
        notice(), [clerk("vi", "0912000111")], REFERENCE, NotifierSettings()
    )
    assert [d.channel for d in without_webhook] == ["email"]


def test_the_email_keeps_its_vietnamese_subject_and_message_id(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    (draft,) = drafts_of(notice(), [clerk("vi")], REFERENCE, SETTINGS)
    outbox.enqueue([draft], now=0)
    (entry,) = outbox.due(1, 10)
    parsed = email.message_from_bytes(
        email_message(entry, SETTINGS).as_bytes(), policy=email.policy.default
    )
    assert parsed["Subject"] == draft.subject
    assert parsed["Message-ID"] == draft.message_id
    assert parsed["To"] == "Giàng Thị Mỷ <my@example.vn>"
    assert parsed.get_body(("plain",)).get_content() == draft.text  # type: ignore[union-attr]


def test_the_outbox_queues_a_key_once_and_cancels_what_a_report_made_moot(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    drafts = drafts_of(notice(), [clerk("vi", "0912000111")], REFERENCE, SETTINGS)
    assert outbox.enqueue(drafts, now=10) == 2
    assert outbox.enqueue(drafts, now=20) == 0
    digest = notice("digest", subject="12", day="2025-09-06", missing=(COMMUNE,))
    officer = Contact("12", "officer", "Lò Văn Thắng", "thang@example.vn", "", "vi")
    assert outbox.enqueue(drafts_of(digest, [officer], REFERENCE, SETTINGS), now=30) == 1
    assert outbox.cancel_reported([(COMMUNE, "monthly", "2025-07")]) == 0
    assert outbox.cancel_reported([(COMMUNE, "monthly", "2025-08")]) == 2
    assert outbox.counts() == {"cancelled": 2, "pending": 1}
    outbox.close()
    assert (tmp_path / "outbox.db").stat().st_mode & 0o777 == 0o600
    reopened = Outbox(tmp_path / "outbox.db")
    assert reopened.enqueue(drafts, now=40) == 0  # a restart queues nothing again
    assert [e.payload["kind"] for e in reopened.due(50, 10)] == ["digest"]


def test_a_channel_down_holds_every_message_of_that_channel(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    drafts = [
        d
        for c in REFERENCE.communes_by_province["12"][:2]
        for d in drafts_of(notice(subject=c), [clerk("vi")], REFERENCE, SETTINGS)
    ]
    outbox.enqueue(drafts, now=0)
    first = outbox.due(1, 10)[0]
    outbox.retry_later(first.key, "down", at=100)
    outbox.defer("email", until=100)
    assert outbox.due(99, 10) == []
    assert len(outbox.due(100, 10)) == 2


@pytest.mark.parametrize(
    ("local_hour", "window", "quiet"),
    [
        (22, "21:00-07:00", True),
        (6, "21:00-07:00", True),
        (7, "21:00-07:00", False),
        (12, "12:00-13:00", True),
        (13, "12:00-13:00", False),
        (3, "", False),
    ],
)
def test_quiet_hours_are_local_and_may_wrap_past_midnight(
    local_hour: int, window: str, quiet: bool
) -> None:
    # DUE is 23:59 local; its day's midnight plus local_hour hours.
    local_midnight = DUE - timedelta(hours=23, minutes=59, seconds=59, milliseconds=999)
    assert in_quiet_hours(local_midnight + timedelta(hours=local_hour), window) is quiet


def test_the_webhook_signature_is_hmac_sha256_of_the_body() -> None:
    expected = hmac.new(b"secret", b'{"a":1}', hashlib.sha256).hexdigest()
    assert signature(b'{"a":1}', "secret") == f"sha256={expected}"
    assert signature(b'{"a":2}', "secret") != f"sha256={expected}"


@pytest.mark.parametrize(
    "changes",
    [
        {"webhook_url": "ftp://sms.example.vn"},
        {"webhook_url": "not a url"},
        {"reminder_days": {"fortnightly": 3}},
        {"reminder_days": {"monthly": -1}},
        {"quiet_hours": "9pm-7am"},
    ],
)
def test_bad_settings_are_refused_at_load(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        NotifierSettings(**changes)  # type: ignore[arg-type]


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAOCAO_NOTIFIER_REMINDER_DAYS", '{"monthly": 2, "yearly": 10}')
    monkeypatch.setenv("BAOCAO_NOTIFIER_WEBHOOK_URL", "https://sms.example.vn/hook")
    settings = NotifierSettings()
    assert settings.reminder_days == {"monthly": 2, "yearly": 10}
    monkeypatch.setenv("BAOCAO_NOTIFIER_WEBHOOK_URL", "sms.example.vn")
    with pytest.raises(ValueError, match="not an http"):
        NotifierSettings()


def test_every_kind_has_a_template_in_every_language() -> None:
    expected = sorted(f"{kind}.{language}.txt" for kind in KINDS for language in LANGUAGES)
    assert template_names() == expected


def test_the_status_command_counts_the_outbox_by_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.enqueue(drafts_of(notice(), [clerk("vi", "0912000111")], REFERENCE, SETTINGS), now=0)
    outbox.close()
    monkeypatch.setenv("BAOCAO_NOTIFIER_OUTBOX_PATH", str(tmp_path / "outbox.db"))
    monkeypatch.setenv("BAOCAO_DASHBOARD_DB_PATH", str(tmp_path / "officers.db"))
    monkeypatch.setenv("BAOCAO_CLICKHOUSE_USER", "nobody")  # no ClickHouse is asked
    done = CliRunner().invoke(cli, ["notifier", "--status"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == {"pending": 2}  # the e-mail and the webhook call
