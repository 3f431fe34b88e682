"""``baocao officers``: the province and national officers' logins to the dashboard.

Run on the dashboard's host (the logins live in its SQLite file)::

    baocao officers add --province 01 --name "Trần Văn Hùng"   # prints login and password once
    baocao officers add --national --name "Lê Thị Mai"
    baocao officers reset --login o01-1      # a new password; its sessions end
    baocao officers disable --login o01-1    # signed out at once
    baocao officers unlock --login o01-1     # clears its sign-in backoff in the running dashboard
    baocao officers list

Exit codes: 0 done; 1 bad input; 2 the database cannot be opened.
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console

from baocao.app.dashboard.officers import (
    OFFICER_REALM,
    OfficerDatabase,
    OfficerError,
    add_officer,
    officer_of,
    open_officers,
)
from baocao.core.listing import print_listing
from baocao.core.logins import Login, LoginError, LoginStore, PasswordHasher, generate_password
from baocao.core.reference import load_reference
from baocao.core.settings import Settings

__all__ = ["officers_app"]

EXIT_INPUT = 1
EXIT_UNAVAILABLE = 2
_PROVINCE = re.compile(r"^\d{1,2}$")

officers_app = typer.Typer(
    help="Province and national officers' logins to the dashboard.", no_args_is_help=True
)
_LOGIN = typer.Option(..., "--login", help="The officer's login name (see `list`).")


@officers_app.command("add")
def add(
    province: str | None = typer.Option(None, "--province", help="2-digit province code."),
    national: bool = typer.Option(False, "--national", help="A national officer (all provinces)."),
    name: str = typer.Option(..., "--name", help="The officer's full name (shown as approver)."),
    login: str | None = typer.Option(None, "--login", help="Login name (default o<NN>-<n>)."),
) -> None:
    """Add an officer's login; prints the login and its password ONCE on standard output."""
    if national == (province is not None):
        _fail(EXIT_INPUT, "give exactly one of --province NN and --national")
    code = None if province is None else _province(province)
    with _logins() as logins:
        try:
            created, password = add_officer(logins, province=code, name=name, login_id=login)
        except LoginError as exc:
            _fail(EXIT_INPUT, str(exc))
    _print_secret(created, password, "added")


@officers_app.command("reset")
def reset(login: str = _LOGIN) -> None:
    """A new password (enabled again if it was disabled); its open sessions end."""
    with _logins() as logins:
        found = _find(logins, login)
        password = generate_password()
        changed = logins.set_password(found.login_id, PasswordHasher().hash(password), enable=True)
    _print_secret(changed, password, "reset")


@officers_app.command("disable")
def disable(login: str = _LOGIN) -> None:
    """Disable a login: it cannot sign in, and its open sessions end at once."""
    with _logins() as logins:
        found = _find(logins, login)
        disabled = logins.disable(found.login_id)
    Console().print(f"disabled {disabled.login_id} at {disabled.disabled_at}", markup=False)


@officers_app.command("unlock")
def unlock(login: str = _LOGIN) -> None:
    """Clear the login's sign-in backoff (the running dashboard reads it at the next try)."""
    settings = Settings()
    database = _database(settings)
    found = _find(LoginStore(database), login)
    database.record_unlock(found.login_id, by=getpass.getuser())
    Console().print(f"unlocked {found.login_id}", markup=False)


@officers_app.command("list")
def list_officers(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """List the officers' logins (never a password)."""
    with _logins() as logins:
        found = logins.of_place(OFFICER_REALM)
    rows = [
        {
            **officer_of(x).as_json(),
            "created_at": x.created_at,
            "password_set_at": x.password_set_at,
            "disabled_at": x.disabled_at,
        }
        for x in found
    ]
    columns = {
        "login": "login",
        "province": "province",
        "name": "name",
        "created_at": "created",
        "disabled_at": "disabled",
    }
    print_listing(rows, columns=columns, title=f"{len(rows)} officer logins", as_json=as_json)


def _database(settings: Settings) -> OfficerDatabase:
    try:
        return open_officers(settings)
    except OfficerError as exc:
        _fail(EXIT_UNAVAILABLE, str(exc))


@contextmanager
def _logins() -> Iterator[LoginStore]:
    yield LoginStore(_database(Settings()))


def _find(logins: LoginStore, login_id: str) -> Login:
    found = logins.get(login_id.strip().lower())
    if found is None or found.realm != OFFICER_REALM:
        _fail(EXIT_INPUT, f"no officer login {login_id!r}")
    return found


def _province(value: str) -> str:
    code = value.strip()
    if not _PROVINCE.match(code) or code.zfill(2) not in load_reference().provinces:
        _fail(EXIT_INPUT, f"{value!r} is not a province of the reference data")
    return code.zfill(2)


def _print_secret(login: Login, password: str, verb: str) -> None:
    officer = officer_of(login)
    where = f"province {officer.province}" if officer.province else "national"
    typer.echo(f"{verb} {login.login_id} ({where}, {officer.name})")
    typer.echo(f"login: {login.login_id}")
    typer.echo(f"password: {password}")


def _fail(code: int, message: str) -> NoReturn:
    Console(stderr=True).print(message, style="red", markup=False)
    raise typer.Exit(code=code)
