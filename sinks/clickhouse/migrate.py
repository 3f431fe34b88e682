"""Numbered migrations of the ClickHouse schema, applied in order and recorded.

:func:`migrate` creates the database if missing, applies the files of ``migrations/`` whose
version is not in ``schema_migrations`` (each recorded with a checksum of its text), then
reloads the reference tables. With replicas (``BAOCAO_CLICKHOUSE_ALT_HOSTS``) it does so on
every replica, one migration at a time on all of them, with the sink's tables made
``Replicated*`` (:mod:`baocao.sinks.clickhouse.replication`); each replica keeps its own ledger
and reference tables. The rules: an applied file never changes, and every statement
can run twice, since ClickHouse has no transactional DDL (docs/clickhouse.md, "Rules for a
migration"). Two ``migrate`` processes must not run at the same time (there is no lock).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.resources import files
from importlib.resources.abc import Traversable

from clickhouse_driver import Client
from clickhouse_driver.errors import ErrorCodes, ServerException

from baocao.core.catalogue import Catalogue, load_catalogue
from baocao.core.clickhouse import (
    TRANSIENT_ERRORS,
    connect,
    describe_error,
    quote_identifier,
    replicas,
)
from baocao.core.reference import ReferenceData, load_reference
from baocao.core.settings import ClickHouseSettings
from baocao.sinks.clickhouse.reference_tables import (
    REFERENCE_TABLES,
    ReferenceLoad,
    load_reference_tables,
)
from baocao.sinks.clickhouse.replication import created_table, replicated_engine
from baocao.sinks.clickhouse.sql import ColumnAddition, added_columns, split_statements
from baocao.sinks.exceptions import (
    ClickHouseUnavailableError,
    MigrationChecksumError,
    MigrationError,
    MigrationFileError,
    SchemaNotReadyError,
)

__all__ = [
    "LEDGER_TABLE",
    "AppliedMigration",
    "Migration",
    "MigrationResult",
    "MigrationStatus",
    "applied_migrations",
    "check_schema",
    "load_migrations",
    "migrate",
    "migration_status",
]

logger = logging.getLogger(__name__)

LEDGER_TABLE = "schema_migrations"

#: The ledger is the one table not created by a migration file: it must exist before the
#: first migration can be recorded.
_LEDGER_DDL = f"""
CREATE TABLE IF NOT EXISTS {LEDGER_TABLE}
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime('UTC')
)
ENGINE = MergeTree
ORDER BY version
"""

#: How long a replica waits for a column added on another replica to reach it through
#: ZooKeeper before it adds the column itself.
REPLICATED_ALTER_WAIT_SECONDS = 30.0

_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    sql: str

    @property
    def file_name(self) -> str:
        return f"{self.version:04d}_{self.name}.sql"

    @property
    def checksum(self) -> str:
        """SHA-256 of the text with line endings normalised (a CRLF checkout is the same)."""
        text = self.sql.replace("\r\n", "\n")
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def statements(self) -> list[str]:
        return split_statements(self.sql)


@dataclass(frozen=True, slots=True)
class AppliedMigration:
    """One row of the ledger."""

    version: int
    name: str
    checksum: str
    applied_at: datetime


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    """Where a migration stands in one database."""

    migration: Migration
    applied: AppliedMigration | None


@dataclass(frozen=True)
class MigrationResult:
    """What :func:`migrate` did."""

    database: str
    applied: list[Migration] = field(default_factory=list)
    already_applied: list[Migration] = field(default_factory=list)
    reference: ReferenceLoad | None = None


def _migrations_dir() -> Traversable:
    return files("baocao.sinks.clickhouse") / "migrations"


def load_migrations(directory: Traversable | None = None) -> list[Migration]:
    """The packaged migrations in version order.

    Raises :class:`MigrationFileError` for a ``.sql`` file whose name is not ``NNNN_name.sql``
    or for two files with one version: either would make the order ambiguous.
    """
    folder = directory if directory is not None else _migrations_dir()
    migrations: dict[int, Migration] = {}
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise MigrationFileError(
                f"migration file {entry.name!r} is not named NNNN_lowercase_name.sql"
            )
        version = int(match["version"])
        if version in migrations:
            raise MigrationFileError(
                f"migrations {migrations[version].file_name!r} and {entry.name!r} share"
                f" version {version}"
            )
        migrations[version] = Migration(
            version=version, name=match["name"], sql=entry.read_text(encoding="utf-8")
        )
    return [migrations[v] for v in sorted(migrations)]


def applied_migrations(client: Client) -> dict[int, AppliedMigration]:
    """The ledger of the client's database (empty when it has none yet)."""
    exists = client.execute(
        "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = %(t)s",
        {"t": LEDGER_TABLE},
    )
    if not exists[0][0]:
        return {}
    rows = client.execute(
        f"SELECT version, name, checksum, applied_at FROM {LEDGER_TABLE} ORDER BY version"
    )
    return {
        int(version): AppliedMigration(int(version), name, checksum, applied_at)
        for version, name, checksum, applied_at in rows
    }


