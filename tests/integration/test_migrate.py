"""`baocao migrate` against the real ClickHouse: ledger, idempotency, reference data, views.

The view tests insert rows straight into the fact tables, in separate inserts (so separate
parts, not yet merged), and check that the BI views already show only the latest revision
and the highest version: FINAL, not a background merge, is what makes them right.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from clickhouse_driver import Client
from support.settings import environment

from baocao.core.catalogue import load_catalogue
from baocao.core.clickhouse import connect
from baocao.core.lineage import load_crosswalk
from baocao.core.reference import load_reference
from baocao.core.settings import Settings
from baocao.sinks.clickhouse.migrate import (
    LEDGER_TABLE,
    Migration,
    check_schema,
    load_migrations,
    migrate,
)
from baocao.sinks.clickhouse.reference_tables import commune_rows, lineage_rows, province_rows
from baocao.sinks.clickhouse.rows.columns import Table
from baocao.sinks.clickhouse.rows.tables import (
    COMMUNE_REPORTS,
    PROVINCE_INDICATOR_VALUES,
    REJECTIONS,
)
from baocao.sinks.exceptions import MigrationChecksumError, MigrationError, SchemaNotReadyError

T0 = datetime(2025, 9, 1, 8, 0, tzinfo=UTC)
#: Monthly reports on August 2025 are due by the end of 5 September, local time (UTC+7).
AUGUST_DEADLINE = datetime(2025, 9, 5, 16, 59, 59, tzinfo=UTC)
#: Every BI view, with its columns in order (the contract BI tools rely on).
VIEW_COLUMNS = {
    "province_indicators": [
        "province_code",
        "province_name",
        "period",
        "indicator_code",
        "value",
        "communes_reported",
        "communes_expected",
        "updated_at",
        "report_type",
        "deadline",
        "status",
        "communes_with_warnings",
        "communes_amended",
    ],
    "commune_indicators": [
        "commune_code",
        "commune_name",
        "province_code",
        "period",
        "indicator_code",
        "value",
        "revision",
        "submitted_at",
        "report_type",
        "on_time",
        "amended",
    ],
    "latest_commune_reports": [
        "report_id",
        "commune_code",
        "province_code",
        "period",
        "revision",
        "submitted_at",
        "report_type",
        "indicator_codes",
        "indicator_values",
    ],
    "indicator_year_to_date": [
        "province_code",
        "report_type",
        "period",
        "indicator_code",
        "aggregation",
        "value",
        "year_to_date",
    ],
    "national_indicator_year_to_date": [
        "report_type",
        "period",
        "indicator_code",
        "aggregation",
        "value",
        "year_to_date",
    ],
    "indicator_comparisons": [
        "province_code",
        "report_type",
        "period",
        "indicator_code",
        "aggregation",
        "value",
        "same_period_last_year",
        "year_to_date",
        "year_to_date_last_year",
        "change",
        "change_pct",
    ],
    "national_indicator_comparisons": [
        "report_type",
        "period",
        "indicator_code",
        "aggregation",
        "value",
        "same_period_last_year",
        "year_to_date",
        "year_to_date_last_year",
        "change",
        "change_pct",
    ],
    "division_type_completeness": [
        "province_code",
        "division_type",
        "report_type",
        "period",
        "communes_expected",
        "communes_reported",
        "completeness_pct",
    ],
    "division_type_indicators": [
        "province_code",
        "division_type",
        "report_type",
        "period",
        "indicator_code",
        "value",
        "communes_reported",
    ],
    "national_division_type_completeness": [
        "division_type",
        "report_type",
        "period",
        "communes_expected",
        "communes_reported",
        "completeness_pct",
    ],
    "national_division_type_indicators": [
        "division_type",
        "report_type",
        "period",
        "indicator_code",
        "value",
        "communes_reported",
    ],
    "legacy_reports": [
        "legacy_code",
        "legacy_name",
        "commune_code",
        "commune_name",
        "province_code",
        "period",
        "revision",
        "share",
        "method",
        "is_primary",
        "approximate",
        "superseded",
    ],
    "rejected_reports": [
        "rejection_id",
        "report_id",
        "commune_code",
        "province_code",
        "period",
        "revision",
        "reason_code",
        "reason_field",
        "message_en",
        "message_vi",
        "rejected_at",
        "source_topic",
        "source_partition",
        "source_offset",
    ],
    "province_completeness": [
        "province_code",
        "report_type",
        "period",
        "communes_expected",
        "communes_reported",
        "communes_on_time",
        "communes_late",
        "communes_missing",
        "completeness_pct",
        "timeliness_pct",
        "deadline",
        "province_name",
        "status",
    ],
    "national_completeness": [
        "report_type",
        "period",
        "communes_expected",
        "communes_reported",
        "communes_on_time",
        "communes_late",
        "communes_missing",
        "completeness_pct",
        "timeliness_pct",
        "deadline",
        "provinces_complete",
        "provinces_approved",
        "status",
    ],
    "missing_reports": [
        "province_code",
        "commune_code",
        "commune_name",
        "report_type",
        "period",
        "deadline",
        "overdue",
    ],
    "unit_obligations": [
        "commune_code",
        "province_code",
        "report_type",
        "action",
        "starts_on",
        "ends_on",
        "reason",
        "recorded_by",
        "recorded_at",
    ],
    "units_not_due": ["commune_code", "province_code", "report_type", "period"],
    "national_indicators": [
        "period",
        "indicator_code",
        "value",
        "provinces_reported",
        "communes_reported",
        "communes_expected",
        "report_type",
        "deadline",
        "status",
    ],
    "province_indicator_history": [
        "province_code",
        "province_name",
        "report_type",
        "period",
        "indicator_code",
        "version",
        "value",
        "previous_value",
        "change",
        "known_at",
        "cause_commune_codes",
        "cause_report_ids",
        "cause_revisions",
        "cause_previous_values",
        "cause_values",
    ],
    "report_warnings": [
        "warning_id",
        "report_id",
        "commune_code",
        "commune_name",
        "province_code",
        "report_type",
        "period",
        "revision",
        "rule_code",
        "indicator_code",
        "value",
        "reference_value",
        "message_en",
        "message_vi",
        "raised_at",
    ],
    "period_approvals": [
        "province_code",
        "report_type",
        "period",
        "approved_by",
        "approved_at",
        "note",
        "province_name",
        "approval_id",
        "approval_count",
        "state",
    ],
    "approval_audit": [
        "province_code",
        "province_name",
        "report_type",
        "period",
        "approval_id",
        "action",
        "commune_code",
        "actor",
        "acted_at",
        "note",
        "outcome",
        "reason_code",
        "reason_en",
        "reason_vi",
        "state",
        "version",
    ],
    "commune_receipts": [
        "commune_code",
        "province_code",
        "report_type",
        "period",
        "revision",
        "received_at",
        "claimed_at",
        "first_received_at",
    ],
    "returned_reports": [
        "province_code",
        "report_type",
        "period",
        "commune_code",
        "note",
        "returned_by",
        "returned_at",
    ],
}


@pytest.fixture
def client(test_settings: Settings, clickhouse_db: str) -> Iterator[Client]:
    ch = connect(test_settings.clickhouse)
    yield ch
    ch.disconnect()


@pytest.fixture
def migrated(test_settings: Settings, client: Client) -> Client:
    migrate(test_settings.clickhouse)
    return client


def insert(client: Client, table: Table, rows: list[tuple[Any, ...]]) -> None:
    client.execute(f"INSERT INTO {table.name} ({', '.join(table.columns)}) VALUES", rows)


def names(client: Client, kind: str) -> set[str]:
    engine = "engine = 'View'" if kind == "view" else "engine != 'View'"
    rows = client.execute(
        f"SELECT name FROM system.tables WHERE database = currentDatabase() AND {engine}"
    )
    return {name for (name,) in rows}


def test_migrate_applies_every_migration_once_and_records_it(
    test_settings: Settings, client: Client
) -> None:
    first = migrate(test_settings.clickhouse)
    known = load_migrations()
    assert [m.version for m in first.applied] == [m.version for m in known]
    assert first.already_applied == []
    assert first.reference is not None
    assert first.reference.replaced == (
        "provinces",
        "communes",
        "indicators",
        "legacy_communes",
        "commune_lineage",
        "reporting_exemptions",
    )

    assert names(client, "table") >= {
        LEDGER_TABLE,
        "provinces",
        "communes",
        "commune_reports",
        "province_indicator_values",
        "rejections",
        "sink_poison_messages",
        "indicators",
        "province_completeness_values",
        "province_indicator_changes",
        "report_warnings_log",
        "reporting_periods",
        "missing_report_alerts",
        "approvals",
        "legacy_communes",
        "commune_lineage",
        "reporting_exemptions",
        "approval_decisions",
        "reporting_obligations",
    }
    assert names(client, "view") == set(VIEW_COLUMNS)
    for view, columns in VIEW_COLUMNS.items():
        described = client.execute(f"DESCRIBE TABLE {view}")  # in column order
        assert [row[0] for row in described] == columns, view
    ledger = client.execute(f"SELECT version, name, checksum FROM {LEDGER_TABLE} ORDER BY version")
    assert ledger == [(m.version, m.name, m.checksum) for m in known]

    second = migrate(test_settings.clickhouse)
    assert second.applied == []
    assert [m.version for m in second.already_applied] == [m.version for m in known]
    assert second.reference is not None and second.reference.replaced == ()
    assert client.execute(f"SELECT count() FROM {LEDGER_TABLE}") == [(len(known),)]
    check_schema(client, database=test_settings.clickhouse.database)


def test_migrate_creates_the_database_when_missing(test_settings: Settings) -> None:
    settings = test_settings.clickhouse
    admin = connect(settings, use_database=False)
    try:
        assert admin.execute(
            "SELECT count() FROM system.databases WHERE name = %(db)s", {"db": settings.database}
        ) == [(0,)]
        migrate(settings)
        assert admin.execute(
            "SELECT count() FROM system.databases WHERE name = %(db)s", {"db": settings.database}
        ) == [(1,)]
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {settings.database}")
        admin.disconnect()


def test_reference_tables_hold_the_2025_map(migrated: Client) -> None:
    reference = load_reference()
    assert migrated.execute("SELECT count(), sum(communes_expected) FROM provinces") == [(34, 3321)]
    assert migrated.execute("SELECT count(), uniqExact(province_code) FROM communes") == [
        (3321, 34)
    ]
    hanoi = migrated.execute(
        "SELECT province_name, communes_expected FROM provinces WHERE province_code = '01'"
    )
    assert hanoi == [(reference.provinces["01"].name, reference.communes_expected("01"))]
    orphans = migrated.execute(
        "SELECT count() FROM communes"
        " WHERE province_code NOT IN (SELECT province_code FROM provinces)"
    )
    assert orphans == [(0,)]
    commune = reference.communes["00070"]
    assert migrated.execute(
        "SELECT commune_name, province_code, division_type FROM communes"
        " WHERE commune_code = '00070'"
    ) == [(commune.name, commune.province_code, commune.division_type)]


def test_legacy_tables_hold_the_crosswalk(migrated: Client) -> None:
    """Checked in SQL, as a BI tool or the views would read them: every old unit maps to at
    least one existing 2025 commune, and the shares of each old unit add up to 1."""
    crosswalk = load_crosswalk()
    assert migrated.execute(
        "SELECT count(), uniqExact(legacy_province_code) FROM legacy_communes"
    ) == [(10040, 63)]
    assert migrated.execute("SELECT count() FROM commune_lineage") == [(len(crosswalk.rows()),)]
    assert migrated.execute(
        "SELECT count() FROM legacy_communes"
        " WHERE legacy_code NOT IN (SELECT legacy_code FROM commune_lineage)"
    ) == [(0,)]
    assert migrated.execute(
        "SELECT count() FROM commune_lineage"
        " WHERE commune_code NOT IN (SELECT commune_code FROM communes)"
    ) == [(0,)]
    assert migrated.execute(
        "SELECT count() FROM (SELECT legacy_code, sum(share) AS total, sum(is_primary) AS primaries"
        " FROM commune_lineage GROUP BY legacy_code)"
        " WHERE abs(total - 1) > 1e-9 OR primaries != 1"
    ) == [(0,)]
    hoang_sa = migrated.execute(
        "SELECT commune_name, share, method FROM commune_lineage"
        " ANY INNER JOIN (SELECT commune_code, commune_name FROM communes) USING commune_code"
        " WHERE legacy_code = '498'"
    )
    assert hoang_sa == [("Đặc khu Hoàng Sa", 1.0, "whole")]
    assert migrated.execute(
        "SELECT legacy_name, division_type FROM legacy_communes WHERE legacy_code = '498'"
    ) == [("Huyện Hoàng Sa", "huyện")]
    stored = migrated.execute(
        "SELECT legacy_code, commune_code, share, method, is_primary FROM commune_lineage"
        " ORDER BY legacy_code, commune_code"
    )
    assert [tuple(row) for row in stored] == lineage_rows(crosswalk)


def test_migrate_repairs_reference_tables_that_drifted(
    test_settings: Settings, migrated: Client
) -> None:
    migrated.execute("INSERT INTO provinces VALUES", [("99", "Nowhere", "tỉnh", 1)])
    migrated.execute("TRUNCATE TABLE communes")
    result = migrate(test_settings.clickhouse)
    assert result.reference is not None
    assert result.reference.replaced == ("provinces", "communes")
    assert migrated.execute("SELECT count() FROM provinces") == [(34,)]
    assert migrated.execute("SELECT count() FROM communes") == [(3321,)]


def test_changed_applied_migration_is_a_clear_error(
    test_settings: Settings, migrated: Client
) -> None:
    tampered = load_migrations()
    tampered[1] = Migration(tampered[1].version, tampered[1].name, tampered[1].sql + "\n-- edit")
    with pytest.raises(MigrationChecksumError, match=r"0002_commune_reports\.sql was applied"):
        migrate(test_settings.clickhouse, migrations=tampered)


def test_a_new_migration_is_applied_on_the_next_run(
    test_settings: Settings, migrated: Client
) -> None:
    newer = [
        *load_migrations(),
        Migration(
            99,
            "extra",
            "CREATE TABLE IF NOT EXISTS extra (x UInt8) ENGINE = MergeTree ORDER BY x;",
        ),
    ]
    with pytest.raises(SchemaNotReadyError, match=r"lacks migrations 0099_extra\.sql"):
        check_schema(migrated, database=test_settings.clickhouse.database, migrations=newer)
    result = migrate(test_settings.clickhouse, migrations=newer)
    assert [m.file_name for m in result.applied] == ["0099_extra.sql"]
    assert "extra" in names(migrated, "table")


def test_a_failed_migration_is_not_recorded_and_completes_when_rerun(
    test_settings: Settings, migrated: Client
) -> None:
    first_statement = "CREATE TABLE IF NOT EXISTS half (x UInt8) ENGINE = MergeTree ORDER BY x"
    broken = [*load_migrations(), Migration(98, "half", f"{first_statement};\nSELECT nonsense(;")]
    with pytest.raises(MigrationError, match=r"0098_half.sql, statement 2 of 2"):
        migrate(test_settings.clickhouse, migrations=broken)
    assert migrated.execute(f"SELECT count() FROM {LEDGER_TABLE} WHERE version = 98") == [(0,)]
    assert "half" in names(migrated, "table")  # no transactional DDL: statement 1 stayed

    fixed = [*load_migrations(), Migration(98, "half", f"{first_statement};\nSELECT 1;")]
    result = migrate(test_settings.clickhouse, migrations=fixed)
    assert [m.file_name for m in result.applied] == ["0098_half.sql"]


def test_sink_refuses_to_start_on_an_unmigrated_database(
    test_settings: Settings, client: Client
) -> None:
    with pytest.raises(SchemaNotReadyError, match=r"lacks migrations 0001_reference_tables\.sql"):
        check_schema(client, database=test_settings.clickhouse.database)
    missing = connect(test_settings.clickhouse.model_copy(update={"database": "no_such_db_x"}))
    with pytest.raises(SchemaNotReadyError, match="'no_such_db_x' does not exist"):
        check_schema(missing, database="no_such_db_x")


def report(commune: str, revision: int, values: dict[str, float], period: str = "2025-08"):
    province = "01" if commune.startswith("L") else load_reference().communes[commune].province_code
    return COMMUNE_REPORTS.row(
        {
            "report_id": f"00000000-0000-4000-8000-{commune[-5:]:0>5}{revision:07d}",
            "commune_code": commune,
            "province_code": province,
            "report_type": "monthly",
            "period": period,
            "revision": revision,
            "submitted_at": T0.replace(day=revision),
            "first_submitted_at": T0.replace(day=1),
            "accepted_at": T0.replace(day=revision),
            "deadline": AUGUST_DEADLINE,
            "on_time": True,
            "amended": False,
            "indicators": values,
        }
    )


def test_commune_indicators_show_only_the_latest_revision_before_any_merge(
    migrated: Client,
) -> None:
    reference = load_reference()
    # Three inserts, three parts: revision 3 arrives before revision 2 (out of order).
    insert(migrated, COMMUNE_REPORTS, [report("00070", 1, {"births": 1.0, "deaths": 9.0})])
    insert(migrated, COMMUNE_REPORTS, [report("00070", 3, {"births": 3.0})])
    insert(migrated, COMMUNE_REPORTS, [report("00070", 2, {"births": 2.0, "deaths": 2.0})])
    insert(migrated, COMMUNE_REPORTS, [report("00073", 1, {"births": 5.0})])
    insert(migrated, COMMUNE_REPORTS, [report("00070", 1, {"births": 7.0}, period="2025-09")])
    assert migrated.execute("SELECT count() FROM commune_reports") == [(5,)]  # not merged

    rows = migrated.execute(
        "SELECT commune_code, commune_name, province_code, period, indicator_code, value,"
        " revision, submitted_at FROM commune_indicators"
        " ORDER BY commune_code, period, indicator_code"
    )
    name_70 = reference.communes["00070"].name
    name_73 = reference.communes["00073"].name
    assert rows == [
        ("00070", name_70, "01", "2025-08", "births", 3.0, 3, T0.replace(day=3)),
        ("00070", name_70, "01", "2025-09", "births", 7.0, 1, T0.replace(day=1)),
        (
            "00073",
            name_73,
            reference.communes["00073"].province_code,
            "2025-08",
            "births",
            5.0,
            1,
            T0.replace(day=1),
        ),
    ]
    # A replayed copy of the latest revision changes nothing.
    insert(migrated, COMMUNE_REPORTS, [report("00070", 3, {"births": 3.0})])
    assert migrated.execute(
        "SELECT count(), sum(value) FROM commune_indicators WHERE period = '2025-08'"
    ) == [(2, 8.0)]


def test_completeness_and_figures_by_unit_type(migrated: Client) -> None:
    reference = load_reference()
    hanoi = [reference.communes[c] for c in reference.communes_by_province["01"]]
    ward = next(c.code for c in hanoi if c.division_type == "phường")
    communes_ = [c.code for c in hanoi if c.division_type == "xã"][:2]
    (hoang_sa,) = (c.code for c in reference.communes.values() if c.name == "Đặc khu Hoàng Sa")
    insert(migrated, COMMUNE_REPORTS, [report(ward, 1, {"tthc_received": 5.0})])
    insert(migrated, COMMUNE_REPORTS, [report(communes_[0], 1, {"tthc_received": 2.0})])
    insert(migrated, COMMUNE_REPORTS, [report(communes_[1], 1, {"tthc_received": 3.0})])
    insert(migrated, COMMUNE_REPORTS, [report(communes_[1], 2, {"tthc_received": 4.0})])
    insert(migrated, COMMUNE_REPORTS, [report(hoang_sa, 1, {"tthc_received": 100.0})])
    kinds = {k: sum(c.division_type == k for c in hanoi) for k in ("xã", "phường", "đặc khu")}
    counts = "division_type, communes_expected, communes_reported, completeness_pct"
    where = "WHERE report_type = 'monthly' AND period = '2025-08'"
    rows = migrated.execute(
        f"SELECT province_code, {counts} FROM division_type_completeness {where}"
    ) + [
        ("", *row)
        for row in migrated.execute(
            f"SELECT {counts} FROM national_division_type_completeness {where}"
        )
    ]
    completeness = {(province, kind): list(rest) for province, kind, *rest in rows}
    assert completeness[("01", "phường")] == [
        kinds["phường"],
        1,
        round(100 / kinds["phường"], 1),
    ]
    assert completeness[("01", "xã")] == [kinds["xã"], 2, round(200 / kinds["xã"], 1)]
    assert ("01", "đặc khu") not in completeness  # Hà Nội has no special zone
    # 13 special zones, Hoàng Sa owes nothing: its report does not count toward completeness.
    assert completeness[("", "đặc khu")] == [12, 0, 0.0]
    assert completeness[("", "xã")][:2] == [2621, 2]
    where = "WHERE period = '2025-08' AND indicator_code = 'tthc_received'"
    rows = migrated.execute(
        f"SELECT province_code, division_type, value, communes_reported"
        f" FROM division_type_indicators {where}"
    ) + [
        ("", *row)
        for row in migrated.execute(
            f"SELECT division_type, value, communes_reported FROM national_division_type_indicators"
            f" {where}"
        )
    ]
    figures = {(province, kind): list(rest) for province, kind, *rest in rows}
    assert figures[("01", "xã")] == [6.0, 2]  # the latest revision counts
    assert figures[("01", "phường")] == [5.0, 1]
    assert figures[("", "đặc khu")] == [100.0, 1]  # kept and counted in the figures


def test_legacy_reports_flag_approximate_and_superseded_parts(migrated: Client) -> None:
    """Old Phường Cống Vị (L00007) was split between Ngọc Hà (00008) and Giảng Võ (00025);
    old Phường Liễu Giai (L00008) went whole into Ngọc Hà, which also reported under its own
    code: there the old-code reports are superseded."""
    insert(migrated, COMMUNE_REPORTS, [report("L00007", 1, {"births": 1.0}, period="2024-08")])
    insert(migrated, COMMUNE_REPORTS, [report("L00007", 2, {"births": 2.0}, period="2024-08")])
    insert(migrated, COMMUNE_REPORTS, [report("L00008", 1, {"births": 3.0}, period="2024-08")])
    insert(migrated, COMMUNE_REPORTS, [report("00008", 1, {"births": 4.0}, period="2024-08")])
    rows = migrated.execute(
        "SELECT legacy_code, legacy_name, commune_code, commune_name, revision, share, method,"
        " is_primary, approximate, superseded FROM legacy_reports"
        " ORDER BY legacy_code, commune_code"
    )
    assert rows == [
        (
            "L00007",
            "Phường Cống Vị",
            "00008",
            "Phường Ngọc Hà",
            2,
            0.507576,
            "split_by_area",
            1,
            1,
            1,
        ),
        (
            "L00007",
            "Phường Cống Vị",
            "00025",
            "Phường Giảng Võ",
            2,
            0.492424,
            "split_by_area",
            0,
            1,
            0,
        ),
        ("L00008", "Phường Liễu Giai", "00008", "Phường Ngọc Hà", 1, 1.0, "whole", 1, 0, 1),
    ]


def test_latest_commune_reports_shows_the_latest_revision_per_commune_and_period(
    migrated: Client,
) -> None:
    """The view the gateway's report status reads, queried as the gateway does."""
    insert(migrated, COMMUNE_REPORTS, [report("00070", 1, {"births": 1.0, "deaths": 9.0})])
    insert(migrated, COMMUNE_REPORTS, [report("00070", 3, {"births": 3.0})])
    insert(migrated, COMMUNE_REPORTS, [report("00070", 2, {"births": 2.0, "deaths": 2.0})])
    insert(migrated, COMMUNE_REPORTS, [report("00070", 1, {"births": 7.0}, period="2025-09")])
    insert(migrated, COMMUNE_REPORTS, [report("00073", 1, {"births": 5.0})])

    rows = migrated.execute(
        "SELECT report_id, period, revision, submitted_at, report_type, indicator_codes,"
        " indicator_values FROM latest_commune_reports"
        " WHERE commune_code = %(commune)s AND period IN %(periods)s ORDER BY period",
        {"commune": "00070", "periods": ("2025-08", "2025-09", "2025-10")},
    )
    assert rows == [
        (
            "00000000-0000-4000-8000-000700000003",
            "2025-08",
            3,
            T0.replace(day=3),
            "monthly",
            ["births"],
            [3.0],
        ),
        (
            "00000000-0000-4000-8000-000700000001",
            "2025-09",
            1,
            T0.replace(day=1),
            "monthly",
            ["births"],
            [7.0],
        ),
    ]


