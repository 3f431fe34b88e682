"""The read model's period slices (``baocao/app/views/slices.py``) answer exactly what the BI
views answer, on the real ClickHouse, over a history of several periods, years, report types,
revisions, warnings, approvals, reporting obligations (ended, exempt, set from a date, and the
default exemption of Hoàng Sa) and a pre-2025 report: for every slice, the view's rows of the
slice and the slice's rows are the same multiset."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from clickhouse_driver import Client
from support import records
from support.dashboard import insert, migrated

from baocao.app.views import slices
from baocao.app.views.slices import Slice
from baocao.core.reference import load_reference
from baocao.core.settings import Settings
from baocao.sinks.clickhouse.rows.tables import (
    APPROVAL_DECISIONS,
    COMMUNE_REPORTS,
    PROVINCE_COMPLETENESS_VALUES,
    PROVINCE_INDICATOR_CHANGES,
    PROVINCE_INDICATOR_VALUES,
    REPORT_WARNINGS_LOG,
    REPORTING_OBLIGATIONS,
    REPORTING_PERIODS,
)

REFERENCE = load_reference()
NOW = datetime.now(UTC)
#: Two years of months and quarters, and a month of the pre-2025 map.
MONTHS = ("2025-08", "2025-12", "2026-01", "2026-08")
QUARTERS = ("2025-Q3", "2026-Q3")
LEGACY_MONTH = "2024-08"
#: A month announced that nobody has reported yet: every province's expected units come from
#: the obligations, not from the worker's count.
ANNOUNCED_ONLY = "2026-09"
PROVINCES = ("01", "79")
#: A Hà Nội commune that never reports; its monthly obligation ended with 2025.
IDLE = list(REFERENCE.communes_by_province["01"])[3]


def _communes(province: str) -> list[str]:
    return list(REFERENCE.communes_by_province[province])[:3]


@pytest.fixture
def history(test_settings: Settings, clickhouse_db: str) -> Iterator[Client]:
    with migrated(test_settings) as client:
        # Every revision stays its own part: a slice without FINAL would show both.
        client.execute(f"SYSTEM STOP MERGES {clickhouse_db}.commune_reports")
        client.execute(f"SYSTEM STOP MERGES {clickhouse_db}.province_indicator_values")
        client.execute(f"SYSTEM STOP MERGES {clickhouse_db}.province_completeness_values")
        for number, period in enumerate((*MONTHS, *QUARTERS), start=1):
            insert(client, REPORTING_PERIODS, records.reporting_period(period, NOW))
            for province in PROVINCES:
                first, second, _ = _communes(province)
                old = records.accepted_report(
                    first, period, 1, indicators={"tthc_received": 1.0 * number, "births": 2.0}
                )
                new = records.accepted_report(
                    first, period, 2, indicators={"tthc_received": 3.0 * number, "births": 1.0}
                )
                late = records.accepted_report(
                    second, period, 1, on_time=False, indicators={"tthc_received": 5.0}
                )
                insert(client, COMMUNE_REPORTS, old)
                insert(client, COMMUNE_REPORTS, new, late)
                # A replay of the latest revision (a sink restarted before its commit): a
                # copy in a part of its own, which FINAL and the slices count once.
                insert(client, COMMUNE_REPORTS, new)
                insert(
                    client,
                    REPORT_WARNINGS_LOG,
                    records.warning(old, "far_from_history", "tthc_received"),
                    records.warning(late, "far_from_history", "tthc_received"),
                )
                for version, value in ((1, 1.0 * number), (2, 8.0 * number)):
                    insert(
                        client,
                        PROVINCE_INDICATOR_VALUES,
                        records.figure(
                            province, period, "tthc_received", version, value, communes_reported=2
                        ),
                        records.figure(
                            province, period, "births", version, 3.0, communes_reported=2
                        ),
                    )
                    insert(
                        client,
                        PROVINCE_COMPLETENESS_VALUES,
                        records.completeness(province, period, version, reported=2, on_time=1),
                    )
                cause = {
                    "commune_code": first,
                    "report_id": new["report_id"],
                    "revision": 2,
                    "previous_value": 1.0,
                    "value": 3.0,
                }
                insert(
                    client,
                    PROVINCE_INDICATOR_CHANGES,
                    records.change(province, period, "tthc_received", 2, 8.0, 1.0, NOW, [cause]),
                )
        insert(
            client,
            APPROVAL_DECISIONS,
            records.decision("01", MONTHS[-1], NOW - timedelta(hours=1)),
        )
        insert(client, REPORTING_PERIODS, records.reporting_period(ANNOUNCED_ONLY, NOW))
        _, exempt, from_q3 = _communes("79")
        insert(
            client,
            REPORTING_OBLIGATIONS,
            records.obligation(IDLE, "end", NOW - timedelta(days=1), ends_on=date(2025, 12, 31)),
            # Reports every month, yet owes none.
            records.obligation(exempt, "exempt", NOW),
            # Exempt, then due from 2026-Q3 by a later event.
            records.obligation(from_q3, "exempt", NOW - timedelta(days=2), "quarterly"),
            records.obligation(
                from_q3, "set", NOW - timedelta(days=1), "quarterly", starts_on=date(2026, 7, 1)
            ),
        )
        legacy = records.accepted_report("00008", LEGACY_MONTH, 1)
        insert(client, COMMUNE_REPORTS, {**legacy, "commune_code": "L00007"})
        insert(client, COMMUNE_REPORTS, records.accepted_report("00025", LEGACY_MONTH, 1))
        yield client
        for table in (
            "commune_reports",
            "province_indicator_values",
            "province_completeness_values",
        ):
            client.execute(f"SYSTEM START MERGES {clickhouse_db}.{table}")


def _rows(client: Client, sql: str, params: dict[str, Any]) -> list[str]:
    return sorted(repr(row) for row in client.execute(sql, params))


def test_every_slice_answers_what_its_view_answers(history: Client) -> None:
    differ = []
    for checked in slices.CHECKED:
        for period in (*MONTHS, *QUARTERS, LEGACY_MONTH, ANNOUNCED_ONLY):
            params = {
                "c": "01",
                "t": "quarterly" if "Q" in period else "monthly",
                "p": period,
                "u": _communes("01")[0],
            }
            view = checked.view
            expected = _rows(history, f"SELECT * FROM {view} WHERE {checked.where}", params)
            if _rows(history, checked.sql(), params) != expected:
                differ.append((view, checked.cut, period))
            reported = period in (*MONTHS, *QUARTERS)
            if reported and view in ("commune_indicators", "province_indicators"):
                assert expected, f"{view} has no rows for {params}: nothing compared"
    assert differ == []


def test_the_legacy_month_counts_the_successor_through_its_predecessor(history: Client) -> None:
    """Ngọc Hà (00008) reported 2024-08 only through old Cống Vị (L00007): the sliced unit-type
    completeness counts it, as the view does (00025 reported under its own code)."""
    params = {"c": "01", "t": "monthly", "p": LEGACY_MONTH}
    [(reported,)] = history.execute(
        "SELECT sum(communes_reported)"
        f" FROM {slices.division_type_completeness(Slice(province=True))} "
        " WHERE province_code = %(c)s AND report_type = %(t)s AND period = %(p)s",
        params,
    )
    assert reported == 2


def test_an_ended_obligation_leaves_the_unit_out_of_the_slices(history: Client) -> None:
    """The idle commune is missing for 2025-12 but owes nothing from 2026 on: Hà Nội expects
    one unit fewer for the month nobody reported yet."""
    missing = (
        f"SELECT commune_code FROM {slices.missing_reports(Slice(province=True))}"
        " WHERE province_code = %(c)s AND report_type = %(t)s AND period = %(p)s"
    )
    params = {"c": "01", "t": "monthly"}
    assert (IDLE,) in history.execute(missing, {**params, "p": "2025-12"})
    assert (IDLE,) not in history.execute(missing, {**params, "p": ANNOUNCED_ONLY})
    [(expected,)] = history.execute(
        f"SELECT communes_expected FROM {slices.province_completeness(Slice(province=True))}"
        " WHERE province_code = %(c)s AND report_type = %(t)s AND period = %(p)s",
        {**params, "p": ANNOUNCED_ONLY},
    )
    assert expected == REFERENCE.communes_expected("01") - 1
