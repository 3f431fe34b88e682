"""``baocao bi grants|apply|credentials``: read-only access for BI tools.

Each command builds :class:`~baocao.core.settings.Settings` once: the ClickHouse to talk to
(``BAOCAO_CLICKHOUSE_*``, as an administrator), the stack home holding the generated passwords
(``BAOCAO_STACK_HOME``), and ``BAOCAO_BI_PASSWORD``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import NoReturn
from urllib.parse import quote

import typer

from baocao.app.bi.access import BI_USER, AccessPlan, province_user
from baocao.app.bi.apply import ServerKind, apply_access, detect_kind
from baocao.app.bi.catalog import describe_database
from baocao.app.bi.credentials import (
    credentials_path,
    ensure_credentials,
    environment_passwords,
    read_credentials,
)
from baocao.app.bi.exceptions import BiAccessError, BiApplyError, CredentialsError
from baocao.app.bi.grafana import write_password_files
from baocao.app.bi.modern import grant_statements, system_table_statements
from baocao.core.clickhouse import TRANSIENT_ERRORS, connect, describe_error, replicas
from baocao.core.reference import load_reference
from baocao.core.settings import Settings

__all__ = ["bi_app"]

logger = logging.getLogger(__name__)

bi_app = typer.Typer(
    help="Read-only ClickHouse users for BI tools: baocao_bi (every province) and"
    " baocao_pNN (one province). See docs/bi-access.md.",
    no_args_is_help=True,
)


@bi_app.command("grants")
def grants(
    sql: bool = typer.Option(
        True, "--sql", help="Print the statements (the only output form; kept for clarity)."
    ),
) -> None:
    """Print the SQL that creates the BI users on a current ClickHouse (21+).

    Users, role, settings profile, grants and one row policy per province and relation with a
    province_code column. The relations are read from the configured database
    (run `baocao migrate` first). Passwords appear only as SHA-256 digests; missing ones are
    generated into the stack home. Run the output with an administrator, or use
    `baocao bi apply`, which also handles ClickHouse 18.16.
    """
    settings = Settings()
    plan = _plan(settings)
    try:
        credentials = ensure_credentials(
            credentials_path(settings.stack),
            plan.all_users(),
            overrides=environment_passwords(settings.bi),
        )
        client = connect(settings.clickhouse, use_database=False)
        try:
            relations = describe_database(client, plan.database)
        except TRANSIENT_ERRORS as exc:
            raise BiApplyError(
                f"cannot read the schema of {plan.database!r}: {describe_error(exc)}"
            ) from exc
        finally:
            client.disconnect()
        if not relations:
            raise BiApplyError(f"database {plan.database!r} has no tables: run `baocao migrate`")
    except BiAccessError as exc:
        _fail(exc)
    for statement in grant_statements(plan, relations, credentials):
        typer.echo(f"{statement};")
    typer.echo(
        "-- Other logins' query texts (system.processes, system.query_log): with the server"
        " setting access_control_improvements.select_from_system_db_requires_grant = true,"
        " these leave the BI logins the schema tables only (docs/security.md)."
    )
    for statement in system_table_statements(plan):
        typer.echo(f"{statement};")


@bi_app.command("apply")
def apply(
    require_env_password: bool = typer.Option(
        False,
        "--require-env-password",
        help="Fail unless BAOCAO_BI_PASSWORD is set (a service such as Grafana must know the"
        " password in advance).",
    ),
    password_files: Path | None = typer.Option(
        None,
        "--password-files",
        help="Also write each province login's password to DIR/<login> (mode 0644: for a"
        " volume only Grafana mounts), for its per-province data sources ($__file{...}).",
    ),
) -> None:
    """Create or update the BI users' access on the configured ClickHouse.

    On a current ClickHouse: runs the statements of `baocao bi grants`.
    On ClickHouse 18.16: the users come from `baocao stack up`; this creates each province's
    database (baocao_pNN) with its province's rows of every BI view.
    Run it after `baocao migrate`; running it again changes only what changed.
    """
    settings = Settings()
    plan = _plan(settings)
    overrides = environment_passwords(settings.bi)
    try:
        if require_env_password and BI_USER not in overrides:
            raise CredentialsError("BAOCAO_BI_PASSWORD is not set (--require-env-password)")
        credentials = ensure_credentials(
            credentials_path(settings.stack), plan.all_users(), overrides=overrides
        )
        result = apply_access(settings.clickhouse, plan, credentials)
        if password_files is not None:
            write_password_files(password_files, plan, credentials)
    except (BiAccessError, OSError) as exc:
        _fail(exc)
    major, minor = result.version
    typer.echo(
        f"ClickHouse {major}.{minor} ({result.kind.value}): {len(result.statements)} statements"
        f" run; {len(plan.provinces)} province users see {', '.join(result.province_views)}"
    )


@bi_app.command("credentials")
def credentials(
    province: str | None = typer.Option(
        None, "--province", help="The province's user (two-digit code, e.g. 01) instead of BI's."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Print how a BI tool connects: host, ports, database, user, password, SQLAlchemy URLs.

    The database of a province user depends on the server: baocao_pNN on ClickHouse 18.16,
    the BI database (with row policies) on a current ClickHouse; the server is asked.
    """
    settings = Settings()
    plan = _plan(settings)
    try:
        if province is not None and province not in plan.provinces:
            raise CredentialsError(f"no province {province!r} in the reference data")
        user = BI_USER if province is None else province_user(province)
        stored = read_credentials(
            credentials_path(settings.stack), overrides=environment_passwords(settings.bi)
        )
        password = stored.password(user)
        kind, _ = detect_kind(settings.clickhouse)
    except (BiAccessError, ValueError) as exc:
        _fail(exc)
    database = (
        plan.province_database(province)
        if province is not None and kind is ServerKind.LEGACY
        else plan.database
    )
    host = settings.clickhouse.host
    native_port = settings.clickhouse.port
    http_port = settings.stack.clickhouse_http_port
    secret = quote(password, safe="")
    info = {
        "user": user,
        "password": password,
        "host": host,
        "native_port": native_port,
        "http_port": http_port,
        "database": database,
        "superset_http_url": f"clickhousedb://{user}:{secret}@{host}:{http_port}/{database}",
        "superset_native_url": (
            f"clickhouse+native://{user}:{secret}@{host}:{native_port}/{database}"
        ),
    }
    servers = replicas(settings.clickhouse)
    if len(servers) > 1:
        # Each replica serves the same rows and logins: a tool that takes several hosts
        # lists them all; one that takes one host uses the stack's proxy (it fails over).
        info["replicas"] = ",".join(f"{server.host}:{server.port}" for server in servers)
        info["proxy_native_port"] = settings.stack.clickhouse_proxy_port
        info["proxy_http_port"] = settings.stack.clickhouse_proxy_port + 1
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    width = max(len(key) for key in info)
    for key, value in info.items():
        typer.echo(f"{key:<{width}}  {value}")


def _plan(settings: Settings) -> AccessPlan:
    try:
        return AccessPlan.for_reference(settings.clickhouse.database, load_reference())
    except ValueError as exc:
        _fail(exc)


def _fail(exc: Exception) -> NoReturn:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=1)