def figure(province: str, indicator: str, version: int, value: float | None, reported: int):
    return PROVINCE_INDICATOR_VALUES.row(
        {
            "province_code": province,
            "period": "2025-08",
            "indicator_code": indicator,
            "value": value,
            "numerator": None,
            "denominator": None,
            "communes_reported": reported,
            "version": version,
            "updated_at": T0.replace(minute=version),
            "report_type": "monthly",
            "deadline": AUGUST_DEADLINE,
            "communes_with_warnings": 0,
            "communes_amended": 0,
        }
    )


def monthly_figure(
    province: str,
    period: str,
    indicator: str,
    value: float | None,
    *,
    parts: tuple[float, float] | None = None,
    version: int = 1,
    reported: int = 1,
):
    return PROVINCE_INDICATOR_VALUES.row(
        {
            "province_code": province,
            "period": period,
            "indicator_code": indicator,
            "value": value,
            "numerator": parts[0] if parts else None,
            "denominator": parts[1] if parts else None,
            "communes_reported": reported,
            "version": version,
            "updated_at": T0.replace(minute=version),
            "report_type": "monthly",
            "deadline": AUGUST_DEADLINE,
            "communes_with_warnings": 0,
            "communes_amended": 0,
        }
    )


def test_indicator_comparisons_give_last_year_and_the_year_to_date(migrated: Client) -> None:
    rows = [
        monthly_figure("01", "2024-08", "tthc_received", 50.0),
        monthly_figure("79", "2024-08", "tthc_received", 30.0),
        monthly_figure("01", "2025-07", "tthc_received", 10.0),
        monthly_figure("01", "2025-08", "tthc_received", 99.0, version=1),
        monthly_figure("01", "2025-08", "tthc_received", 20.0, version=2),
        monthly_figure("79", "2025-08", "tthc_received", 5.0),
        monthly_figure("01", "2024-12", "tthc_received", 1000.0),  # another year
        monthly_figure("79", "2025-06", "tthc_received", 7.0, reported=0),  # withdrawn
        monthly_figure("01", "2025-07", "tthc_online_rate", 0.5, parts=(1.0, 2.0)),
        monthly_figure("01", "2025-08", "tthc_online_rate", 0.75, parts=(3.0, 4.0)),
        monthly_figure("79", "2025-08", "tthc_online_rate", 0.0, parts=(0.0, 4.0)),
        monthly_figure("01", "2025-07", "internet_coverage_pct_max", 80.0),
        monthly_figure("01", "2025-08", "internet_coverage_pct_max", 60.0),
    ]
    for row in rows:
        insert(migrated, PROVINCE_INDICATOR_VALUES, [row])
    columns = "indicator_code, value, same_period_last_year, year_to_date, change, change_pct"
    rows = migrated.execute(
        f"SELECT province_code, {columns} FROM indicator_comparisons WHERE period = '2025-08'"
    ) + [
        ("", *row)
        for row in migrated.execute(
            f"SELECT {columns} FROM national_indicator_comparisons WHERE period = '2025-08'"
        )
    ]
    got = {(province, indicator): list(rest) for province, indicator, *rest in rows}
    assert got == {
        ("01", "tthc_received"): [20.0, 50.0, 30.0, -30.0, -60.0],
        ("79", "tthc_received"): [5.0, 30.0, 5.0, -25.0, pytest.approx(-83.333333)],
        ("", "tthc_received"): [25.0, 80.0, 35.0, -55.0, -68.75],
        ("01", "tthc_online_rate"): [0.75, None, 4.0 / 6.0, None, None],
        ("79", "tthc_online_rate"): [0.0, None, 0.0, None, None],
        ("", "tthc_online_rate"): [3.0 / 8.0, None, 4.0 / 10.0, None, None],
        ("01", "internet_coverage_pct_max"): [60.0, None, 80.0, None, None],
        ("", "internet_coverage_pct_max"): [60.0, None, 80.0, None, None],
    }


