"""What a ClickHouse database holds, as far as access is concerned: its relations and columns.

Both privilege paths are derived from the live schema rather than from a list kept here, so a
view added by a later migration gets its province filter the next time ``baocao bi apply``
runs, and a view without a ``province_code`` column (the national ones) is never handed to a
province user.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from clickhouse_driver import Client

from baocao.app.bi.access import PROVINCE_COLUMN

__all__ = ["Relation", "describe_database", "server_version"]

logger = logging.getLogger(__name__)

_VERSION = re.compile(r"^(\d+)\.(\d+)")


@dataclass(frozen=True, slots=True)
class Relation:
    """A table or view: its engine (``engine_full`` as the server prints it) and columns."""

    name: str
    engine: str
    engine_full: str
    #: (name, type) in the relation's own order.
    columns: tuple[tuple[str, str], ...]
    #: ``create_table_query`` as the server stores it (table names qualified by database).
    create_query: str = ""
    #: Columns computed by the server (MATERIALIZED, ALIAS): never inserted or copied.
    computed: tuple[str, ...] = ()

    @property
    def is_view(self) -> bool:
        return self.engine == "View"

    @property
    def is_materialized_view(self) -> bool:
        return self.engine == "MaterializedView"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @property
    def stored_columns(self) -> tuple[str, ...]:
        """The columns an ``INSERT ... SELECT`` copies."""
        return tuple(name for name in self.column_names if name not in self.computed)

    @property
    def per_province(self) -> bool:
        """Whether each row belongs to one province (so a province user may see some)."""
        return PROVINCE_COLUMN in self.column_names


def server_version(client: Client) -> tuple[int, int]:
    """(major, minor) of the server, from ``SELECT version()``."""
    text = str(client.execute("SELECT version()")[0][0])
    match = _VERSION.match(text)
    if match is None:
        raise ValueError(f"unexpected ClickHouse version {text!r}")
    return int(match.group(1)), int(match.group(2))


def describe_database(client: Client, database: str) -> list[Relation]:
    """Every relation of ``database`` by name (empty when the database does not exist)."""
    rows = client.execute(
        "SELECT name, engine, engine_full, create_table_query FROM system.tables"
        " WHERE database = %(database)s ORDER BY name",
        {"database": database},
    )
    relations = []
    for name, engine, engine_full, create_query in rows:
        described = client.execute(f"DESCRIBE TABLE `{database}`.`{name}`")
        relations.append(
            Relation(
                name=name,
                engine=engine,
                engine_full=engine_full,
                columns=tuple((str(row[0]), str(row[1])) for row in described),
                create_query=str(create_query),
                computed=tuple(
                    str(row[0]) for row in described if str(row[2]) in ("MATERIALIZED", "ALIAS")
                ),
            )
        )
    return relations
