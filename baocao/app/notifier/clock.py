"""The notifier's clock: the real time plus a configured offset, so a test or a drill can
stand 48 hours before a deadline without waiting for it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["Clock"]


class Clock:
    def __init__(self, offset_seconds: float = 0.0) -> None:
        self.offset_seconds = offset_seconds

    def timestamp(self) -> float:
        """Seconds since the epoch on the shifted clock (what the outbox stores)."""
        return time.time() + self.offset_seconds

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp(), UTC)
