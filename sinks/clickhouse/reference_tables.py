"""The ``provinces``, ``communes`` and ``indicators`` tables, loaded from the package's data.

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
from baocao.core.reference import ReferenceData
from baocao.sinks.exceptions import MigrationError

__all__ = [
    "COMMUNE_COLUMNS",
    "INDICATOR_COLUMNS",
    "PROVINCE_COLUMNS",
    "ReferenceLoad",
    "commune_rows",
    "indicator_rows",
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


@dataclass(frozen=True, slots=True)
class ReferenceLoad:
    """Rows now in each table, and which tables had to be rewritten."""

    provinces: int
    communes: int
    indicators: int
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


def load_reference_tables(
    client: Client, reference: ReferenceData, catalogue: Catalogue
) -> ReferenceLoad:
    """Make ``provinces`` and ``communes`` hold exactly ``reference``, and ``indicators``
    exactly ``catalogue``; return what changed."""
    wanted: dict[str, tuple[Sequence[str], Sequence[tuple[Any, ...]]]] = {
        "provinces": (PROVINCE_COLUMNS, province_rows(reference)),
        "communes": (COMMUNE_COLUMNS, commune_rows(reference)),
        "indicators": (INDICATOR_COLUMNS, indicator_rows(catalogue)),
    }
    replaced: list[str] = []
    for table, (columns, rows) in wanted.items():
        if _replace_if_different(client, table, columns, rows):
            replaced.append(table)
    if replaced:
        logger.info(
            "reference tables reloaded (%s) from vietnam-provinces data %s and the catalogue",
            ", ".join(replaced),
            reference.data_version,
        )
    return ReferenceLoad(
        provinces=len(wanted["provinces"][1]),
        communes=len(wanted["communes"][1]),
        indicators=len(wanted["indicators"][1]),
        replaced=tuple(replaced),
    )


def _replace_if_different(
    client: Client, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> bool:
    column_list = ", ".join(columns)
    try:
        current = client.execute(f"SELECT {column_list} FROM {table} ORDER BY {columns[0]}")
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
