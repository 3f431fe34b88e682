"""A notice made into one message per contact and channel: who receives it, its key, its
words in the contact's language, and its links."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from baocao.app.dashboard.contacts import Contact
from baocao.app.dashboard.links import dashboard_link
from baocao.app.notifier.due import Notice
from baocao.app.notifier.templates import Rendered, render
from baocao.core.models import LOCAL_TIMEZONE
from baocao.core.reference import ReferenceData
from baocao.core.settings import NotifierSettings

__all__ = ["Draft", "drafts_of", "hashed", "ledger_key_of", "message_id"]

_TYPE_NAMES = {
    "vi": {
        "daily": "ngày",
        "weekly": "tuần",
        "monthly": "tháng",
        "quarterly": "quý",
        "yearly": "năm",
    },
    "en": {
        "daily": "daily",
        "weekly": "weekly",
        "monthly": "monthly",
        "quarterly": "quarterly",
        "yearly": "yearly",
    },
}


@dataclass(frozen=True, slots=True)
class Draft:
    """One message before it enters the outbox."""

    key: str
    message_id: str
    channel: str  # "email" or "webhook"
    #: The e-mail address, or the phone number the webhook's gateway texts.
    address: str
    recipient_name: str
    language: str
    notice: Notice
    subject: str
    text: str
    link: str


def ledger_key_of(notice: Notice, channel: str, address: str) -> str:
    """The ledger's key (the outbox's, no Kafka key): (recipient, commune, report type,
    period, kind) as a JSON array, which no address or name can make ambiguous; a digest's
    day is part of its kind (one a day)."""
    kind = f"{notice.kind}:{notice.day}" if notice.day else notice.kind
    recipient = f"{channel}:{address.lower()}"
    return json.dumps(
        [recipient, notice.subject, notice.report_type, notice.period, kind], ensure_ascii=False
    )


def hashed(ledger_key: str) -> str:
    """The webhook's ``Idempotency-Key``: ASCII whatever the address holds (the ledger key's
    SHA-256), the same on every resend."""
    return hashlib.sha256(ledger_key.encode()).hexdigest()


def message_id(key: str, domain: str) -> str:
    """The same ``Message-ID`` for the same key, on every resend and after every restart."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def _deadline_text(deadline: datetime, language: str) -> str:
    local = deadline.astimezone(LOCAL_TIMEZONE)
    if language == "en":
        return f"{local:%H:%M} on {local.day} {local:%B %Y} (UTC+7)"
    return f"{local:%H:%M} ngày {local:%d/%m/%Y}"


def _form_link(settings: NotifierSettings, notice: Notice) -> str:
    query = urlencode({"type": notice.report_type, "period": notice.period})
    return f"{settings.form_url.rstrip('/')}/?{query}"


def drafts_of(
    notice: Notice,
    contacts: list[Contact],
    reference: ReferenceData,
    settings: NotifierSettings,
) -> list[Draft]:
    """The messages of ``notice`` to ``contacts`` (the commune's clerks, or the province's
    officers for a digest): an e-mail to each address, a webhook call for each phone when a
    webhook is configured."""
    drafts = []
    for contact in contacts:
        channels = []
        if contact.email:
            channels.append(("email", contact.email))
        if contact.phone and settings.webhook_url:
            channels.append(("webhook", contact.phone))
        for channel, address in channels:
            key = ledger_key_of(notice, channel, address)
            rendered, link = _words(notice, contact, reference, settings)
            drafts.append(
                Draft(
                    key=key,
                    message_id=message_id(key, settings.message_id_domain),
                    channel=channel,
                    address=address,
                    recipient_name=contact.name,
                    language=contact.language,
                    notice=notice,
                    subject=rendered.subject,
                    text=rendered.text,
                    link=link,
                )
            )
    return drafts


def _words(
    notice: Notice, contact: Contact, reference: ReferenceData, settings: NotifierSettings
) -> tuple[Rendered, str]:
    language = contact.language if contact.language in _TYPE_NAMES else "vi"
    province = reference.provinces[notice.province]
    dashboard = dashboard_link(
        settings.dashboard_url,
        report_type=notice.report_type,
        period=notice.period,
        province=notice.province,
    )

    def listed(codes: tuple[str, ...]) -> list[dict[str, str]]:
        return [
            {
                "code": code,
                "name": reference.communes[code].name,
                "link": dashboard_link(
                    settings.dashboard_url,
                    report_type=notice.report_type,
                    period=notice.period,
                    commune=code,
                ),
            }
            for code in codes
        ]

    context: dict[str, object] = {
        "recipient_name": contact.name,
        "report_type": _TYPE_NAMES[language][notice.report_type],
        "period": notice.period,
        "deadline": _deadline_text(notice.deadline, language),
        "province_name": province.name,
        "dashboard_link": dashboard,
        "day": notice.day,
    }
    if notice.kind == "digest":
        context |= {"missing": listed(notice.missing), "late": listed(notice.late)}
        link = dashboard
    else:
        commune = reference.communes[notice.subject]
        link = _form_link(settings, notice)
        context |= {"commune_name": commune.name, "commune_code": commune.code, "form_link": link}
    return render(notice.kind, language, context), link
