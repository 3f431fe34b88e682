"""Least-privilege BI access on a real ClickHouse 18.16, through the stack's own mechanism.

The shared development server is never touched: this module starts a ClickHouse of its own
(the stack's ``ClickHouseServer`` on free ports, in a temporary stack home), migrates a
database, fills it with rows of two provinces, then writes the BI users exactly as
``baocao stack up`` does *while the server runs* (so the live reload the dev server relies on
is what is tested) and builds the province databases with ``baocao bi apply``'s code.

Every refusal is asserted by its ClickHouse error code: 164 (READONLY) for writes, DDL and
table functions; 291 (DATABASE_ACCESS_DENIED) for a database the user may not read.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from clickhouse_driver import Client
from clickhouse_driver.errors import Error as ClickHouseError
from clickhouse_driver.errors import ErrorCodes, ServerException
from support.net import free_ports
from support.wait import eventually

from baocao.app.bi.access import BI_USER, RELAY_CLUSTER, AccessPlan, province_user
from baocao.app.bi.apply import ServerKind, apply_access
from baocao.app.bi.catalog import describe_database
from baocao.app.bi.credentials import Credentials, credentials_path, read_credentials
from baocao.app.stack.clickhouse import ClickHouseServer
from baocao.app.stack.clickhouse_access import BiAccess
from baocao.core.reference import load_reference
from baocao.core.settings import ClickHouseSettings, StackSettings
from baocao.sinks.clickhouse.migrate import migrate

DATABASE = "bitest"
MINE, OTHER = "01", "79"
PERIOD = "2025-08"
NOW = datetime(2025, 9, 2, 9, 30, tzinfo=UTC)
#: How long the server may take to notice a changed users.d / config.d file (it checks every
#: few seconds).
RELOAD_SECONDS = 30.0


class Server:
    """The module's own ClickHouse and how to log in to it (``default`` has no password)."""

    def __init__(self, stack: StackSettings, plan: AccessPlan, credentials: Credentials) -> None:
        self.stack = stack
        self.plan = plan
        self.credentials = credentials
        self.admin_settings = ClickHouseSettings(
            host="127.0.0.1", port=stack.clickhouse_tcp_port, database=DATABASE
        )

    def client(self, user: str = "default", *, database: str | None = None) -> Client:
        password = "" if user == "default" else self.credentials.password(user)
        return Client(
            host="127.0.0.1",
            port=self.stack.clickhouse_tcp_port,
            user=user,
            password=password,
            database=database or self.home_database(user),
            connect_timeout=5,
            send_receive_timeout=30,
        )

    def home_database(self, user: str) -> str:
        """The database a user may connect to (18.16 refuses a login to one it may not read)."""
        if user == "default":
            return "default"
        if user == BI_USER:
            return DATABASE
        return self.plan.province_database(user.removeprefix("baocao_p"))

    def query(self, user: str, sql: str, *, database: str | None = None) -> list[tuple[Any, ...]]:
        client = self.client(user, database=database)
        try:
            return list(client.execute(sql))
        finally:
            client.disconnect()

    def error_code(self, user: str, sql: str, *, database: str | None = None) -> int:
        """The code ClickHouse refuses ``sql`` with; fails the test if it is accepted."""
        with pytest.raises(ServerException) as refused:
            self.query(user, sql, database=database)
        return refused.value.code


def next_second(path: Path) -> None:
    """Wait until a rewrite of ``path`` gets another whole-second time than its last one."""
    eventually(
        lambda: time.time() - path.stat().st_mtime >= 1.5,
        what=f"a new second for {path.name}",
        timeout=5,
        interval=0.1,
    )


def _logs_in(server: Server, user: str) -> bool:
    try:
        return server.query(user, "SELECT 1") == [(1,)]
    except (ClickHouseError, OSError, EOFError):
        return False


