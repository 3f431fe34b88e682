"""The notifier's errors, under one root."""

from __future__ import annotations

__all__ = ["ChannelDown", "NotifierError", "ReadError", "Refused"]


class NotifierError(Exception):
    """Root of the notifier's errors."""


class ChannelDown(NotifierError):
    """The SMTP server or the webhook could not take the message now: retry later."""


class Refused(NotifierError):
    """The receiver refused this message for good (an SMTP 5xx for its recipient, a webhook
    4xx): recorded as bounced, never retried."""


class ReadError(NotifierError):
    """ClickHouse or the contacts database could not be read; the pass is tried again."""
