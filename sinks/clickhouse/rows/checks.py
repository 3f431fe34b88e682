"""Checks of one decoded value against the *storage* type of its column.

The rule: a value ClickHouse would refuse must not reach the insert (one bad record would
block its batch forever); each check raises :class:`RowError` naming the field, and returns
the value as the column stores it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from baocao.sinks.exceptions import RowError

__all__ = [
    "DATETIME_MAX",
    "DATETIME_MIN",
    "INT32_MAX",
    "INT32_MIN",
    "INT64_MAX",
    "UINT32_MAX",
    "UINT64_MAX",
    "as_flag",
    "as_instant",
    "as_integer",
    "as_number",
    "as_optional_number",
    "as_optional_text",
    "as_records",
    "as_text",
    "as_texts",
    "is_absent_instant",
    "required",
]

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
#: ClickHouse ``DateTime`` is a UInt32 count of seconds since the epoch.
DATETIME_MIN = datetime(1970, 1, 1, tzinfo=UTC)
DATETIME_MAX = datetime.fromtimestamp(UINT32_MAX, tz=UTC)


def required(record: Mapping[str, Any], name: str) -> Any:
    """The field ``name`` of ``record``; a missing field is a :class:`RowError`."""
    try:
        return record[name]
    except KeyError:
        raise RowError(f"field {name!r} is missing") from None


def as_text(value: Any, name: str) -> str:
    if type(value) is str:  # the common case first: no isinstance chain per value
        return value
    if isinstance(value, uuid.UUID):  # fastavro decodes the uuid logical type
        return str(value)
    if not isinstance(value, str):
        raise RowError(f"{name} must be a string, not {type(value).__name__}")
    return value


def as_optional_text(value: Any, name: str) -> str | None:
    return None if value is None else as_text(value, name)


def as_integer(value: Any, name: str, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RowError(f"{name} must be an integer, not {type(value).__name__}")
    if not low <= value <= high:
        raise RowError(f"{name} {value} is outside the column's range {low}..{high}")
    return value


def as_flag(value: Any, name: str) -> int:
    """A boolean as the 0/1 of a UInt8 column."""
    if not isinstance(value, bool):
        raise RowError(f"{name} must be a boolean, not {type(value).__name__}")
    return int(value)


def as_number(value: Any, name: str) -> float:
    kind = type(value)
    if kind is float:
        return value
    if kind is bool or not isinstance(value, int | float):
        raise RowError(f"{name} must be a number, not {kind.__name__}")
    return float(value)


def as_optional_number(value: Any, name: str) -> float | None:
    return None if value is None else as_number(value, name)


def as_instant(value: Any, name: str) -> datetime:
    """An aware UTC datetime within ClickHouse ``DateTime``'s range (naive means UTC)."""
    if not isinstance(value, datetime):
        raise RowError(f"{name} must be a timestamp, not {type(value).__name__}")
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not DATETIME_MIN <= moment <= DATETIME_MAX:
        raise RowError(f"{name} {moment.isoformat()} is outside 1970..2106")
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def as_texts(value: Any, name: str) -> list[str]:
    if not isinstance(value, list):
        raise RowError(f"{name} must be a list, not {type(value).__name__}")
    return [as_text(item, name) for item in value]


def as_records(value: Any, name: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(r, Mapping) for r in value):
        raise RowError(f"{name} must be a list of records")
    return value


def is_absent_instant(value: Any) -> bool:
    """A ``timestamp-millis`` field left at its default 0 (fastavro hands the default over
    as the int, not as a datetime)."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment == DATETIME_MIN
    return value == 0 and not isinstance(value, bool)
