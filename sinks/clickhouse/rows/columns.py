"""The parts of a table declaration: :class:`Column`, its kinds, and :class:`Table`.

A column kind (``string``, ``uint32``, ``date_time`` ...) pairs a ClickHouse type, as
``system.columns`` shows it, with the check its value passes (:mod:`.checks`), so a
declaration reads like the ``CREATE TABLE`` it mirrors. A table's row builder is made from its
columns, never written by hand: a value its column cannot hold raises
:class:`~baocao.sinks.exceptions.RowError`, never reaches the insert.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from baocao.core.topics import TopicSpec
from baocao.sinks.clickhouse.rows.checks import (
    DATETIME_MAX,
    DATETIME_MIN,
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    UINT32_MAX,
    UINT64_MAX,
    as_flag,
    as_instant,
    as_integer,
    as_optional_number,
    as_optional_text,
    as_records,
    as_text,
    as_texts,
    required,
)
from baocao.sinks.clickhouse.rows.upgrades import Upgrade
from baocao.sinks.exceptions import RowError

__all__ = [
    "Build",
    "Column",
    "Encode",
    "Read",
    "Row",
    "Table",
    "date_time",
    "epoch_seconds",
    "flag",
    "given",
    "nullable_date",
    "nullable_float64",
    "nullable_int32",
    "nullable_size",
    "nullable_string",
    "offset",
    "partition",
    "spread",
    "string",
    "strings",
    "uint32",
    "uint64",
]

Row = tuple[Any, ...]
Read = Callable[[Mapping[str, Any]], Any]
Build = Callable[[Mapping[str, Any]], Row]
#: A whole column of checked values as the insert sends it (see :attr:`Column.encode`).
Encode = Callable[[list[Any]], list[Any]]
Prepare = Callable[[Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its name, its ClickHouse type as ``system.columns`` shows it, and how
    its value is read and checked from a record."""

    name: str
    type: str
    read: Read = field(repr=False, compare=False)
    #: Turns a column of checked values into what the driver sends fastest (None: as is).
    encode: Encode | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Table:
    """A table the sink writes: its columns in row order (the order of its insert), the
    topic that fills it, and the upgrades of the records its topic accepts besides the
    writer's current form, by schema family (``commune_report`` for ``commune_report.v1``).

    ``prepare`` runs once per record before the columns read it, for values several columns
    share. :attr:`row` turns a record into a row, checked column by column.
    """

    name: str
    declared: tuple[Column, ...]
    #: The topic whose records fill it; None for a table the sink fills itself.
    topic: TopicSpec | None = None
    upgrades: Mapping[str, Upgrade] = field(default_factory=dict, repr=False, compare=False)
    prepare: Prepare | None = field(default=None, repr=False, compare=False)
    row: Build = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "row", _row_builder(self))

    @property
    def columns(self) -> tuple[str, ...]:
        """The column names, in row order."""
        return tuple(column.name for column in self.declared)

    @property
    def types(self) -> dict[str, str]:
        """Column name -> ClickHouse type."""
        return {column.name: column.type for column in self.declared}

    def index(self, column: str) -> int:
        """Position of ``column`` in this table's rows."""
        return self.columns.index(column)


def _row_builder(table: Table) -> Build:
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


# -- column kinds: a ClickHouse type and its check ----------------------------------------


def string(name: str) -> Column:
    def read(record: Mapping[str, Any]) -> str:
        value = record.get(name)
        if type(value) is str:  # the common case, in one call per column
            return value
        return as_text(required(record, name), name)

    return Column(name, "String", read)


def nullable_string(name: str) -> Column:
    def read(record: Mapping[str, Any]) -> str | None:
        return as_optional_text(record.get(name), name)

    return Column(name, "Nullable(String)", read)


def _integer(type_: str, low: int, high: int) -> Callable[[str], Column]:
    def kind(name: str) -> Column:
        def read(record: Mapping[str, Any]) -> int:
            value = record.get(name)
            if type(value) is int and low <= value <= high:  # the common case
                return value
            return as_integer(required(record, name), name, low=low, high=high)

        return Column(name, type_, read)

    return kind


