"""Every table declaration of the sink against the table ``baocao migrate`` made on the real
ClickHouse: each declared column exists with the declared type, and every other column is
one the server fills itself (a ``DEFAULT``), so a row built from the declaration is complete."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.settings import environment

from baocao.core.clickhouse import connect
from baocao.core.settings import Settings
from baocao.sinks.clickhouse.rows.tables import TABLES


def test_every_declaration_matches_its_migrated_table(
    test_settings: Settings, clickhouse_db: str
) -> None:
    baocao = str(Path(sys.executable).with_name("baocao"))
    env = environment(test_settings)
    done = subprocess.run([baocao, "migrate"], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    client = connect(test_settings.clickhouse)
    try:
        rows = client.execute(
            "SELECT table, name, type, default_kind FROM system.columns WHERE database = %(db)s",
            {"db": clickhouse_db},
        )
    finally:
        client.disconnect()
    server: dict[str, dict[str, tuple[str, str]]] = {}
    for table, name, type_, default_kind in rows:
        server.setdefault(table, {})[name] = (type_, default_kind)

    mismatches = []
    for table in TABLES:
        columns = server.get(table.name)
        if columns is None:
            mismatches.append(f"{table.name}: no such table after baocao migrate")
            continue
        declared = table.types
        if len(declared) != len(table.declared):
            mismatches.append(f"{table.name}: a column is declared twice")
        for name, type_ in declared.items():
            found = columns.get(name)
            if found is None:
                mismatches.append(f"{table.name}.{name}: declared, not in the table")
            elif found[0] != type_:
                mismatches.append(f"{table.name}.{name}: declared {type_}, table has {found[0]}")
        for name, (type_, default_kind) in columns.items():
            if name not in declared and default_kind == "":
                mismatches.append(f"{table.name}.{name} ({type_}): not declared, no default")
    assert mismatches == []
    # The one column the sink leaves to the server, everywhere it exists.
    assert {
        name for table in TABLES for name in server[table.name] if name not in table.columns
    } == {"ingested_at"}