def _fill(client: Client, reference_communes: dict[str, tuple[str, ...]]) -> None:
    """Two communes' reports, figures and one rejection in each of two provinces."""
    for province in (MINE, OTHER):
        communes = reference_communes[province][:2]
        client.execute(
            "INSERT INTO commune_reports (report_id, commune_code, province_code, period,"
            " revision, submitted_at, indicator_codes, indicator_values) VALUES",
            [
                (f"r-{commune}", commune, province, PERIOD, 1, NOW, ["tthc_received"], [10.0])
                for commune in communes
            ],
        )
        client.execute(
            "INSERT INTO province_indicator_values (province_code, period, indicator_code,"
            " value, communes_reported, version, updated_at) VALUES",
            [(province, PERIOD, "tthc_received", 20.0, 2, 1, NOW)],
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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tcp, http = free_ports(2)
    stack = StackSettings(
        home=tmp_path_factory.mktemp("bi") / "home",
        clickhouse_tcp_port=tcp,
        clickhouse_http_port=http,
    )
    clickhouse = ClickHouseServer(stack)
    reference = load_reference()
    plan = AccessPlan.for_reference(DATABASE, reference)
    # As `baocao stack up` does for a server it starts: configuration first, then the process.
    clickhouse.prepare()
    assert clickhouse.write_bi_access(BiAccess(plan=plan))
    credentials = read_credentials(credentials_path(stack))
    clickhouse.process.start()
    try:
        running = Server(stack, plan, credentials)
        eventually(lambda: _logs_in(running, "default"), what="the test ClickHouse", timeout=60)
        assert _has_relay_cluster(running)
        migrate(running.admin_settings, reference=reference)
        assert _logs_in(running, BI_USER)
        client = running.client(database=DATABASE)
        try:
            _fill(client, dict(reference.communes_by_province))
        finally:
            client.disconnect()
        result = apply_access(running.admin_settings, plan, credentials)
        assert result.kind is ServerKind.LEGACY
        yield running
    finally:
        clickhouse.process.stop(timeout=30)


def _has_relay_cluster(server: Server) -> bool:
    sql = f"SELECT count() FROM system.clusters WHERE cluster = '{RELAY_CLUSTER}'"
    return bool(server.query("default", sql)[0][0])


def _province_views(server: Server) -> list[str]:
    client = server.client()
    try:
        return sorted(
            relation.name
            for relation in describe_database(client, DATABASE)
            if relation.is_view and relation.per_province
        )
    finally:
        client.disconnect()


def _all_views(server: Server) -> list[str]:
    rows = server.query(
        "default",
        f"SELECT name FROM system.tables WHERE database = '{DATABASE}' AND engine = 'View'",
    )
    return sorted(name for (name,) in rows)


# -- the BI user: every view, nothing else -----------------------------------------------------


def test_bi_user_reads_every_view_of_every_province(server: Server) -> None:
    views = _all_views(server)
    assert {"province_indicators", "commune_indicators", "rejected_reports"} <= set(views)
    for view in views:
        server.query(BI_USER, f"SELECT * FROM {view} LIMIT 1", database=DATABASE)
    provinces = server.query(
        BI_USER,
        "SELECT DISTINCT province_code FROM province_indicators ORDER BY province_code",
        database=DATABASE,
    )
    assert provinces == [(MINE,), (OTHER,)]


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO commune_reports (report_id) VALUES ('x')",
        "CREATE TABLE sneaky (x UInt8) ENGINE = Memory",
        "CREATE DATABASE sneaky",
        "DROP TABLE commune_reports",
        "DROP DATABASE " + DATABASE,
        "ALTER TABLE commune_reports DELETE WHERE 1",
        "SET readonly = 0",
        # readonly=1, not 2: a table function could reach the password-less `default`.
        "SELECT * FROM url('http://127.0.0.1:1/', TSV, 'x UInt8')",
        "SELECT * FROM remote('127.0.0.1', system.one)",
    ],
)
def test_bi_user_cannot_write_change_or_escape(server: Server, sql: str) -> None:
    assert server.error_code(BI_USER, sql, database=DATABASE) == ErrorCodes.READONLY


def test_bi_user_sees_no_other_database(server: Server) -> None:
    code = server.error_code(BI_USER, "SELECT count() FROM bitest_p01.province_indicators")
    assert code == ErrorCodes.DATABASE_ACCESS_DENIED
    visible = server.query(BI_USER, "SELECT name FROM system.databases ORDER BY name")
    assert (DATABASE,) in visible
    assert not [name for (name,) in visible if name.startswith(f"{DATABASE}_")]


# -- a province user: its own rows, through its own database ----------------------------------


def test_every_view_with_a_province_column_is_published_to_every_province(server: Server) -> None:
    views = _province_views(server)
    assert {"province_indicators", "commune_indicators", "rejected_reports"} <= set(views)
    for code in server.plan.provinces:
        published = server.query(
            "default",
            f"SELECT name FROM system.tables WHERE database = '{DATABASE}_p{code}' ORDER BY name",
        )
        assert [name for (name,) in published] == views, code


def test_province_user_sees_only_its_province_in_every_view(server: Server) -> None:
    user, database = province_user(MINE), server.plan.province_database(MINE)
    views = _province_views(server)
    for view in views:
        seen = server.query(user, f"SELECT DISTINCT province_code FROM {view}", database=database)
        assert set(seen) <= {(MINE,)}, view
        # Even asking for another province explicitly returns nothing.
        other = server.query(
            user, f"SELECT count() FROM {view} WHERE province_code = '{OTHER}'", database=database
        )
        assert other == [(0,)], view
    for view in ("province_indicators", "commune_indicators", "rejected_reports"):
        mine = server.query(user, f"SELECT count() FROM {view}", database=database)
        everyone = server.query(
            "default",
            f"SELECT count() FROM {view} WHERE province_code = '{MINE}'",
            database=DATABASE,
        )
        assert mine == everyone and mine[0][0] > 0, view
    names = server.query(
        user, "SELECT DISTINCT province_name FROM province_indicators", database=database
    )
    assert names == [("Thành phố Hà Nội",)]


