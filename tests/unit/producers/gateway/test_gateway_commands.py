"""``baocao tokens``, ``baocao template`` and ``baocao import --dry-run`` as an operator runs
them (no server needed: tokens live in SQLite, a dry run publishes nothing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from support.cli import invoke

from baocao.producers.gateway.store import GatewayStore
from baocao.producers.gateway.tokens import TokenStore


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "BAOCAO_GATEWAY_DB_PATH": str(tmp_path / "gw" / "gateway.db"),
        # Nothing here may reach a broker: a dry run that tried would fail on this port.
        "BAOCAO_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
    }


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = invoke(*args, env=env)
    return result.exit_code, result.stdout, result.stderr


def test_tokens_issue_list_and_revoke(env: dict[str, str]) -> None:
    code, out, err = run(env, "tokens", "issue", "--commune", "70", "--label", "văn thư")
    assert code == 0, err
    token = out.strip()
    assert token.startswith("baocao_") and "\n" not in token
    assert "commune 00070 (Phường Hoàn Kiếm)" in err and "shown only now" in err
    token_id = token.split("_", 2)[1]
    store = GatewayStore(Path(env["BAOCAO_GATEWAY_DB_PATH"])).open()
    try:
        principal = TokenStore(store).authenticate(token)
    finally:
        store.close()
    assert principal is not None and principal.code == "00070"

    assert run(env, "tokens", "issue", "--province", "1")[0] == 0
    code, out, _ = run(env, "tokens", "list", "--json")
    listed = json.loads(out)
    assert [(t["scope"], t["code"], t["label"]) for t in listed] == [
        ("commune", "00070", "văn thư"),
        ("province", "01", ""),
    ]
    assert token.split("_", 2)[2] not in out  # never a secret

    code, out, _ = run(env, "tokens", "revoke", token_id)
    assert code == 0 and f"revoked token {token_id}" in out
    code, out, _ = run(env, "tokens", "list", "--json", "--active")
    assert [t["code"] for t in json.loads(out)] == ["01"]


def test_tokens_refuse_unknown_places_and_ids(env: dict[str, str]) -> None:
    code, _, err = run(env, "tokens", "issue", "--commune", "99999")
    assert code == 1 and "no commune with code '99999'" in err
    code, _, err = run(env, "tokens", "issue")
    assert code == 2 and "exactly one of --commune or --province" in err
    code, _, err = run(env, "tokens", "revoke", "000000000000")
    assert code == 1 and "no token with id" in err


def test_template_and_a_dry_run_import(env: dict[str, str], tmp_path: Path) -> None:
    sheet = tmp_path / "monthly.xlsx"
    code, out, err = run(env, "template", "--report-type", "monthly", "--output", str(sheet))
    assert code == 0, err
    assert "monthly template with 37 indicator columns" in out
    book = load_workbook(sheet)
    rows = book.active
    assert rows is not None
    header = [c.value for c in rows[1]]
    for number, (commune, value) in enumerate([("00070", 5), ("00073", "x")], start=3):
        for key, cell in {
            "commune_code": commune,
            "province_code": "01",
            "period": "2025-08",
            "revision": 1,
            "tthc_received": value,
        }.items():
            rows.cell(row=number, column=header.index(key) + 1, value=cell)
    book.save(sheet)
    rejects = tmp_path / "rejects.jsonl"
    code, out, err = run(
        env, "import", str(sheet), "--dry-run", "--rejects-file", str(rejects), "--strict"
    )
    assert code == 1, err  # --strict: a row was rejected
    assert "would publish 1, rejected 1 (of 2 rows" in out
    assert "dry run: nothing was published" in out
    assert "G (tthc_received)" in out and "schema_error" in out
    [record] = [json.loads(line) for line in rejects.read_text(encoding="utf-8").splitlines()]
    assert record["line"] == 4 and record["reasons"][0]["field"] == "indicators.tthc_received"

    code, _, err = run(env, "template", "--output", str(tmp_path / "t.ods"))
    assert code == 1 and ".xlsx or .csv" in err
