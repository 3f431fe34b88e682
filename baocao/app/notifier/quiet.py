"""Quiet hours: a local time window (``HH:MM-HH:MM``, may wrap past midnight) in which the
notifier sends nothing; decisions still enter the outbox and go out when the window ends."""

from __future__ import annotations

from datetime import datetime, time

from baocao.core.models import LOCAL_TIMEZONE

__all__ = ["in_quiet_hours"]


def in_quiet_hours(now: datetime, window: str) -> bool:
    if not window:
        return False
    start_text, end_text = window.split("-")
    start, end = time.fromisoformat(start_text), time.fromisoformat(end_text)
    local = now.astimezone(LOCAL_TIMEZONE).time()
    if start <= end:
        return start <= local < end
    return local >= start or local < end
