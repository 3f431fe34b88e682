"""E-mail over SMTP (smtplib): STARTTLS when the server offers it, one connection reused for a
pass of the outbox. A 5xx refusal of the recipient or of the message is for good
(:class:`Refused`); anything else (no server, 4xx, a dropped connection) is
:class:`ChannelDown`, retried later."""

from __future__ import annotations

import smtplib
import ssl
from email.charset import BASE64, Charset
from email.header import Header
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, parseaddr
from typing import Any

from baocao.app.notifier.exceptions import ChannelDown, Refused
from baocao.app.notifier.outbox import Entry
from baocao.core.settings import NotifierSettings

__all__ = ["SmtpChannel", "email_message"]


#: Encoded words in base64 straight away: utf-8's default ("shortest") measures the
#: quoted-printable form of every header first, a third of a message's cost.
_UTF8 = Charset("utf-8")
_UTF8.header_encoding = BASE64


def _header(text: str) -> Any:
    """``text`` as a header value: itself when ASCII, else encoded words (a ``Header``, which
    compat32 folds without losing spaces)."""
    return text if text.isascii() else Header(text, _UTF8)


def email_message(entry: Entry, settings: NotifierSettings) -> MIMEText:
    """The e-mail of an outbox entry; its Message-ID is the entry's, on every resend.

    Built with the legacy ``email.mime`` API on purpose: the newer ``EmailMessage`` folds a
    long Vietnamese subject into encoded words that lose the space at each fold (CPython
    3.11's ``_fold_as_ew``), and a reader saw "sắp đếnhạn"."""
    recipient = entry.payload["recipient"]
    message = MIMEText(entry.text, "plain", "utf-8")
    message["From"] = formataddr(parseaddr(settings.sender), charset="utf-8")
    message["To"] = formataddr((recipient["name"], entry.address), charset="utf-8")
    message["Subject"] = _header(entry.subject)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = entry.message_id
    message["Content-Language"] = recipient["language"]
    message["Auto-Submitted"] = "auto-generated"
    message["X-Baocao-Kind"] = entry.payload["kind"]
    #: The ledger's key in clear, so a receiver can drop a resent copy by it too.
    message["X-Baocao-Key"] = _header(entry.key)
    return message


class SmtpChannel:
    def __init__(self, settings: NotifierSettings) -> None:
        self._settings = settings
        self._connection: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        if self._connection is not None:
            return self._connection
        s = self._settings
        connection = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds)
        try:
            connection.ehlo()
            if s.smtp_starttls != "off" and connection.has_extn("starttls"):
                connection.starttls(context=ssl.create_default_context())
                connection.ehlo()
            elif s.smtp_starttls == "require":
                raise ChannelDown(f"{s.smtp_host}:{s.smtp_port} does not offer STARTTLS")
            if s.smtp_user:
                connection.login(s.smtp_user, s.smtp_password.get_secret_value())
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection

    def send(self, entry: Entry) -> None:
        # Addresses are checked at import (email-validator); this only keeps a line break
        # from ever reaching a header (a contact stored before the check).
        if "@" not in entry.address or any(c in entry.address for c in "\r\n\0"):
            raise Refused(f"not an e-mail address: {entry.address!r}")
        message = email_message(entry, self._settings)
        try:
            self._connect().send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, answer = next(iter(exc.recipients.values()))
            if 500 <= code < 600:
                raise Refused(f"{code} {answer!r}") from exc
            raise ChannelDown(f"recipient deferred: {code} {answer!r}") from exc
        except smtplib.SMTPDataError as exc:
            if 500 <= exc.smtp_code < 600:
                raise Refused(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
            self.close()
            raise ChannelDown(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            where = f"{self._settings.smtp_host}:{self._settings.smtp_port}"
            raise ChannelDown(f"SMTP {where}: {exc}") from exc

    def close(self) -> None:
        """End the pass's connection (QUIT when the server still answers)."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.quit()
        except (smtplib.SMTPException, OSError):
            connection.close()