def test_province_indicators_show_the_highest_version_with_names_and_expected_counts(
    migrated: Client,
) -> None:
    reference = load_reference()
    insert(migrated, PROVINCE_INDICATOR_VALUES, [figure("01", "births", 1, 10.0, 1)])
    insert(migrated, PROVINCE_INDICATOR_VALUES, [figure("01", "births", 3, 30.0, 3)])
    insert(migrated, PROVINCE_INDICATOR_VALUES, [figure("01", "births", 2, 20.0, 2)])
    insert(
        migrated,
        PROVINCE_INDICATOR_VALUES,
        [figure("01", "tthc_ontime_rate", 1, None, 0), figure("79", "births", 1, 4.0, 1)],
    )
    assert migrated.execute("SELECT count() FROM province_indicator_values") == [(5,)]

    rows = migrated.execute(
        "SELECT province_code, province_name, period, indicator_code, value,"
        " communes_reported, communes_expected, updated_at FROM province_indicators"
        " ORDER BY province_code, indicator_code"
    )
    p01, p79 = reference.provinces["01"], reference.provinces["79"]
    assert rows == [
        (
            "01",
            p01.name,
            "2025-08",
            "births",
            30.0,
            3,
            reference.communes_expected("01"),
            T0.replace(minute=3),
        ),
        (
            "01",
            p01.name,
            "2025-08",
            "tthc_ontime_rate",
            None,
            0,
            reference.communes_expected("01"),
            T0.replace(minute=1),
        ),
        (
            "79",
            p79.name,
            "2025-08",
            "births",
            4.0,
            1,
            reference.communes_expected("79"),
            T0.replace(minute=1),
        ),
    ]


