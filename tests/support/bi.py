"""A ClickHouse 18.16 of a test module's own, configured exactly as ``baocao stack up`` does,
with the BI access of ``baocao bi apply`` and rows of two provinces.

The shared development server is never touched: the stack's ``ClickHouseServer`` runs on free
ports in a temporary stack home. Its logins are the stack's (a locked ``default``,
``baocao_admin``, ``baocao_sink``, ``baocao_reader``, ``baocao_bi``, ``baocao_pNN``), with the
passwords generated into that home.

Province 79's rows carry values that appear nowhere else (:data:`SECRETS`), so an attack test
can check that none of them reaches a province-01 login, in a result or in an error text.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from clickhouse_driver import Client
from clickhouse_driver.errors import Error as ClickHouseError
from clickhouse_driver.errors import ServerException

from baocao.app.bi.access import BI_USER, AccessPlan
from baocao.app.bi.apply import ServerKind, apply_access
from baocao.app.bi.credentials import Credentials, credentials_path, read_credentials
from baocao.app.stack.clickhouse import ClickHouseServer
from baocao.app.stack.clickhouse_access import BiAccess
from baocao.core.credentials import load_passwords
from baocao.core.reference import load_reference
from baocao.core.settings import (
    CLICKHOUSE_LOGINS,
    BiSettings,
    ClickHouseSettings,
    StackSettings,
)
from baocao.sinks.clickhouse.migrate import migrate
from support.net import free_ports
from support.wait import eventually

__all__ = [
    "ADMIN",
    "DATABASE",
    "MINE",
    "OTHER",
    "SECRETS",
    "BiServer",
    "bi_server",
    "logs_in",
]

DATABASE = "bitest"
MINE, OTHER = "01", "79"
PERIOD = "2025-08"
NOW = datetime(2025, 9, 2, 9, 30, tzinfo=UTC)
ADMIN = CLICKHOUSE_LOGINS["admin"]
#: Values only province 79's rows hold: none may reach a province-01 login.
OTHER_FIGURE = 7979.25
SECRETS = ("7979.25", "7979", "r-secret-79", "LEAK:79", "LEAK:")


class BiServer:
    """The module's own ClickHouse and how to log in to it as anyone."""

    def __init__(self, stack: StackSettings, plan: AccessPlan, credentials: Credentials) -> None:
        self.stack = stack
        self.plan = plan
        self.credentials = credentials
        self.clickhouse = ClickHouseServer(stack, database=DATABASE)
        self.logins = load_passwords(self.clickhouse.logins_file)
        self.admin_settings = ClickHouseSettings(
            host="127.0.0.1",
            port=stack.clickhouse_tcp_port,
            database=DATABASE,
            user=ADMIN,
            password=self.logins[ADMIN],  # type: ignore[arg-type]
        )

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.stack.clickhouse_http_port}/"

    def password(self, user: str) -> str:
        if user in self.logins:
            return self.logins[user]
        return self.credentials.password(user)

    def client(self, user: str = ADMIN, *, database: str | None = None, **options: Any) -> Client:
        return Client(
            host="127.0.0.1",
            port=self.stack.clickhouse_tcp_port,
            user=user,
            password=self.password(user),
            database=database or self.home_database(user),
            connect_timeout=5,
            send_receive_timeout=30,
            **options,
        )

    def home_database(self, user: str) -> str:
        """The database a user may connect to (18.16 refuses a login to one it may not read)."""
        if user.startswith("baocao_p"):
            return self.plan.province_database(user.removeprefix("baocao_p"))
        if user == ADMIN:
            return "default"
        return DATABASE if user != "default" else "system"

    def query(
        self, user: str, sql: str, *, database: str | None = None, **options: Any
    ) -> list[tuple[Any, ...]]:
        client = self.client(user, database=database, **options)
        try:
            return list(client.execute(sql))
        finally:
            client.disconnect()

    def error(self, user: str, sql: str, *, database: str | None = None) -> ServerException:
        """The error ClickHouse refuses ``sql`` with; fails the test if it is accepted."""
        with pytest.raises(ServerException) as refused:
            self.query(user, sql, database=database)
        return refused.value

    def error_code(self, user: str, sql: str, *, database: str | None = None) -> int:
        return self.error(user, sql, database=database).code


def logs_in(server: BiServer, user: str) -> bool:
    try:
        return server.query(user, "SELECT 1") == [(1,)]
    except (ClickHouseError, OSError, EOFError):
        return False


def fill(client: Client, reference_communes: dict[str, tuple[str, ...]]) -> None:
    """Two communes' reports, figures and one rejection in each of two provinces."""
    for province in (MINE, OTHER):
        communes = reference_communes[province][:2]
        figure = OTHER_FIGURE if province == OTHER else 20.0
        client.execute(
            "INSERT INTO commune_reports (report_id, commune_code, province_code, period,"
            " revision, submitted_at, indicator_codes, indicator_values) VALUES",
            [
                (
                    f"r-secret-{province}" if i == 0 else f"r-{commune}",
                    commune,
                    province,
                    PERIOD,
                    1,
                    NOW,
                    ["tthc_received"],
                    [figure],
                )
                for i, commune in enumerate(communes)
            ],
        )
        client.execute(
            "INSERT INTO province_indicator_values (province_code, period, indicator_code,"
            " value, communes_reported, version, updated_at) VALUES",
            [(province, PERIOD, "tthc_received", figure, 2, 1, NOW)],
        )
        client.execute(
            "INSERT INTO rejections (rejection_id, commune_code, province_code, period,"
            " reason_codes, reason_fields, reason_messages_en, reason_messages_vi, raw_payload,"
            " source_topic, source_partition, source_offset, rejected_at) VALUES",
            [
                (
                    f"t:0:{province}",
                    communes[0],
                    province,
                    PERIOD,
                    ["unknown_indicator"],
                    ["indicators.x"],
                    ["unknown"],
                    ["không rõ"],
                    "",
                    "t",
                    0,
                    int(province),
                    NOW,
                )
            ],
        )


@contextmanager
def bi_server(home: Path, *, limits: BiSettings | None = None) -> Iterator[BiServer]:
    """Start, migrate, fill, apply; stop on exit. ``limits``: the BI logins' caps."""
    tcp, http = free_ports(2)
    stack = StackSettings(home=home, clickhouse_tcp_port=tcp, clickhouse_http_port=http)
    reference = load_reference()
    plan = AccessPlan.for_reference(DATABASE, reference)
    clickhouse = ClickHouseServer(stack, database=DATABASE)
    # As `baocao stack up` does for a server it starts: configuration first, then the process.
    clickhouse.prepare()
    assert clickhouse.write_bi_access(BiAccess(plan=plan, limits=limits or BiSettings()))
    credentials = read_credentials(credentials_path(stack))
    clickhouse.process.start()
    try:
        running = BiServer(stack, plan, credentials)
        eventually(lambda: logs_in(running, ADMIN), what="the test ClickHouse", timeout=60)
        migrate(running.admin_settings, reference=reference)
        assert logs_in(running, BI_USER)
        client = running.client(database=DATABASE)
        try:
            fill(client, dict(reference.communes_by_province))
        finally:
            client.disconnect()
        result = apply_access(running.admin_settings, plan, credentials)
        assert result.kind is ServerKind.LEGACY
        yield running
    finally:
        clickhouse.process.stop(timeout=30)
