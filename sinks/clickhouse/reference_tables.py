"""The ``provinces`` and ``communes`` tables, loaded from the reference data.

``baocao migrate`` calls :func:`load_reference_tables` on every run. The rows come from
:func:`baocao.reference.load_reference` (the ``vietnam-provinces`` package), never typed by
hand. A table whose content already equals the package's is left alone, so a repeated
``migrate`` writes nothing; otherwise it is truncated and filled in one insert (readers may
see it empty for that moment, which only happens when the package's data changes).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clickhouse_driver import Client

from baocao.reference import ReferenceData
from sinks.clickhouse.client import TRANSIENT_ERRORS, describe_error
from sinks.exceptions import MigrationError

__all__ = [
    "COMMUNE_COLUMNS",
    "PROVINCE_COLUMNS",
    "ReferenceLoad",
    "commune_rows",
    "load_reference_tables",
    "province_rows",
]

logger = logging.getLogger(__name__)

PROVINCE_COLUMNS = ("province_code", "province_name", "division_type", "communes_expected")
COMMUNE_COLUMNS = ("commune_code", "commune_name", "province_code", "division_type")


@dataclass(frozen=True, slots=True)
class ReferenceLoad:
    """Rows now in each table, and which tables had to be rewritten."""

    provinces: int
    communes: int
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


def load_reference_tables(client: Client, reference: ReferenceData) -> ReferenceLoad:
    """Make ``provinces`` and ``communes`` hold exactly ``reference``; return what changed."""
    wanted: dict[str, tuple[Sequence[str], Sequence[tuple[Any, ...]]]] = {
        "provinces": (PROVINCE_COLUMNS, province_rows(reference)),
        "communes": (COMMUNE_COLUMNS, commune_rows(reference)),
    }
    replaced: list[str] = []
    for table, (columns, rows) in wanted.items():
        if _replace_if_different(client, table, columns, rows):
            replaced.append(table)
    if replaced:
        logger.info(
            "reference tables reloaded (%s) from vietnam-provinces data %s",
            ", ".join(replaced),
            reference.data_version,
        )
    return ReferenceLoad(
        provinces=len(wanted["provinces"][1]),
        communes=len(wanted["communes"][1]),
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