def migration_status(
    client: Client, migrations: Sequence[Migration] | None = None
) -> list[MigrationStatus]:
    """Each known migration with its ledger row, checksums verified.

    Raises :class:`MigrationChecksumError` when an applied migration's file has changed.
    """
    known = list(migrations) if migrations is not None else load_migrations()
    ledger = applied_migrations(client)
    _verify_checksums(known, ledger)
    unknown = sorted(set(ledger) - {m.version for m in known})
    if unknown:
        logger.warning(
            "the database has migrations this code does not know (%s): it was migrated by a"
            " newer release",
            ", ".join(f"{v:04d}_{ledger[v].name}" for v in unknown),
        )
    return [MigrationStatus(m, ledger.get(m.version)) for m in known]


def _verify_checksums(migrations: Iterable[Migration], ledger: dict[int, AppliedMigration]) -> None:
    for migration in migrations:
        applied = ledger.get(migration.version)
        if applied is not None and applied.checksum != migration.checksum:
            raise MigrationChecksumError(
                f"migration {migration.file_name} was applied on {applied.applied_at:%Y-%m-%d}"
                f" with checksum {applied.checksum[:12]}, but the file now has"
                f" {migration.checksum[:12]}: applied migrations must not change; put the"
                " change in a new, higher-numbered migration"
            )


def check_schema(
    client: Client, *, database: str, migrations: Sequence[Migration] | None = None
) -> None:
    """Fail with :class:`SchemaNotReadyError` unless every known migration is applied to
    ``database`` (the client's), and with :class:`ClickHouseUnavailableError` when the
    server does not answer."""
    try:
        statuses = migration_status(client, migrations)
    except ServerException as exc:
        if exc.code == ErrorCodes.UNKNOWN_DATABASE:
            raise SchemaNotReadyError(
                f"database {database!r} does not exist; run `baocao migrate` first"
            ) from exc
        raise ClickHouseUnavailableError(
            f"cannot read the migration ledger: {describe_error(exc)}"
        ) from exc
    except TRANSIENT_ERRORS as exc:
        raise ClickHouseUnavailableError(
            f"cannot read the migration ledger: {describe_error(exc)}"
        ) from exc
    pending = [s.migration.file_name for s in statuses if s.applied is None]
    if pending:
        raise SchemaNotReadyError(
            f"database {database!r} lacks migrations {', '.join(pending)};"
            " run `baocao migrate` first"
        )


