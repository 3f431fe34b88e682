"""Contacts: the CSV checked row by row, the import command, and province officers editing
their communes' contacts in the dashboard (another province refused)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support.officers import ORIGIN, Officers, make_officers, signed_in
from typer.testing import CliRunner

from baocao.app.cli import app as cli
from baocao.app.dashboard.contacts import ContactError, ContactStore, parse_contacts
from baocao.app.web import create_app
from baocao.core.reference import load_reference
from baocao.core.settings import ClickHouseSettings

REFERENCE = load_reference()
HANOI_COMMUNE = REFERENCE.communes_by_province["01"][0]
HCMC_COMMUNE = REFERENCE.communes_by_province["79"][0]
HEADER = "code,role,name,email,phone,language\n"
GOOD = HEADER + (
    f"{HANOI_COMMUNE},clerk,Nguyễn Thị Lan,lan@example.vn,0912 345 678,vi\n"
    "01,officer,Trần Văn Hùng,,+84 24 3825 1234,en\n"
)


@pytest.fixture
def officers(tmp_path: Path) -> Officers:
    return make_officers(tmp_path / "officers.db")


def test_a_good_file_parses_every_row() -> None:
    contacts = parse_contacts(GOOD, REFERENCE)
    assert [(c.code, c.role, c.language) for c in contacts] == [
        (HANOI_COMMUNE, "clerk", "vi"),
        ("01", "officer", "en"),
    ]


def test_every_bad_row_is_named_with_its_line() -> None:
    bad = HEADER + (
        f"{HANOI_COMMUNE},clerk,Lan,not-an-email,,vi\n"
        "99999,clerk,X,x@example.vn,,vi\n"
        "01,mayor,Y,y@example.vn,,fr\n"
        f"{HANOI_COMMUNE},clerk,,,,vi\n"
    )
    with pytest.raises(ContactError) as refused:
        parse_contacts(bad, REFERENCE)
    problems = refused.value.problems
    assert any(p.startswith("line 2:") and "e-mail" in p for p in problems)
    assert any(p.startswith("line 3:") and "commune code" in p for p in problems)
    assert any(p.startswith("line 4:") and "role" in p for p in problems)
    assert any(p.startswith("line 4:") and "language" in p for p in problems)
    assert any(p.startswith("line 5:") and "name" in p for p in problems)


@pytest.mark.parametrize(
    "address",
    ["lan..mai@example.vn", ".lan@example.vn", "lan@example..vn", "lan@-example.vn", "lan@vn"],
)
def test_an_address_a_mail_server_would_refuse_is_refused_at_import_with_its_row(
    address: str,
) -> None:
    """The notifier sends to these addresses: a malformed one is caught at import, not
    bounced at every deadline."""
    with pytest.raises(ContactError) as refused:
        parse_contacts(GOOD + f"{HANOI_COMMUNE},clerk,Mai,{address},,vi\n", REFERENCE)
    (problem,) = refused.value.problems
    assert problem.startswith(f"line 4: {address!r} is not an e-mail address")


def test_addresses_are_stored_normalized() -> None:
    (contact,) = parse_contacts(
        HEADER + f"{HANOI_COMMUNE},clerk,Lan,lan@EXAMPLE.VN,,vi\n", REFERENCE
    )
    assert contact.email == "lan@example.vn"


def test_the_import_command_stores_all_or_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BAOCAO_DASHBOARD_DB_PATH", str(tmp_path / "officers.db"))
    runner = CliRunner()
    bad = tmp_path / "bad.csv"
    bad.write_text(GOOD + "01,officer,Z,,12,vi\n", encoding="utf-8")
    refused = runner.invoke(cli, ["contacts", "import", str(bad)])
    assert refused.exit_code == 1 and "line 4" in refused.output
    good = tmp_path / "good.csv"
    good.write_text(GOOD, encoding="utf-8")
    listed = runner.invoke(cli, ["contacts", "list", "--province", "01"])
    assert listed.output.strip() == "[]"  # the bad file stored nothing
    imported = runner.invoke(cli, ["contacts", "import", str(good)])
    assert imported.exit_code == 0 and "imported 2" in imported.output
    assert "Nguyễn Thị Lan" in runner.invoke(cli, ["contacts", "list", "--province", "01"]).output


def test_a_province_officer_edits_its_own_communes_contacts_only(officers: Officers) -> None:
    store = ContactStore(officers.database, REFERENCE)
    store.save(parse_contacts(GOOD, REFERENCE), by="import")
    app = create_app(ClickHouseSettings(port=1), door=officers.door(), contacts=store)
    hanoi: TestClient = signed_in(app, officers.hanoi)
    listed = hanoi.get("/api/provinces/01/contacts").json()
    assert {c["name"] for c in listed} == {"Nguyễn Thị Lan", "Trần Văn Hùng"}
    assert hanoi.get("/api/provinces/79/contacts").status_code == 403
    row = {"code": HANOI_COMMUNE, "role": "clerk", "name": "Lê Văn Nam", "phone": "0987654321"}
    assert (
        hanoi.put("/api/provinces/01/contacts", json=row, headers={"Origin": ORIGIN}).status_code
        == 200
    )
    other = {**row, "code": HCMC_COMMUNE}
    answer = hanoi.put("/api/provinces/01/contacts", json=other, headers={"Origin": ORIGIN})
    assert answer.status_code == 422 and "not of province 01" in answer.text
    assert (
        hanoi.put("/api/provinces/79/contacts", json=other, headers={"Origin": ORIGIN}).status_code
        == 403
    )
    cross = hanoi.put(
        "/api/provinces/01/contacts", json=row, headers={"Origin": "http://evil.example"}
    )
    assert cross.status_code == 403
    assert "Lê Văn Nam" in {c.name for c in store.of_province("01")}
    assert store.of_province("79") == []