def test_rejected_reports_have_one_row_per_reason(migrated: Client) -> None:
    def rejection(offset: int, commune: str | None, reasons: list[dict[str, Any]]):
        return REJECTIONS.row(
            {
                "rejection_id": f"in:0:{offset}",
                "report_id": None,
                "commune_code": commune,
                "province_code": None,
                "period": "2025-08",
                "revision": 0,
                "reasons": reasons,
                "raw_payload": b"\x00\xff raw",
                "source_topic": "in",
                "source_partition": 0,
                "source_offset": offset,
                "rejected_at": T0,
            }
        )

    two: list[dict[str, Any]] = [
        {
            "code": "unknown_commune",
            "field": "commune_code",
            "message_en": "e1",
            "message_vi": "v1",
        },
        {"code": "invalid_revision", "field": None, "message_en": "e2", "message_vi": "v2"},
    ]
    insert(migrated, REJECTIONS, [rejection(5, "99999", two), rejection(6, None, two[1:])])
    insert(migrated, REJECTIONS, [rejection(5, "99999", two)])  # replayed
    rows = migrated.execute(
        "SELECT rejection_id, commune_code, revision, reason_code, reason_field, message_en,"
        " message_vi, source_topic, source_partition, source_offset, rejected_at"
        " FROM rejected_reports ORDER BY rejection_id, reason_code"
    )
    assert rows == [
        ("in:0:5", "99999", 0, "invalid_revision", None, "e2", "v2", "in", 0, 5, T0),
        ("in:0:5", "99999", 0, "unknown_commune", "commune_code", "e1", "v1", "in", 0, 5, T0),
        ("in:0:6", None, 0, "invalid_revision", None, "e2", "v2", "in", 0, 6, T0),
    ]
    assert migrated.execute(
        "SELECT hex(raw_payload) FROM rejections FINAL WHERE rejection_id = 'in:0:6'"
    ) == [("00FF20726177",)]