uint32 = _integer("UInt32", 0, UINT32_MAX)
uint64 = _integer("UInt64", 0, UINT64_MAX)
#: Kafka partitions and offsets are never negative, whatever their column's sign.
partition = _integer("Int32", 0, INT32_MAX)
offset = _integer("Int64", 0, INT64_MAX)


def nullable_int32(name: str) -> Column:
    def read(record: Mapping[str, Any]) -> int | None:
        value = record.get(name)
        return None if value is None else as_integer(value, name, low=INT32_MIN, high=INT32_MAX)

    return Column(name, "Nullable(Int32)", read)


def nullable_size(name: str) -> Column:
    """A byte count that older records lack (NULL), as Nullable(Int64)."""

    def read(record: Mapping[str, Any]) -> int | None:
        value = record.get(name)
        return None if value is None else as_integer(value, name, low=0, high=INT64_MAX)

    return Column(name, "Nullable(Int64)", read)


def nullable_float64(name: str) -> Column:
    def read(record: Mapping[str, Any]) -> float | None:
        return as_optional_number(record.get(name), name)

    return Column(name, "Nullable(Float64)", read)


def epoch_seconds(moments: list[Any]) -> list[Any]:
    """Checked UTC datetimes as the seconds ClickHouse ``DateTime`` stores: the driver takes
    integers as they are, where it would convert every datetime through pytz."""
    return [int(moment.timestamp()) for moment in moments]


def nullable_date(name: str) -> Column:
    """A calendar day (Avro ``date``), or NULL; ClickHouse ``Date`` holds 1970..2149."""

    def read(record: Mapping[str, Any]) -> date | None:
        value = record.get(name)
        if value is None:
            return None
        if isinstance(value, datetime) or not isinstance(value, date):
            raise RowError(f"{name} must be a date, not {type(value).__name__}")
        if not date(1970, 1, 1) <= value <= date(2149, 6, 6):
            raise RowError(f"{name} {value.isoformat()} is outside 1970..2149")
        return value

    return Column(name, "Nullable(Date)", read)


def date_time(name: str) -> Column:
    def read(record: Mapping[str, Any]) -> Any:
        value = record.get(name)
        if (
            type(value) is datetime
            and value.tzinfo is UTC
            and DATETIME_MIN <= value <= DATETIME_MAX
        ):
            return value  # what fastavro decodes: an aware UTC datetime in range
        return as_instant(required(record, name), name)

    return Column(name, "DateTime('UTC')", read, epoch_seconds)


def flag(name: str, *, default: bool | None = None) -> Column:
    """A boolean as UInt8; ``default`` stands in for a field older records lack."""

    def read(record: Mapping[str, Any]) -> int:
        value = required(record, name) if default is None else record.get(name, default)
        return as_flag(value, name)

    return Column(name, "UInt8", read)


def strings(name: str) -> Column:
    def read(record: Mapping[str, Any]) -> list[str]:
        return as_texts(required(record, name), name)

    return Column(name, "Array(String)", read)


#: How one item of a list field is checked, by the element type of its array column.
_ITEM_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "String": as_text,
    "Nullable(String)": as_optional_text,
    "Nullable(Float64)": as_optional_number,
    "UInt32": lambda value, label: as_integer(value, label, low=0, high=UINT32_MAX),
}


def spread(name: str, element: str, items: str, member: str) -> Column:
    """An ``Array(element)`` column holding the ``member`` of each record of the list field
    ``items`` (the causes of a change, the reasons of a rejection): parallel arrays. A
    Nullable element's member may be absent; a value is named by its item (``cause value``)."""
    check = _ITEM_CHECKS[element]
    label = f"{items.removesuffix('s')} {member}"
    optional = element.startswith("Nullable(")

    def value(item: Mapping[str, Any]) -> Any:
        return check(item.get(member) if optional else required(item, member), label)

    def read(record: Mapping[str, Any]) -> list[Any]:
        return [value(item) for item in as_records(required(record, items), items)]

    return Column(name, f"Array({element})", read)


def given(name: str, type_: str, encode: Encode | None = None) -> Column:
    """A column whose value is already checked, stored as given: worked out by the table's
    ``prepare`` step, or filled by the sink itself (poison messages)."""

    def read(record: Mapping[str, Any]) -> Any:
        return record[name]

    return Column(name, type_, read, encode)
