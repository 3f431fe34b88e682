"""ClickHouse clients (clickhouse-driver, native protocol) configured in one place.

Every ClickHouse connection of the project is built here from
:class:`~baocao.core.settings.ClickHouseSettings`, so a setting added later (TLS, compression)
reaches the migrations, the sink and the readers alike.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from clickhouse_driver import Client
from clickhouse_driver.errors import Error as DriverError
from clickhouse_driver.errors import ServerException

from baocao.core.settings import ClickHouseSettings

__all__ = [
    "TRANSIENT_ERRORS",
    "ClickHouseError",
    "ClickHouseUnavailableError",
    "connect",
    "describe_error",
    "quote_identifier",
    "reading",
    "replicas",
    "select_rows",
    "wait_for_clickhouse",
]

logger = logging.getLogger(__name__)


class ClickHouseError(Exception):
    """Root of the errors about reaching ClickHouse, shared by every layer that reads or
    writes it (the sink, the migrations, the gateway's status reader, the dashboard)."""


class ClickHouseUnavailableError(ClickHouseError):
    """The server did not answer (connection refused, timeout, lost connection)."""


#: What clickhouse-driver raises when the server refuses a query or the connection breaks.
#: Client-side failures of the socket surface as OSError or EOFError in some driver paths.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (DriverError, OSError, EOFError)


def connect(settings: ClickHouseSettings, *, use_database: bool = True, **overrides: Any) -> Client:
    """A client for ``settings``; with ``use_database=False`` it connects to ``default`` (to
    create the configured database). The driver connects lazily, on the first query, and
    reconnects by itself after :meth:`Client.disconnect`.

    Settings without a user log in as the stack's administrator (``baocao_admin``); a process
    with less to do resolves its own role first (``Settings.with_clickhouse_login``)."""
    settings = settings.for_login("admin")
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "user": settings.user,
        "password": settings.password.get_secret_value(),
        "connect_timeout": settings.connect_timeout,
        "client_name": "baocao",
    }
    if settings.alt_hosts:
        # The driver tries the hosts in order and keeps the first that answers; a query
        # after a lost connection reconnects through the list again (failover in seconds).
        options["alt_hosts"] = settings.alt_hosts
    if use_database:
        options["database"] = settings.database
    options.update(overrides)
    return Client(**options)


def replicas(settings: ClickHouseSettings) -> list[ClickHouseSettings]:
    """One settings object per server of a replicated ClickHouse (``host:port`` first, then
    ``alt_hosts``), each without alternatives: what must run on every replica (migrations,
    the BI databases) connects to each in turn."""
    servers = [(settings.host, settings.port)]
    for address in filter(None, (part.strip() for part in settings.alt_hosts.split(","))):
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"BAOCAO_CLICKHOUSE_ALT_HOSTS: {address!r} is not host:port")
        servers.append((host, int(port)))
    return [
        settings.model_copy(update={"host": host, "port": port, "alt_hosts": ""})
        for host, port in servers
    ]


@contextmanager
def reading(settings: ClickHouseSettings, *, error: type[Exception]) -> Iterator[Client]:
    """A client for one reader's batch of queries, disconnected after it (a fresh one per
    batch keeps readers thread-safe: clickhouse-driver clients are not). A server that does
    not answer, or a missing view, becomes ``error`` (the reader's own family) with where it
    looked and what to try."""
    client = connect(settings)
    try:
        yield client
    except TRANSIENT_ERRORS as exc:
        raise error(
            f"ClickHouse {settings.host}:{settings.port} database {settings.database}:"
            f" {describe_error(exc)} (is it up, and migrated? `baocao migrate`)"
        ) from exc
    finally:
        client.disconnect()


def select_rows(
    client: Client, query: str, params: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The rows of ``query`` as dicts keyed by column name (``with_column_types``), so a
    reader names what it uses and a column added to a view, or moved in it, breaks nothing.
    Give every computed column an alias: its name is the expression's text otherwise."""
    rows, columns = client.execute(query, params, with_column_types=True)
    names = [name for name, _type in columns]
    return [dict(zip(names, row, strict=True)) for row in rows]


def describe_error(exc: BaseException) -> str:
    """One line for a log or an error message: the server's code and message without the
    stack trace ClickHouse appends (18.16 sends it with every exception)."""
    if isinstance(exc, ServerException):
        message = (exc.message or "").split(" Stack trace:", 1)[0].strip()
        lines = message.splitlines()
        return f"ClickHouse error {exc.code}: {lines[0] if lines else 'no message'}"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def quote_identifier(name: str) -> str:
    """``name`` as a back-quoted ClickHouse identifier (database and table names come from
    settings, never from data, but a hyphen in a test's name must not break the SQL)."""
    escaped = name.replace("\\", "\\\\").replace("`", "\\`")
    return f"`{escaped}`"


def wait_for_clickhouse(settings: ClickHouseSettings, *, timeout: float = 30.0) -> str:
    """Block until the server answers ``SELECT version()``; return that version."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        client = connect(settings, use_database=False)
        try:
            rows = client.execute("SELECT version()")
            return str(rows[0][0])
        except TRANSIENT_ERRORS as exc:
            last_error = exc
        finally:
            client.disconnect()
        if time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    raise ClickHouseUnavailableError(
        f"ClickHouse at {settings.host}:{settings.port} did not answer within {timeout:.0f}s"
        f" (last error: {describe_error(last_error) if last_error else 'none'});"
        " is it running? try `baocao stack up`"
    )