def test_migrate_command(test_settings: Settings, clickhouse_db: str) -> None:
    env = environment(test_settings)
    command = [str(Path(sys.executable).with_name("baocao"))]
    first = subprocess.run(
        [*command, "migrate"], env=env, capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0, first.stderr
    assert "applied   0006_bi_views.sql" in first.stdout
    assert (
        "reference tables: 34 provinces, 3321 communes, 46 indicators,"
        " 10040 pre-2025 communes, 10602 lineage rows"
        " (provinces, communes, indicators, legacy_communes, commune_lineage,"
        " reporting_exemptions)" in first.stdout
    )

    again = subprocess.run(
        [*command, "migrate"], env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    assert "applied   " not in again.stdout
    assert "0 applied now" in again.stdout
    assert "(unchanged)" in again.stdout

    status = subprocess.run(
        [*command, "migrate", "--status"], env=env, capture_output=True, text=True, timeout=60
    )
    assert status.returncode == 0, status.stderr
    assert status.stdout.count(" applied 20") == len(load_migrations())


def test_indicators_table_holds_the_catalogue(migrated: Client) -> None:
    catalogue = load_catalogue()
    rows = migrated.execute(
        "SELECT code, aggregation, numerator, denominator, report_types FROM indicators"
        " ORDER BY code"
    )
    assert len(rows) == len(list(catalogue)) == 46
    by_code = {row[0]: row[1:] for row in rows}
    rate = catalogue["tthc_on_time_rate"]
    assert by_code["tthc_on_time_rate"] == (
        "ratio",
        rate.numerator,
        rate.denominator,
        [str(t) for t in rate.report_types],
    )
    assert by_code["tthc_received"] == (
        "sum",
        None,
        None,
        [str(t) for t in catalogue["tthc_received"].report_types],
    )


def test_a_database_of_the_first_release_is_upgraded_and_its_rows_read_with_defaults(
    test_settings: Settings, client: Client
) -> None:
    """Rows written before issue 3 (no report type, no deadline) survive the upgrade: they
    read as monthly, their deadline and timeliness as unknown (NULL), and such a figure is
    provisional until its province approves the period. The first six migrations are run
    by hand without the ledger, so `migrate` also re-runs them: re-running is harmless."""
    reference = load_reference()
    for old in load_migrations()[:6]:
        for statement in old.statements():
            client.execute(statement)
    client.execute(
        "INSERT INTO provinces (province_code, province_name, division_type, communes_expected)"
        " VALUES",
        province_rows(reference),
    )
    client.execute(
        "INSERT INTO communes (commune_code, commune_name, province_code, division_type) VALUES",
        commune_rows(reference),
    )
    client.execute(
        "INSERT INTO commune_reports (report_id, commune_code, province_code, period, revision,"
        " submitted_at, indicator_codes, indicator_values) VALUES",
        [("r-old", "00070", "01", "2025-07", 1, T0, ["tthc_received"], [4.0])],
    )
    client.execute(
        "INSERT INTO province_indicator_values (province_code, period, indicator_code, value,"
        " numerator, denominator, communes_reported, version, updated_at) VALUES",
        [("01", "2025-07", "tthc_received", 4.0, None, None, 1, 1, T0)],
    )

    result = migrate(test_settings.clickhouse)
    assert [m.version for m in result.applied] == [m.version for m in load_migrations()]

    assert client.execute(
        "SELECT commune_code, period, value, report_type, on_time, amended FROM commune_indicators"
    ) == [("00070", "2025-07", 4.0, "monthly", None, 0)]
    figures = "SELECT value, report_type, deadline, status FROM province_indicators"
    assert client.execute(figures) == [(4.0, "monthly", None, "provisional")]
    assert client.execute(
        "SELECT value, status, deadline FROM national_indicators WHERE period = '2025-07'"
    ) == [(4.0, "provisional", None)]
    client.execute(
        "INSERT INTO approvals (approval_id, province_code, report_type, period, approved_by,"
        " approved_at, note) VALUES",
        [("a-1", "01", "monthly", "2025-07", "so-noi-vu", T0, None)],
    )
    assert client.execute(figures) == [(4.0, "monthly", None, "approved")]


def test_an_applied_but_unrecorded_column_addition_is_skipped_and_a_partial_one_refused(
    test_settings: Settings, migrated: Client
) -> None:
    migrated.execute(f"TRUNCATE TABLE {LEDGER_TABLE}")  # as if no migration had been recorded
    again = migrate(test_settings.clickhouse)
    assert [m.version for m in again.applied] == [m.version for m in load_migrations()]
    columns = migrated.execute(
        "SELECT count() FROM system.columns WHERE database = currentDatabase()"
        " AND table = 'commune_reports' AND name = 'deadline'"
    )
    assert columns == [(1,)]

    migrated.execute("ALTER TABLE commune_reports DROP COLUMN amended")
    migrated.execute(f"TRUNCATE TABLE {LEDGER_TABLE}")
    with pytest.raises(
        MigrationError,
        match=r"0008_reporting_semantics_columns\.sql: table commune_reports already has"
        r" columns accepted_at, deadline, first_submitted_at, on_time, report_type but not"
        r" amended",
    ):
        migrate(test_settings.clickhouse)
