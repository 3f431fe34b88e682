"""Records of older writers brought to the form their table's columns read.

A table declares its upgrades by schema family (:attr:`.columns.Table.upgrades`); each one
fills in what the older record lacks, with the deadline rules the worker uses and what Kafka
says about the message. A period those rules cannot read is a :class:`RowError` (the record
is poison): a real worker never wrote one. The rules are in docs/clickhouse.md ("Records of
older writers").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from baocao.core.periods import DeadlineRules, PeriodError, deadline, parse_period
from baocao.sinks.clickhouse.rows.checks import (
    DATETIME_MAX,
    as_instant,
    as_text,
    is_absent_instant,
    required,
)
from baocao.sinks.exceptions import RowError

__all__ = [
    "Envelope",
    "Upgrade",
    "accepted_from_commune_report",
    "figure_with_deadline",
    "kafka_timestamp",
]


@dataclass(frozen=True, slots=True)
class Envelope:
    """What Kafka tells about a message besides its value."""

    #: The record's Kafka timestamp in milliseconds (-1 or None when it has none).
    timestamp_ms: int | None
    #: When the sink received it: stands in for a missing or unstorable timestamp.
    received_at: datetime

    @property
    def timestamp(self) -> datetime:
        """The record's Kafka timestamp (when the producer wrote it), worked out only for
        the records that need it."""
        return kafka_timestamp(self.timestamp_ms, default=self.received_at)


#: A record of an older writer, its message's envelope and the deadline rules -> the record
#: as its table's columns read it.
Upgrade = Callable[[Mapping[str, Any], Envelope, DeadlineRules], Mapping[str, Any]]


def kafka_timestamp(timestamp_ms: int | None, *, default: datetime) -> datetime:
    """A Kafka record timestamp (milliseconds; -1 or None when the record has none) as an
    aware UTC datetime, ``default`` when absent or outside ClickHouse ``DateTime``."""
    if timestamp_ms is None or timestamp_ms < 0:
        return default
    moment = datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
    return moment if moment <= DATETIME_MAX else default


def _period_deadline(record: Mapping[str, Any], rules: DeadlineRules) -> tuple[str, datetime]:
    """The report type and deadline that the record's period has under ``rules``."""
    text = as_text(required(record, "period"), "period")
    try:
        period = parse_period(text)
    except PeriodError as exc:
        raise RowError(
            f"cannot tell the report type and deadline of period {text!r}: {exc}"
        ) from exc
    return str(period.report_type), deadline(period, rules)


def accepted_from_commune_report(
    record: Mapping[str, Any], envelope: Envelope, rules: DeadlineRules
) -> dict[str, Any]:
    """An older worker's accepted report (``commune_report``) as an ``accepted_report``:
    first submitted when this revision was, accepted at its Kafka timestamp, on time when
    submitted by its period's deadline, never an amendment."""
    report_type, due = _period_deadline(record, rules)
    submitted_at = as_instant(required(record, "submitted_at"), "submitted_at")
    return {
        **record,
        "report_type": report_type,
        "first_submitted_at": submitted_at,
        "accepted_at": envelope.timestamp,
        "deadline": due,
        "on_time": submitted_at <= due,
        "amended": False,
    }


def figure_with_deadline(
    record: Mapping[str, Any], envelope: Envelope, rules: DeadlineRules
) -> Mapping[str, Any]:
    """A figure with its report type and deadline: an older worker's (read from v1 as v2,
    the deadline left at its default) gets both from its period; a v2 figure is unchanged."""
    if not is_absent_instant(record.get("deadline", 0)):
        return record
    report_type, due = _period_deadline(record, rules)
    return {**record, "report_type": report_type, "deadline": due}