def migrate(
    settings: ClickHouseSettings,
    *,
    migrations: Sequence[Migration] | None = None,
    reference: ReferenceData | None = None,
    catalogue: Catalogue | None = None,
) -> MigrationResult:
    """Bring ``settings.database`` up to date and reload its reference tables (provinces
    and communes from ``reference``, indicators from ``catalogue``; by default the
    package's).

    Idempotent: applied migrations are skipped (after checking they did not change), and
    the reference tables are only rewritten when their content differs from the package's.
    """
    known = list(migrations) if migrations is not None else load_migrations()
    servers = replicas(settings)
    clients = [_prepared_client(server, known) for server in servers]
    try:
        applied: list[Migration] = []
        already_applied: list[Migration] = []
        pending = [
            {status.migration.version for status in statuses if status.applied is None}
            for _client, statuses in clients
        ]
        # One migration on every replica before the next: a replica creating a replicated
        # table must find the structure ZooKeeper holds, not one a later ALTER changed.
        for migration in known:
            targets = [
                (number, client)
                for number, (client, _statuses) in enumerate(clients)
                if migration.version in pending[number]
            ]
            # A replica that applied it already (the others are new, or were down): the
            # laggards copy its tables' current structure, which ZooKeeper holds.
            ahead = [
                client
                for number, (client, _statuses) in enumerate(clients)
                if migration.version not in pending[number]
            ]
            for number, client in targets:
                _apply(
                    client,
                    migration,
                    database=settings.database,
                    replicated=len(servers) > 1,
                    follower=number > 0 or bool(ahead),
                    ahead=ahead[0] if ahead and len(servers) > 1 else None,
                )
            (applied if targets else already_applied).append(migration)
        loads = [
            load_reference_tables(
                client, reference or load_reference(), catalogue or load_catalogue()
            )
            for client, _statuses in clients
        ]
        result = MigrationResult(
            database=settings.database,
            applied=applied,
            already_applied=already_applied,
            reference=loads[0],
        )
    finally:
        for client, _statuses in clients:
            client.disconnect()
    logger.info(
        "database %s on %d server(s): %d migration(s) applied, %d already applied",
        settings.database,
        len(servers),
        len(result.applied),
        len(result.already_applied),
    )
    return result


def _prepared_client(
    settings: ClickHouseSettings, known: Sequence[Migration]
) -> tuple[Client, list[MigrationStatus]]:
    """A client of one server whose database and ledger exist, with its migrations' state."""
    _create_database(settings)
    client = connect(settings)
    try:
        client.execute(_LEDGER_DDL)
        return client, migration_status(client, known)
    except TRANSIENT_ERRORS as exc:
        client.disconnect()
        raise MigrationError(
            f"cannot prepare the migration ledger of {settings.database!r} on"
            f" {settings.host}:{settings.port}: {describe_error(exc)}"
        ) from exc


def _create_database(settings: ClickHouseSettings) -> None:
    client = connect(settings, use_database=False)
    try:
        client.execute(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(settings.database)}")
    except TRANSIENT_ERRORS as exc:
        raise ClickHouseUnavailableError(
            f"cannot create database {settings.database!r} on"
            f" {settings.host}:{settings.port}: {describe_error(exc)}"
        ) from exc
    finally:
        client.disconnect()


