"""The generic webhook: a JSON POST per message, so an SMS or Zalo gateway can be attached
without changing the notifier. Headers:

- ``Idempotency-Key``: derived from the message's key, the same on every resend;
- ``X-Baocao-Signature: sha256=<hex>``: HMAC-SHA256 of the exact body under the shared secret.

2xx is delivered; 408, 429, 5xx and no answer are :class:`ChannelDown` (retried); any other
4xx is :class:`Refused` (bounced, not retried).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request

from baocao.app.notifier.exceptions import ChannelDown, Refused
from baocao.app.notifier.outbox import Entry
from baocao.core.settings import NotifierSettings

__all__ = ["SIGNATURE_HEADER", "WebhookChannel", "signature"]

SIGNATURE_HEADER = "X-Baocao-Signature"
_RETRIED = {408, 425, 429}


def signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookChannel:
    def __init__(self, settings: NotifierSettings) -> None:
        self._settings = settings

    def send(self, entry: Entry) -> None:
        body = json.dumps(entry.payload, ensure_ascii=False, sort_keys=True).encode()
        request = urllib.request.Request(
            self._settings.webhook_url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Idempotency-Key": entry.payload["idempotency_key"],
                SIGNATURE_HEADER: signature(body, self._settings.webhook_secret.get_secret_value()),
                "User-Agent": "baocao-notifier",
            },
        )
        try:
            with urllib.request.urlopen(
                request, timeout=self._settings.webhook_timeout_seconds
            ) as answer:
                answer.read()
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code in _RETRIED:
                raise ChannelDown(f"webhook answered {exc.code}") from exc
            raise Refused(f"webhook refused it: {exc.code}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise ChannelDown(f"webhook unreachable: {exc}") from exc

    def close(self) -> None:
        """Nothing held between messages."""
