"""``baocao obligations list`` over the test's migrated database: the obligations that differ
from the default as a JSON array (``--json``) or a table, like the CLI's other lists."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

from clickhouse_driver import Client
from support import records
from support.cli import invoke
from support.dashboard import insert

from baocao.core.reference import load_reference
from baocao.core.settings import Settings
from baocao.sinks.clickhouse.rows.tables import REPORTING_OBLIGATIONS

REFERENCE = load_reference()
DA_NANG = "48"
HOANG_SA = next(
    c for c in REFERENCE.communes_by_province[DA_NANG] if "Hoàng Sa" in REFERENCE.communes[c].name
)
ENDED = next(c for c in REFERENCE.communes_by_province[DA_NANG] if c != HOANG_SA)
AT = datetime(2025, 9, 10, 3, 0, 5, tzinfo=UTC)


def test_the_list_is_a_json_array_for_scripts_and_a_table_for_people(
    db: Client, test_settings: Settings
) -> None:
    insert(
        db,
        REPORTING_OBLIGATIONS,
        records.obligation(ENDED, "end", AT, ends_on=date(2025, 7, 31)),
        records.obligation(REFERENCE.communes_by_province["01"][0], "exempt", AT),
    )

    listed = invoke("obligations", "list", "--province", DA_NANG, "--json", settings=test_settings)
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    ended = {k: v for k, v in rows[0].items() if k != "recorded_at"}
    assert ended == {
        "province_code": DA_NANG,
        "commune_code": ENDED,
        "commune_name": REFERENCE.communes[ENDED].name,
        "report_type": "monthly",
        "action": "end",
        "starts_on": None,
        "ends_on": "2025-07-31",
        "reason": "test",
        "recorded_by": "o48-1",
    }
    assert rows[0]["recorded_at"].startswith("2025-09-10T")
    # Hoàng Sa's default exemptions follow, one per report type; no other province.
    assert [(r["commune_code"], r["report_type"], r["recorded_by"]) for r in rows[1:]] == [
        (HOANG_SA, t, "default") for t in ("daily", "monthly", "quarterly", "weekly", "yearly")
    ]

    # A wide terminal: a row a line (a narrow one wraps long values, tests/unit/core).
    table = invoke(
        "obligations", "list", "--province", DA_NANG, settings=test_settings, env={"COLUMNS": "160"}
    )
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].strip() == "6 obligations that differ from the default"
    cells = [[c.strip() for c in re.split("[│┃]", line)[1:-1]] for line in lines]
    assert cells[2] == ["commune", "name", "report type", "in force", "reason", "by"]
    assert [
        ENDED,
        REFERENCE.communes[ENDED].name,
        "monthly",
        "… to 2025-07-31",
        "test",
        "o48-1",
    ] in (cells)
    assert [HOANG_SA, REFERENCE.communes[HOANG_SA].name, "yearly", "exempt"] in [
        c[:4] for c in cells
    ]
