"""Row builders, one per table, made from its declaration (:mod:`.declarations`).

A builder reads every declared column from a decoded record, in the declaration's order, and
returns the row as a tuple; the first value its column cannot hold raises
:class:`~baocao.sinks.exceptions.RowError`. The named builders are what the routing and the
tests call; none is written by hand, so a column added to a declaration reaches every row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from baocao.sinks.clickhouse.rows.declarations import (
    APPROVALS,
    COMMUNE_REPORTS,
    MISSING_REPORT_ALERTS,
    POISON_MESSAGES,
    PROVINCE_COMPLETENESS_VALUES,
    PROVINCE_INDICATOR_CHANGES,
    PROVINCE_INDICATOR_VALUES,
    REJECTIONS,
    REPORT_WARNINGS_LOG,
    REPORTING_PERIODS,
    Row,
    Table,
)

__all__ = [
    "Build",
    "accepted_report_row",
    "alert_row",
    "approval_row",
    "change_row",
    "completeness_row",
    "poison_row",
    "province_indicator_row",
    "rejection_row",
    "reporting_period_row",
    "row_builder",
    "warning_row",
]

Build = Callable[[Mapping[str, Any]], Row]


def row_builder(table: Table) -> Build:
    """The function turning a record into a row of ``table``, checked column by column."""
    reads = tuple(column.read for column in table.declared)
    prepare = table.prepare

    if prepare is None:

        def build(record: Mapping[str, Any]) -> Row:
            return tuple([read(record) for read in reads])

    else:

        def build(record: Mapping[str, Any]) -> Row:
            ready = prepare(record)
            return tuple([read(ready) for read in reads])

    build.__name__ = f"{table.name}_row"
    build.__doc__ = f"A record as a ``{table.name}`` row (columns: {', '.join(table.columns)})."
    return build


#: ``accepted_report.v1`` -> ``commune_reports`` (indicators sorted by code).
accepted_report_row = row_builder(COMMUNE_REPORTS)
#: ``province_indicator.v2`` -> ``province_indicator_values``.
province_indicator_row = row_builder(PROVINCE_INDICATOR_VALUES)
#: ``province_completeness.v1`` -> ``province_completeness_values``.
completeness_row = row_builder(PROVINCE_COMPLETENESS_VALUES)
#: ``province_indicator_change.v1`` -> ``province_indicator_changes``.
change_row = row_builder(PROVINCE_INDICATOR_CHANGES)
#: ``report_warning.v1`` -> ``report_warnings_log``.
warning_row = row_builder(REPORT_WARNINGS_LOG)
#: ``reporting_period.v1`` -> ``reporting_periods``.
reporting_period_row = row_builder(REPORTING_PERIODS)
#: ``missing_reports_alert.v1`` -> ``missing_report_alerts``.
alert_row = row_builder(MISSING_REPORT_ALERTS)
#: ``approval.v1`` -> ``approvals``.
approval_row = row_builder(APPROVALS)
#: ``rejected_report.v2`` (v1 read too) -> ``rejections`` (an absent commune as ``''``).
rejection_row = row_builder(REJECTIONS)
_poison = row_builder(POISON_MESSAGES)


def poison_row(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    error: str,
    received_at: datetime,
) -> Row:
    """A message the sink could not store, kept with its Kafka position and the reason."""
    return _poison(
        {
            "source_topic": topic,
            "source_partition": partition,
            "source_offset": offset,
            "message_key": key or b"",
            "raw_payload": value or b"",
            "error": error,
            "received_at": received_at,
        }
    )
