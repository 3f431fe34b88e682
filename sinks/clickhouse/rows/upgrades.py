"""Records of older writers, upgraded to the form the current row builders read.

A topic may carry records of an earlier schema, told apart by the writer fingerprint every
message carries:

* ``accepted_reports`` carried ``commune_report.v1`` before workers wrote
  ``accepted_report.v1``. Such a record is upgraded here: its report type and deadline follow
  from its period (:mod:`baocao.core.periods`, with the deadline rules the worker uses), it was
  first submitted when this revision was (the only submission time it knows), accepted at the
  Kafka timestamp of the record, on time when submitted by the deadline, never an amendment.
* ``province_indicators`` carried ``province_indicator.v1``; Avro resolution reads it as v2
  with the defaults (no deadline), and the report type and deadline are filled in from the
  period the same way, so an old worker's figures get a status like a new one's.

A period those rules cannot read makes the record poison: a real worker never wrote one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from baocao.core.periods import DeadlineRules, PeriodError, deadline, parse_period
from baocao.sinks.clickhouse.rows.checks import as_instant, as_text, is_absent_instant, required
from baocao.sinks.exceptions import RowError

__all__ = ["upgrade_commune_report", "upgrade_province_indicator"]


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


def upgrade_commune_report(
    record: Mapping[str, Any], *, accepted_at: datetime, rules: DeadlineRules
) -> dict[str, Any]:
    """A ``commune_report.v1`` record (an older worker's accepted report) in the
    ``accepted_report.v1`` form, filled in as the module docstring says."""
    report_type, due = _period_deadline(record, rules)
    submitted_at = as_instant(required(record, "submitted_at"), "submitted_at")
    return {
        **record,
        "report_type": report_type,
        "first_submitted_at": submitted_at,
        "accepted_at": accepted_at,
        "deadline": due,
        "on_time": submitted_at <= due,
        "amended": False,
    }


def upgrade_province_indicator(
    record: Mapping[str, Any], *, rules: DeadlineRules
) -> Mapping[str, Any]:
    """A figure as v2 with its report type and deadline: an older worker's (read from v1,
    the deadline left at its default) gets both from its period; a v2 figure is unchanged."""
    if not is_absent_instant(record.get("deadline", 0)):
        return record
    report_type, due = _period_deadline(record, rules)
    return {**record, "report_type": report_type, "deadline": due}
