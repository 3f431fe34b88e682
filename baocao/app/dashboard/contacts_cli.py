"""``baocao contacts``: the clerks' and officers' contacts the dashboard shows its officers.

    baocao contacts import contacts.csv      # header: code,role,name,email,phone,language
    baocao contacts list --province 01

Every row is checked (a commune code for a clerk, a province code for an officer, an e-mail
or a phone, language vi or en); one bad row and nothing is stored, each problem printed with
its line. Exit codes: 0 done; 1 bad input; 2 the database cannot be opened.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from baocao.app.dashboard.contacts import ContactError, ContactStore, parse_contacts
from baocao.app.dashboard.officers import OfficerError, open_officers
from baocao.core.reference import load_reference
from baocao.core.settings import Settings

__all__ = ["contacts_app"]

contacts_app = typer.Typer(
    help="Contacts of commune clerks and province officers (personal data: the dashboard's"
    " own database, never ClickHouse).",
    no_args_is_help=True,
)


def _store() -> ContactStore:
    try:
        return ContactStore(open_officers(Settings()), load_reference())
    except OfficerError as exc:
        Console(stderr=True).print(str(exc), style="red", markup=False)
        raise typer.Exit(2) from exc


@contacts_app.command("import")
def import_contacts(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A UTF-8 CSV file."),
) -> None:
    """Store every contact of FILE (replacing a contact of the same code, role and name)."""
    try:
        contacts = parse_contacts(file.read_text(encoding="utf-8"), load_reference())
    except (ContactError, UnicodeDecodeError) as exc:
        problems = exc.problems if isinstance(exc, ContactError) else [f"not UTF-8: {exc}"]
        err = Console(stderr=True)
        err.print(f"{file}: nothing imported, {len(problems)} problem(s):", markup=False)
        for problem in problems:
            err.print(f"  {problem}", markup=False)
        raise typer.Exit(1) from exc
    count = _store().save(contacts, by="import")
    typer.echo(f"imported {count} contacts from {file}")


@contacts_app.command("list")
def list_contacts(
    province: str = typer.Option(..., "--province", help="2-digit province code."),
) -> None:
    """The contacts of a province's officers and communes' clerks, as JSON."""
    found = _store().of_province(province.zfill(2))
    typer.echo(json.dumps([c.as_json() for c in found], ensure_ascii=False, indent=2))
