"""``baocao gateway`` and ``baocao tokens``: serve the HTTP gateway, manage its API tokens.

Exit codes: 0 done; 1 bad input (an unknown commune or token id); 2 the gateway could not
start (Kafka unreachable, database not writable) or the token database cannot be opened.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from baocao.core.listing import print_listing
from baocao.core.reference import COMMUNE_CODE_WIDTH, PROVINCE_CODE_WIDTH, load_reference
from baocao.core.settings import Settings
from baocao.producers.gateway.exceptions import TokenStoreError, UnknownTokenError
from baocao.producers.gateway.store import GatewayStore
from baocao.producers.gateway.tokens import Scope, TokenStore

__all__ = ["gateway", "tokens_app"]

logger = logging.getLogger(__name__)

EXIT_INPUT = 1
EXIT_UNAVAILABLE = 2


def gateway(
    host: str | None = typer.Option(
        None, "--host", help="Address to listen on (default BAOCAO_GATEWAY_HOST, 127.0.0.1)."
    ),
    port: int | None = typer.Option(
        None, "--port", min=0, max=65535, help="Port (default BAOCAO_GATEWAY_PORT, 18088)."
    ),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request."),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        max=64,
        help="Worker processes on one socket (each with its own Kafka producer, all sharing "
        "the SQLite token and submission database); the rate limit counts per process.",
    ),
) -> None:
    """Serve the HTTP ingestion gateway: the commune app at /, POST /v1/reports, report
    status, /healthz, /metrics.

    Clerks sign in to the app with their own login (`baocao clerks add`); software submits
    with an API token (`baocao tokens issue`). OpenAPI at /openapi.json, interactive docs at
    /docs. Exit code 2 when it cannot start.
    """
    from baocao.producers.gateway.server import gateway_settings, serve

    settings = gateway_settings()
    options = settings.gateway
    if not serve(
        settings,
        host=host or options.host,
        port=options.port if port is None else port,
        access_log=access_log,
        workers=workers,
    ):
        raise typer.Exit(EXIT_UNAVAILABLE)


tokens_app = typer.Typer(
    help="API tokens of the HTTP gateway: a commune's submits and reads its own reports, "
    "a province's reads its communes' reports.",
    no_args_is_help=True,
)


@tokens_app.command("issue")
def issue(
    commune: str | None = typer.Option(None, "--commune", help="5-digit commune code."),
    province: str | None = typer.Option(None, "--province", help="2-digit province code."),
    label: str = typer.Option("", "--label", help="A note for the list (who holds it)."),
) -> None:
    """Issue a token and print it ONCE on standard output (only its hash is stored)."""
    if (commune is None) == (province is None):
        raise typer.BadParameter("give exactly one of --commune or --province")
    reference = load_reference()
    if commune is not None:
        scope, code = Scope.COMMUNE, _padded(commune, COMMUNE_CODE_WIDTH)
        place = reference.communes.get(code)
        name = None if place is None else place.name
    else:
        scope, code = Scope.PROVINCE, _padded(province or "", PROVINCE_CODE_WIDTH)
        found = reference.provinces.get(code)
        name = None if found is None else found.name
    if name is None:
        _fail(EXIT_INPUT, f"there is no {scope} with code {code!r}")
    with _token_store(Settings()) as tokens:
        issued = tokens.issue(scope=scope, code=code, label=label)
    err = Console(stderr=True)
    err.print(
        f"issued token {issued.info.token_id} for {scope} {code} ({escape(str(name))}); "
        "keep it secret: it is shown only now",
        soft_wrap=True,
    )
    typer.echo(issued.token)


@tokens_app.command("revoke")
def revoke(
    token_id: str = typer.Argument(..., help="The token id (see `baocao tokens list`)."),
) -> None:
    """Revoke a token: the gateway refuses it (401) from the next request on."""
    with _token_store(Settings()) as tokens:
        try:
            info = tokens.revoke(token_id)
        except UnknownTokenError as exc:
            _fail(EXIT_INPUT, str(exc))
    Console().print(
        f"revoked token {info.token_id} of {info.scope} {info.code} at {info.revoked_at}",
        soft_wrap=True,
        markup=False,
    )


@tokens_app.command("list")
def list_tokens(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
    active_only: bool = typer.Option(False, "--active", help="Leave out revoked tokens."),
) -> None:
    """List the tokens (ids, scopes, codes, dates; never the secrets)."""
    with _token_store(Settings()) as tokens:
        infos = [i for i in tokens.all() if i.active or not active_only]
    rows = [
        {
            "token_id": i.token_id,
            "scope": str(i.scope),
            "code": i.code,
            "label": i.label,
            "created_at": i.created_at,
            "revoked_at": i.revoked_at,
        }
        for i in infos
    ]
    columns = {
        "token_id": "token id",
        "scope": "scope",
        "code": "code",
        "label": "label",
        "created_at": "created",
        "revoked_at": "revoked",
    }
    print_listing(rows, columns=columns, title=f"{len(rows)} tokens", as_json=as_json)


def _padded(code: str, width: int) -> str:
    """Codes as written on paper: ``70`` is commune ``00070``."""
    code = code.strip()
    return code.zfill(width) if code.isdigit() else code


@contextmanager
def _token_store(settings: Settings) -> Iterator[TokenStore]:
    """The token store of ``BAOCAO_GATEWAY_DB_PATH``, open for one command."""
    store = GatewayStore(settings.gateway.db_path)
    try:
        store.open()
    except TokenStoreError as exc:
        _fail(EXIT_UNAVAILABLE, str(exc))
    try:
        yield TokenStore(store)
    finally:
        store.close()


def _fail(code: int, message: str) -> NoReturn:
    Console(stderr=True).print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)