def test_the_other_province_sees_its_own_rows(server: Server) -> None:
    seen = server.query(
        province_user(OTHER),
        "SELECT DISTINCT province_code FROM commune_indicators",
        database=server.plan.province_database(OTHER),
    )
    assert seen == [(OTHER,)]


@pytest.mark.parametrize(
    "sql",
    [
        f"SELECT count() FROM {DATABASE}.commune_reports",
        f"SELECT count() FROM {DATABASE}.province_indicator_values WHERE province_code = '{OTHER}'",
        f"SELECT count() FROM {DATABASE}.province_indicators",
        f"SELECT count() FROM {DATABASE}.communes",
        f"SELECT count() FROM {DATABASE}_p{OTHER}.province_indicators",
        f"SELECT count() FROM {DATABASE}_bi_relay.p{OTHER}__province_indicators",
        f"SELECT count() FROM {DATABASE}_bi_relay.p{MINE}__province_indicators",
    ],
)
def test_province_user_cannot_read_raw_tables_or_other_provinces(server: Server, sql: str) -> None:
    code = server.error_code(province_user(MINE), sql, database=server.plan.province_database(MINE))
    assert code == ErrorCodes.DATABASE_ACCESS_DENIED


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO province_indicators (province_code) VALUES ('79')",
        "DROP TABLE province_indicators",
        "CREATE TABLE province_indicators_copy AS province_indicators",
        "SET prefer_localhost_replica = 1",
        "SELECT * FROM url('http://127.0.0.1:1/', TSV, 'x UInt8')",
    ],
)
def test_province_user_is_read_only_too(server: Server, sql: str) -> None:
    code = server.error_code(province_user(MINE), sql, database=server.plan.province_database(MINE))
    assert code == ErrorCodes.READONLY


def test_province_rows_are_live_not_copied(server: Server) -> None:
    user, database = province_user(MINE), server.plan.province_database(MINE)
    before = server.query(user, "SELECT count() FROM commune_indicators", database=database)
    admin = server.client(database=DATABASE)
    try:
        admin.execute(
            "INSERT INTO commune_reports (report_id, commune_code, province_code, period,"
            " revision, submitted_at, indicator_codes, indicator_values) VALUES",
            [("late", "00070", MINE, "2025-09", 1, NOW, ["tthc_received"], [1.0])],
        )
    finally:
        admin.disconnect()
    after = server.query(user, "SELECT count() FROM commune_indicators", database=database)
    assert after[0][0] == before[0][0] + 1


def test_applying_again_changes_nothing(server: Server) -> None:
    again = apply_access(server.admin_settings, server.plan, server.credentials)
    assert again.statements == ()
    assert set(again.province_views) == set(_province_views(server))


def test_wrong_password_and_the_relay_account_are_refused(server: Server) -> None:
    client = Client(
        host="127.0.0.1",
        port=server.stack.clickhouse_tcp_port,
        user=province_user(MINE),
        password="not-the-password",
    )
    with pytest.raises(ServerException) as refused:
        client.execute("SELECT 1")
    assert refused.value.code == ErrorCodes.WRONG_PASSWORD
    # The files hold digests only; the relay's clear password stays in the 0600 config.d file.
    users_file = server.stack.home.absolute() / "clickhouse" / "users.d" / "baocao-bi.xml"
    text = users_file.read_text(encoding="utf-8")
    for user in server.plan.all_users():
        assert server.credentials.password(user) not in text
    for path in (users_file, credentials_path(server.stack)):
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert Path(credentials_path(server.stack)).parent.stat().st_mode & 0o777 == 0o700


def test_a_changed_users_file_applies_while_the_server_runs(server: Server) -> None:
    """What `baocao stack up` relies on for the running dev server: no restart needed.

    ClickHouse compares file times in whole seconds, so the rewrite waits for the next one.
    """
    clickhouse = ClickHouseServer(server.stack)
    users_file = clickhouse.users_dir / "baocao-bi.xml"
    next_second(users_file)
    changed = Server(server.stack, server.plan, Credentials({BI_USER: "a new password"}))
    try:
        assert clickhouse.write_bi_access(
            BiAccess(plan=server.plan, overrides={BI_USER: "a new password"})
        )
        eventually(
            lambda: _logs_in(changed, BI_USER),
            what="the new password to be accepted",
            timeout=RELOAD_SECONDS,
        )
        assert not _logs_in(server, BI_USER)
    finally:
        next_second(users_file)
        clickhouse.write_bi_access(BiAccess(plan=server.plan))
        eventually(
            lambda: _logs_in(server, BI_USER),
            what="the old password to be accepted again",
            timeout=RELOAD_SECONDS,
        )
