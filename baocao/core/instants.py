"""Instants as the wire carries them: whole milliseconds since the Unix epoch.

Avro ``timestamp-millis`` fields and Kafka record timestamps hold the same number; convert
here, with integer arithmetic, so no float rounding ever moves an instant by a millisecond.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["EPOCH", "MILLISECOND", "from_millis", "millis", "whole_millis"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The smallest step an instant has on the wire.
MILLISECOND = timedelta(milliseconds=1)


def millis(moment: datetime) -> int:
    """Milliseconds since the epoch of an aware ``moment`` (earlier microseconds dropped)."""
    return (moment - EPOCH) // MILLISECOND


def from_millis(value: int) -> datetime:
    """The aware UTC instant of :func:`millis`."""
    return EPOCH + timedelta(milliseconds=value)


def whole_millis(moment: datetime) -> datetime:
    """``moment`` cut to the millisecond in UTC: the instant its wire form gives back."""
    return from_millis(millis(moment))
