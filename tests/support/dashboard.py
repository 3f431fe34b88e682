"""A small, known province month for the dashboard tests, written into the fact tables the BI
views read (through the sink's own row builders), so every number the tests expect is
computed here: Hà Nội (01), monthly, two communes reported (one on time, one late after a
correction), one refused, one warned, and the month before for the trend."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from clickhouse_driver import Client

from baocao.core.clickhouse import connect
from baocao.core.periods import ReportType, period_containing
from baocao.core.reference import load_reference
from baocao.core.settings import Settings
from baocao.sinks.clickhouse.migrate import migrate
from baocao.sinks.clickhouse.rows.columns import Table
from baocao.sinks.clickhouse.rows.tables import (
    COMMUNE_REPORTS,
    PROVINCE_COMPLETENESS_VALUES,
    PROVINCE_INDICATOR_CHANGES,
    PROVINCE_INDICATOR_VALUES,
    REJECTIONS,
    REPORT_WARNINGS_LOG,
    REPORTING_PERIODS,
)
from support import records

__all__ = [
    "HANOI",
    "NOW",
    "PERIOD",
    "PREVIOUS",
    "Seeded",
    "add_report",
    "announce_upcoming",
    "hanoi_totals",
    "insert",
    "migrated",
    "missing_commune_reports",
    "seed",
]

NOW = datetime.now(UTC)
PERIOD = period_containing(ReportType.MONTHLY, NOW - timedelta(days=70)).text
PREVIOUS = period_containing(ReportType.MONTHLY, NOW - timedelta(days=105)).text
HANOI = "01"
REFERENCE = load_reference()


class Seeded:
    """The communes the seed used: on time, late (revision 2), refused, and never heard of."""

    def __init__(self) -> None:
        communes = list(REFERENCE.communes_by_province[HANOI])
        self.on_time, self.late, self.refused, self.missing = communes[:4]
        self.expected = REFERENCE.communes_expected(HANOI)


@contextmanager
def migrated(settings: Settings) -> Iterator[Client]:
    """A client of ``settings``' database after ``baocao migrate`` (the views the dashboard and
    the export read), disconnected at the end."""
    migrate(settings.clickhouse)
    client = connect(settings.clickhouse)
    try:
        yield client
    finally:
        client.disconnect()


def insert(client: Client, table: Table, *records: Mapping[str, Any]) -> None:
    """One insert (one part) of ``records``, each made a row as the sink makes it."""
    rows = [table.row(record) for record in records]
    client.execute(f"INSERT INTO {table.name} ({', '.join(table.columns)}) VALUES", rows)


def add_report(
    client: Client, commune: str, revision: int, value: float, *, on_time: bool
) -> dict[str, Any]:
    """Store an accepted report of ``commune`` (its dossiers received: ``value``)."""
    report = records.accepted_report(
        commune, PERIOD, revision, on_time=on_time, indicators={"tthc_received": value}
    )
    insert(client, COMMUNE_REPORTS, report)
    return report


def hanoi_totals(
    client: Client,
    *,
    version: int,
    reported: int,
    on_time: int,
    figure_version: int,
    dossiers: float,
) -> None:
    """Store Hà Nội's completeness and its dossiers-received figure of :data:`PERIOD`, as the
    worker does once ``reported`` communes reported (``on_time`` of them on time)."""
    insert(
        client,
        PROVINCE_COMPLETENESS_VALUES,
        records.completeness(HANOI, PERIOD, version, reported=reported, on_time=on_time),
    )
    insert(
        client,
        PROVINCE_INDICATOR_VALUES,
        records.figure(
            HANOI, PERIOD, "tthc_received", figure_version, dossiers, communes_reported=reported
        ),
    )


def seed(client: Client) -> Seeded:
    seeded = Seeded()
    insert(
        client,
        REPORTING_PERIODS,
        records.reporting_period(PERIOD, NOW - timedelta(days=40)),
    )
    first = add_report(client, seeded.on_time, 1, 10.0, on_time=True)
    add_report(client, seeded.late, 1, 5.0, on_time=False)
    add_report(client, seeded.late, 2, 20.0, on_time=False)
    hanoi_totals(client, version=1, reported=2, on_time=1, figure_version=3, dossiers=30.0)
    insert(
        client,
        PROVINCE_INDICATOR_VALUES,
        records.figure(HANOI, PREVIOUS, "tthc_received", 1, 12.0),
    )
    cause = {
        "commune_code": seeded.late,
        "report_id": "r-late-2",
        "revision": 2,
        "previous_value": 5.0,
        "value": 20.0,
    }
    insert(
        client,
        PROVINCE_INDICATOR_CHANGES,
        records.change(HANOI, PERIOD, "tthc_received", 3, 30.0, 15.0, NOW, [cause]),
    )
    insert(
        client,
        REPORT_WARNINGS_LOG,
        records.warning(
            first,
            "far_from_history",
            "tthc_received",
            message_en="far from its history",
            message_vi="khác xa lịch sử",
        ),
    )
    insert(
        client,
        REJECTIONS,
        {
            "rejection_id": "t:0:7",
            "report_id": "r-refused",
            "commune_code": seeded.refused,
            "province_code": HANOI,
            "period": PERIOD,
            "revision": 1,
            "reasons": [
                {
                    "code": "negative_value",
                    "field": "indicators.tthc_received",
                    "message_en": "tthc_received must not be negative",
                    "message_vi": "tthc_received không được âm",
                }
            ],
            "raw_payload": b"{}",
            "source_topic": "t",
            "source_partition": 0,
            "source_offset": 7,
            "rejected_at": NOW,
        },
    )
    return seeded


def missing_commune_reports(client: Client, seeded: Seeded) -> None:
    """What the pipeline stores when the missing commune reports on time (3.0 dossiers): its
    report, Hà Nội's completeness (3 reported, 2 on time) and figure (33.0), newer versions."""
    add_report(client, seeded.missing, 1, 3.0, on_time=True)
    hanoi_totals(client, version=2, reported=3, on_time=2, figure_version=4, dossiers=33.0)


def announce_upcoming(client: Client) -> str:
    """What the worker's clock announces before anyone reports: today's daily period, due
    tomorrow, empty. The newest period the views know, and not where the news is."""
    today = period_containing(ReportType.DAILY, NOW).text
    insert(client, REPORTING_PERIODS, records.reporting_period(today, NOW))
    return today
