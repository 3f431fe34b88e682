"""Least-privilege BI access on a real ClickHouse 18.16, through the stack's own mechanism.

The shared development server is never touched: this module starts a ClickHouse of its own
(``tests/support/bi.py``: the stack's ``ClickHouseServer`` on free ports, in a temporary stack
home), migrates a database, fills it with rows of two provinces, writes the BI users exactly
as ``baocao stack up`` does and builds the province databases with ``baocao bi apply``'s code.

Every refusal is asserted by its ClickHouse error code: 164 (READONLY) for writes, DDL and
table functions; 291 (DATABASE_ACCESS_DENIED) for a database the user may not read. The
attacks of issue 9 are in ``test_bi_attacks.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_driver import Client
from clickhouse_driver.errors import ErrorCodes, ServerException
from support.bi import ADMIN, DATABASE, MINE, NOW, OTHER, BiServer, bi_server, logs_in
from support.wait import eventually

from baocao.app.bi.access import BI_USER, province_user
from baocao.app.bi.apply import apply_access
from baocao.app.bi.catalog import describe_database
from baocao.app.bi.credentials import Credentials, credentials_path
from baocao.app.stack.clickhouse import ClickHouseServer
from baocao.app.stack.clickhouse_access import BiAccess

#: How long the server may take to notice a changed users.d file (it checks every few seconds).
RELOAD_SECONDS = 30.0


def next_second(path: Path) -> None:
    """Wait until a rewrite of ``path`` gets another whole-second time than its last one."""
    eventually(
        lambda: time.time() - path.stat().st_mtime >= 1.5,
        what=f"a new second for {path.name}",
        timeout=5,
        interval=0.1,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BiServer]:
    with bi_server(tmp_path_factory.mktemp("bi") / "home") as running:
        yield running


def _province_views(server: BiServer) -> list[str]:
    client = server.client()
    try:
        return sorted(
            relation.name
            for relation in describe_database(client, DATABASE)
            if relation.is_view and relation.per_province
        )
    finally:
        client.disconnect()


def _all_views(server: BiServer) -> list[str]:
    rows = server.query(
        ADMIN,
        f"SELECT name FROM system.tables WHERE database = '{DATABASE}' AND engine = 'View'",
    )
    return sorted(name for (name,) in rows)


# -- the BI user: every view, nothing else -----------------------------------------------------


def test_bi_user_reads_every_view_of_every_province(server: BiServer) -> None:
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
def test_bi_user_cannot_write_change_or_escape(server: BiServer, sql: str) -> None:
    assert server.error_code(BI_USER, sql, database=DATABASE) == ErrorCodes.READONLY


def test_bi_user_sees_no_other_database(server: BiServer) -> None:
    code = server.error_code(BI_USER, "SELECT count() FROM bitest_p01.province_indicators")
    assert code == ErrorCodes.DATABASE_ACCESS_DENIED
    visible = server.query(BI_USER, "SELECT name FROM system.databases ORDER BY name")
    assert (DATABASE,) in visible
    assert not [name for (name,) in visible if name.startswith(f"{DATABASE}_")]


# -- a province user: its own rows, through its own database ----------------------------------


def test_every_view_with_a_province_column_is_published_to_every_province(server: BiServer) -> None:
    views = _province_views(server)
    assert {"province_indicators", "commune_indicators", "rejected_reports"} <= set(views)
    for code in server.plan.provinces:
        published = server.query(
            ADMIN,
            f"SELECT name FROM system.tables WHERE database = '{DATABASE}_p{code}'"
            " AND engine = 'View' ORDER BY name",
        )
        assert [name for (name,) in published] == views, code


def test_province_user_sees_only_its_province_in_every_view(server: BiServer) -> None:
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
            ADMIN,
            f"SELECT count() FROM {view} WHERE province_code = '{MINE}'",
            database=DATABASE,
        )
        assert mine == everyone and mine[0][0] > 0, view
    names = server.query(
        user, "SELECT DISTINCT province_name FROM province_indicators", database=database
    )
    assert names == [("Thành phố Hà Nội",)]


def test_the_other_province_sees_its_own_rows(server: BiServer) -> None:
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
        f"SELECT count() FROM {DATABASE}_bi_feed.p{OTHER}__commune_reports",
        f"SELECT count() FROM {DATABASE}_bi_feed.p{MINE}__commune_reports",
    ],
)
def test_province_user_cannot_read_raw_tables_or_other_provinces(
    server: BiServer, sql: str
) -> None:
    code = server.error_code(province_user(MINE), sql, database=server.plan.province_database(MINE))
    assert code == ErrorCodes.DATABASE_ACCESS_DENIED


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO province_indicators (province_code) VALUES ('79')",
        "DROP TABLE province_indicators",
        "CREATE TABLE province_indicators_copy AS province_indicators",
        "SET max_execution_time = 100000",
        "SET max_memory_usage = 100000000000",
        "SELECT * FROM url('http://127.0.0.1:1/', TSV, 'x UInt8')",
    ],
)
def test_province_user_is_read_only_too(server: BiServer, sql: str) -> None:
    code = server.error_code(province_user(MINE), sql, database=server.plan.province_database(MINE))
    assert code == ErrorCodes.READONLY


def test_province_rows_follow_the_inserts_into_the_main_tables(server: BiServer) -> None:
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


def test_applying_again_changes_nothing(server: BiServer) -> None:
    again = apply_access(server.admin_settings, server.plan, server.credentials)
    assert again.statements == ()
    assert set(again.province_views) == set(_province_views(server))


def test_wrong_password_is_refused_and_files_hold_digests(server: BiServer) -> None:
    client = Client(
        host="127.0.0.1",
        port=server.stack.clickhouse_tcp_port,
        user=province_user(MINE),
        password="not-the-password",
    )
    with pytest.raises(ServerException) as refused:
        client.execute("SELECT 1")
    assert refused.value.code == ErrorCodes.WRONG_PASSWORD
    # The files hold digests only; the clear passwords stay in the 0600 credentials files.
    users_file = server.stack.home.absolute() / "clickhouse" / "users.d" / "baocao-bi.xml"
    text = users_file.read_text(encoding="utf-8")
    for user in server.plan.all_users():
        assert server.credentials.password(user) not in text
    for path in (users_file, credentials_path(server.stack)):
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert Path(credentials_path(server.stack)).parent.stat().st_mode & 0o777 == 0o700


def test_a_changed_users_file_applies_while_the_server_runs(server: BiServer) -> None:
    """What `baocao stack up` relies on for the running dev server: no restart needed.

    ClickHouse compares file times in whole seconds, so the rewrite waits for the next one.
    """
    clickhouse = ClickHouseServer(server.stack, database=DATABASE)
    users_file = clickhouse.users_dir / "baocao-bi.xml"
    next_second(users_file)
    changed = BiServer(server.stack, server.plan, Credentials({BI_USER: "a new password"}))
    try:
        assert clickhouse.write_bi_access(
            BiAccess(plan=server.plan, overrides={BI_USER: "a new password"})
        )
        eventually(
            lambda: logs_in(changed, BI_USER),
            what="the new password to be accepted",
            timeout=RELOAD_SECONDS,
        )
        assert not logs_in(server, BI_USER)
    finally:
        next_second(users_file)
        clickhouse.write_bi_access(BiAccess(plan=server.plan))
        eventually(
            lambda: logs_in(server, BI_USER),
            what="the old password to be accepted again",
            timeout=RELOAD_SECONDS,
        )
