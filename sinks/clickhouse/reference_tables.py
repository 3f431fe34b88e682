"""The reference tables, loaded from the packages' data: ``provinces`` and ``communes``
(vietnam-provinces), ``indicators`` (the catalogue), ``legacy_communes`` and
``commune_lineage`` (vietnamadminunits, through :mod:`baocao.core.lineage`).

``baocao migrate`` calls :func:`load_reference_tables` on every run. The rows come from
:func:`baocao.core.reference.load_reference` and :func:`baocao.core.catalogue.load_catalogue`,
never typed by hand. A table already equal to its data is left alone; otherwise it is
truncated and filled in one insert.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clickhouse_driver import Client

from baocao.core.catalogue import Catalogue
from baocao.core.clickhouse import TRANSIENT_ERRORS, describe_error
from baocao.core.lineage import Crosswalk, load_crosswalk
from baocao.core.obligations import default_obligations
from baocao.core.reference import ReferenceData
from baocao.sinks.exceptions import MigrationError

__all__ = [
    "COMMUNE_COLUMNS",
    "EXEMPTION_COLUMNS",
    "INDICATOR_COLUMNS",
    "LEGACY_COMMUNE_COLUMNS",
    "LINEAGE_COLUMNS",
    "PROVINCE_COLUMNS",
    "REFERENCE_TABLES",
    "ReferenceLoad",
    "commune_rows",
    "exemption_rows",
    "indicator_rows",
    "legacy_commune_rows",
    "lineage_rows",
    "load_reference_tables",
    "province_rows",
]

logger = logging.getLogger(__name__)

PROVINCE_COLUMNS = ("province_code", "province_name", "division_type", "communes_expected")
COMMUNE_COLUMNS = ("commune_code", "commune_name", "province_code", "division_type")
INDICATOR_COLUMNS = (
    "code",
    "name_vi",
    "name_en",
    "unit",
    "domain",
    "aggregation",
    "numerator",
    "denominator",
    "report_types",
)

LEGACY_COMMUNE_COLUMNS = (
    "legacy_code",
    "legacy_name",
    "division_type",
    "district_code",
    "district_name",
    "legacy_province_code",
    "legacy_province_name",
)
LINEAGE_COLUMNS = ("legacy_code", "commune_code", "share", "method", "is_primary")
EXEMPTION_COLUMNS = ("commune_code", "report_type", "reason")
#: Why a default exemption exists, for people reading the table.
NO_ADMINISTRATION = "no administration on site"


@dataclass(frozen=True, slots=True)
class ReferenceLoad:
    """Rows now in each table, and which tables had to be rewritten."""

    provinces: int
    communes: int
    indicators: int
    legacy_communes: int
    lineage: int
    replaced: tuple[str, ...]


def province_rows(reference: ReferenceData) -> list[tuple[str, str, str, int]]:
    """One row per province, sorted by code, with the number of its communes."""
    return [
        (p.code, p.name, p.division_type, reference.communes_expected(p.code))
        for p in sorted(reference.provinces.values(), key=lambda p: p.code)
    ]


def commune_rows(reference: ReferenceData) -> list[tuple[str, str, str, str]]:
    """One row per commune, sorted by code."""
    return [
        (c.code, c.name, c.province_code, c.division_type)
        for c in sorted(reference.communes.values(), key=lambda c: c.code)
    ]


def indicator_rows(catalogue: Catalogue) -> list[tuple[Any, ...]]:
    """One row per indicator, sorted by code; ``report_types`` as a list (an Array column
    reads back as a list, and an unchanged table must compare equal)."""
    return [
        (
            i.code,
            i.name_vi,
            i.name_en,
            i.unit,
            i.domain,
            i.aggregation,
            i.numerator,
            i.denominator,
            [str(report_type) for report_type in i.report_types],
        )
        for i in sorted(catalogue, key=lambda i: i.code)
    ]


def legacy_commune_rows(crosswalk: Crosswalk) -> list[tuple[str, ...]]:
    """One row per pre-2025 unit, sorted by code."""
    return [
        (
            c.code,
            c.name,
            c.division_type,
            c.district_code,
            c.district_name,
            c.province_code,
            c.province_name,
        )
        for c in sorted(crosswalk.legacy_communes.values(), key=lambda c: c.code)
    ]


def lineage_rows(crosswalk: Crosswalk) -> list[tuple[str, str, float, str, int]]:
    """One row per (old code, new code), sorted by both (the table's order)."""
    return sorted(
        (row.old_code, row.new_code, row.share, row.method, int(row.primary))
        for row in crosswalk.rows()
    )


def exemption_rows(reference: ReferenceData) -> list[tuple[str, str, str]]:
    """One row per unit and report type it owes no report of, by default."""
    obligations = default_obligations(reference)
    return sorted(
        (commune, report_type, NO_ADMINISTRATION)
        for (commune, report_type), windows in obligations.overrides.items()
        if not windows
    )


#: The tables this module fills. Each replica of a replicated ClickHouse keeps its own copy
#: (plain MergeTree, loaded by ``baocao migrate`` on every replica): they come from the
#: package, never from the sink, so there is nothing for ZooKeeper to coordinate.
REFERENCE_TABLES = (
    "provinces",
    "communes",
    "indicators",
    "legacy_communes",
    "commune_lineage",
    "reporting_exemptions",
)


def load_reference_tables(
    client: Client,
    reference: ReferenceData,
    catalogue: Catalogue,
    crosswalk: Crosswalk | None = None,
) -> ReferenceLoad:
    """Make ``provinces`` and ``communes`` hold exactly ``reference``, ``indicators``
    exactly ``catalogue``, and the legacy tables exactly ``crosswalk``; return what changed."""
    crosswalk = crosswalk or load_crosswalk()
    wanted: dict[str, tuple[Sequence[str], Sequence[tuple[Any, ...]]]] = {
        "provinces": (PROVINCE_COLUMNS, province_rows(reference)),
        "communes": (COMMUNE_COLUMNS, commune_rows(reference)),
        "indicators": (INDICATOR_COLUMNS, indicator_rows(catalogue)),
        "legacy_communes": (LEGACY_COMMUNE_COLUMNS, legacy_commune_rows(crosswalk)),
        "commune_lineage": (LINEAGE_COLUMNS, lineage_rows(crosswalk)),
        "reporting_exemptions": (EXEMPTION_COLUMNS, exemption_rows(reference)),
    }
    assert tuple(wanted) == REFERENCE_TABLES  # one list of them, checked here
    replaced: list[str] = []
    for table, (columns, rows) in wanted.items():
        if _replace_if_different(client, table, columns, rows):
            replaced.append(table)
    if replaced:
        logger.info(
            "reference tables reloaded (%s) from vietnam-provinces data %s,"
            " vietnamadminunits %s and the catalogue",
            ", ".join(replaced),
            reference.data_version,
            crosswalk.package_version,
        )
    return ReferenceLoad(
        provinces=len(wanted["provinces"][1]),
        communes=len(wanted["communes"][1]),
        indicators=len(wanted["indicators"][1]),
        legacy_communes=len(wanted["legacy_communes"][1]),
        lineage=len(wanted["commune_lineage"][1]),
        replaced=tuple(replaced),
    )


def _replace_if_different(
    client: Client, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> bool:
    column_list = ", ".join(columns)
    try:
        current = client.execute(
            f"SELECT {column_list} FROM {table} ORDER BY {columns[0]}, {columns[1]}"
        )
        if [tuple(row) for row in current] == list(rows):
            return False
        client.execute(f"TRUNCATE TABLE {table}")
        client.execute(f"INSERT INTO {table} ({column_list}) VALUES", list(rows))
    except TRANSIENT_ERRORS as exc:
        raise MigrationError(
            f"cannot load reference table {table} ({len(rows)} rows): {describe_error(exc)};"
            " run `baocao migrate` again"
        ) from exc
    return True
