"""``baocao clerks``: the personal logins commune clerks use in the app at the gateway's ``/``.

Province officers will manage these from the dashboard once they have logins of their own;
until then an operator runs, on the gateway's host (the logins live in its SQLite file)::

    baocao clerks add --commune 00070 --name "Nguyễn Thị Lan"   # prints the login and password
    baocao clerks reset --commune 00070 --login c00070-1         # a new password; sessions end
    baocao clerks disable --commune 00070 --login c00070-1       # signed out at once

Passwords are generated (never chosen at a terminal), printed once, and stored as Argon2
hashes only. Exit codes: 0 done; 1 bad input; 2 the database cannot be opened.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from baocao.core.listing import print_listing
from baocao.core.logins import Login, LoginError, LoginStore, PasswordHasher, generate_password
from baocao.core.reference import COMMUNE_CODE_WIDTH, load_reference
from baocao.core.settings import Settings
from baocao.producers.gateway.exceptions import TokenStoreError
from baocao.producers.gateway.store import GatewayStore

__all__ = ["COMMUNE_REALM", "add_clerk", "clerks_app"]

#: The realm of the clerks' logins in :mod:`baocao.core.logins` (officers will be ``province``).
COMMUNE_REALM = "commune"

EXIT_INPUT = 1
EXIT_UNAVAILABLE = 2

clerks_app = typer.Typer(
    help="Commune clerks' logins to the app at the gateway's / (report from a phone).",
    no_args_is_help=True,
)

_COMMUNE = typer.Option(..., "--commune", help="5-digit commune code (70 is 00070).")
_LOGIN = typer.Option(
    None, "--login", help="The login name; may be left out when the commune has only one."
)


def add_clerk(
    logins: LoginStore, commune: str, *, login_id: str | None, label: str
) -> tuple[Login, str]:
    """A new login for ``commune`` (named ``c<commune>-<n>`` unless given) and its password."""
    password = generate_password()
    name = login_id or logins.next_free_id(f"c{commune}")
    hashed = PasswordHasher().hash(password)
    login = logins.add(name, realm=COMMUNE_REALM, code=commune, password_hash=hashed, label=label)
    return login, password


@clerks_app.command("add")
def add(
    commune: str = _COMMUNE,
    login: str | None = typer.Option(None, "--login", help="Login name (default c<commune>-<n>)."),
    name: str = typer.Option("", "--name", help="Who holds it (shown in the list)."),
) -> None:
    """Add a clerk's login; prints the login and its password ONCE on standard output."""
    code = _commune(commune)
    with _logins() as logins:
        try:
            created, password = add_clerk(logins, code, login_id=login, label=name)
        except LoginError as exc:
            _fail(EXIT_INPUT, str(exc))
    _print_secret(created, password, "added")


@clerks_app.command("reset")
def reset(commune: str = _COMMUNE, login: str | None = _LOGIN) -> None:
    """A new password for a login (enabled again if it was disabled); its sessions end."""
    code = _commune(commune)
    with _logins() as logins:
        found = _find(logins, code, login)
        password = generate_password()
        changed = logins.set_password(found.login_id, PasswordHasher().hash(password), enable=True)
    _print_secret(changed, password, "reset")


@clerks_app.command("disable")
def disable(commune: str = _COMMUNE, login: str | None = _LOGIN) -> None:
    """Disable a login: it cannot sign in, and its open sessions end at once."""
    code = _commune(commune)
    with _logins() as logins:
        found = _find(logins, code, login)
        disabled = logins.disable(found.login_id)
    Console().print(
        f"disabled {disabled.login_id} of commune {code} at {disabled.disabled_at}",
        soft_wrap=True,
        markup=False,
    )


@clerks_app.command("list")
def list_clerks(
    commune: str | None = typer.Option(None, "--commune", help="Only this commune."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """List the clerks' logins (never a password)."""
    code = None if commune is None else _commune(commune)
    with _logins() as logins:
        found = logins.of_place(COMMUNE_REALM, code)
    rows = [
        {
            "login": x.login_id,
            "commune_code": x.code,
            "name": x.label,
            "created_at": x.created_at,
            "password_set_at": x.password_set_at,
            "disabled_at": x.disabled_at,
        }
        for x in found
    ]
    columns = {
        "login": "login",
        "commune_code": "commune",
        "name": "name",
        "created_at": "created",
        "password_set_at": "password set",
        "disabled_at": "disabled",
    }
    print_listing(rows, columns=columns, title=f"{len(rows)} clerk logins", as_json=as_json)


def _commune(text: str) -> str:
    code = text.strip()
    code = code.zfill(COMMUNE_CODE_WIDTH) if code.isdigit() else code
    if code not in load_reference().communes:
        _fail(EXIT_INPUT, f"there is no commune with code {code!r}")
    return code


def _find(logins: LoginStore, commune: str, login_id: str | None) -> Login:
    """The commune's login ``login_id``, or its only one when none is named."""
    if login_id is not None:
        found = logins.get(login_id.strip().lower())
        if found is None or found.realm != COMMUNE_REALM or found.code != commune:
            _fail(EXIT_INPUT, f"commune {commune} has no login {login_id!r}")
        return found
    held = logins.of_place(COMMUNE_REALM, commune)
    if len(held) != 1:
        names = ", ".join(x.login_id for x in held) or "none"
        _fail(
            EXIT_INPUT, f"commune {commune} has {len(held)} logins ({names}); name one with --login"
        )
    return held[0]


def _print_secret(login: Login, password: str, done: str) -> None:
    Console(stderr=True).print(
        f"{done} login {login.login_id} for commune {login.code}; the password is shown only "
        "now: hand it to the clerk in person",
        soft_wrap=True,
        markup=False,
    )
    typer.echo(f"login: {login.login_id}")
    typer.echo(f"password: {password}")


@contextmanager
def _logins() -> Iterator[LoginStore]:
    store = GatewayStore(Settings().gateway.db_path)
    try:
        store.open()
    except TokenStoreError as exc:
        _fail(EXIT_UNAVAILABLE, str(exc))
    try:
        yield LoginStore(store)
    finally:
        store.close()


def _fail(code: int, message: str) -> NoReturn:
    Console(stderr=True).print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)