def _apply(
    client: Client,
    migration: Migration,
    *,
    database: str,
    replicated: bool,
    follower: bool,
    ahead: Client | None = None,
) -> None:
    """Run ``migration`` on one server and record it in that server's ledger.

    ``replicated``: the sink's tables are made Replicated (the reference tables stay local).
    ``follower``: another replica ran it first, so a column it added to a replicated table
    arrives through ZooKeeper; this one waits for it instead of adding it again.
    ``ahead``: a replica that applied this and later migrations already (this one is new):
    a replicated table is created as that replica has it now, since ZooKeeper refuses a
    replica whose structure is an older one (error 122).
    """
    statements = migration.statements()
    for number, statement in enumerate(statements, start=1):
        try:
            if _columns_already_added(
                client,
                migration,
                statement,
                wait_seconds=REPLICATED_ALTER_WAIT_SECONDS if replicated and follower else 0.0,
            ):
                continue
            if replicated:
                statement = _for_replicas(statement, database=database)
                if ahead is not None:
                    statement = _as_created_on(ahead, statement, database=database)
            client.execute(statement)
        except TRANSIENT_ERRORS as exc:
            first_line = statement.splitlines()[0]
            raise MigrationError(
                f"migration {migration.file_name}, statement {number} of {len(statements)}"
                f" ({first_line!r}) failed: {describe_error(exc)}"
            ) from exc
    try:
        client.execute(
            f"INSERT INTO {LEDGER_TABLE} (version, name, checksum, applied_at) VALUES",
            [(migration.version, migration.name, migration.checksum, datetime.now(UTC))],
        )
    except TRANSIENT_ERRORS as exc:
        raise MigrationError(
            f"migration {migration.file_name} was applied but could not be recorded:"
            f" {describe_error(exc)}; running `baocao migrate` again re-applies it harmlessly"
        ) from exc
    logger.info("applied migration %s (%d statements)", migration.file_name, len(statements))


def _for_replicas(statement: str, *, database: str) -> str:
    """``statement`` as it runs on a replica: the sink's tables replicated, the reference
    tables (loaded on each replica from the package) as written."""
    rewritten = replicated_engine(statement, database=database)
    if rewritten != statement and any(
        re.match(rf"\s*CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?`?{table}`?\s", statement, re.I)
        for table in REFERENCE_TABLES
    ):
        return statement
    return rewritten


def _as_created_on(ahead: Client, statement: str, *, database: str) -> str:
    """``statement`` (a replicated table's creation) as the replica ``ahead`` has the table
    now; any other statement, or a table it no longer has, unchanged."""
    created = created_table(statement, database=database)
    if created is None or "ENGINE = Replicated" not in statement:
        return statement
    owner, table = created
    name = f"{quote_identifier(owner)}.{quote_identifier(table)}"
    exists = ahead.execute(
        "SELECT count() FROM system.tables WHERE database = %(d)s AND name = %(t)s",
        {"d": owner, "t": table},
    )
    if not exists[0][0]:
        return statement
    current = str(ahead.execute(f"SHOW CREATE TABLE {name}")[0][0])
    return re.sub(r"^CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ", current, count=1)


def _columns_already_added(
    client: Client, migration: Migration, statement: str, *, wait_seconds: float = 0.0
) -> bool:
    """True when ``statement`` adds columns that all exist (an earlier run applied it but
    was not recorded, or another replica's ALTER reached this one within ``wait_seconds``);
    False for any other statement, or when none of them exists yet.

    Some but not all of them existing cannot come from a migration (one ALTER adds its
    columns together), so it is an error for an operator to look at, not something to guess.
    """
    addition = added_columns(statement)
    if addition is None:
        return False
    present = _existing_columns(client, addition)
    if addition.table not in REFERENCE_TABLES:
        deadline = time.monotonic() + wait_seconds
        while len(present) < len(addition.columns) and time.monotonic() < deadline:
            time.sleep(0.2)
            present = _existing_columns(client, addition)
    if not present:
        return False
    if len(present) == len(addition.columns):
        logger.info(
            "migration %s: columns %s of %s exist already; not adding them again",
            migration.file_name,
            ", ".join(addition.columns),
            addition.table,
        )
        return True
    missing = [column for column in addition.columns if column not in present]
    raise MigrationError(
        f"migration {migration.file_name}: table {addition.table} already has columns"
        f" {', '.join(sorted(present))} but not {', '.join(missing)}; the table was changed"
        " outside the migrations: make it match either state, then run `baocao migrate` again"
    )


def _existing_columns(client: Client, addition: ColumnAddition) -> set[str]:
    rows = client.execute(
        "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = %(t)s",
        {"t": addition.table},
    )
    return {name for (name,) in rows} & set(addition.columns)
