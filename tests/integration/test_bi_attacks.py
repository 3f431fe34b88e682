"""Issue 9, points 1 and 2, as attacks on a real ClickHouse 18.16 configured by the stack.

Each test is the query or request an attacker on the host would send (a province login
reaching for another province's rows, a process or a web page without a password, a service
login reaching beyond its job). Province 79's rows carry values that appear nowhere else
(``support.bi.SECRETS``); every answer and every error text a province-01 login gets is
searched for them. Before the fix (the loopback relay, a password-less ``default``) the
subquery attacks answered or leaked, ``default`` logged in without a password and the HTTP
interface ran a cross-site ``POST``.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from clickhouse_driver import Client
from clickhouse_driver.errors import ErrorCodes, ServerException
from support.bi import ADMIN, DATABASE, MINE, NOW, OTHER, SECRETS, BiServer, bi_server
from support.grafana import DASHBOARDS, panel_queries, substitute

from baocao.app.bi.access import BI_USER, province_user
from baocao.core.settings import CLICKHOUSE_LOGINS

ME = province_user(MINE)
SINK, READER = CLICKHOUSE_LOGINS["sink"], CLICKHOUSE_LOGINS["reader"]
NOTIFIER = CLICKHOUSE_LOGINS["notifier"]
#: System tables that never end (or wait): not something a leak can hide in.
ENDLESS = {"numbers", "numbers_mt", "zeros", "zeros_mt", "one"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BiServer]:
    with bi_server(tmp_path_factory.mktemp("attacks") / "home") as running:
        yield running


def assert_no_secret(text: str) -> None:
    leaked = [secret for secret in SECRETS if secret in text]
    assert leaked == [], f"province {OTHER}'s data reached province {MINE}: {text[:500]}"


def attempt(server: BiServer, sql: str, user: str = ME) -> tuple[Any, ServerException | None]:
    """Run ``sql`` as ``user``; return (rows, None) or (None, the error). Neither may carry a
    value of province 79."""
    try:
        rows = server.query(user, sql)
    except ServerException as exc:
        assert_no_secret(str(exc))
        return None, exc
    assert_no_secret(repr(rows))
    return rows, None


# -- 1. a province login reads every province ---------------------------------------------------

SUBQUERY_ATTACKS = {
    "error-based IN": "SELECT count() FROM province_indicators WHERE 1 IN (SELECT toUInt8("
    f"concat('LEAK:', toString(value))) FROM {DATABASE}.province_indicator_values"
    f" WHERE province_code = '{OTHER}')",
    "error-based IN on report ids": "SELECT count() FROM commune_indicators WHERE 1 IN"
    f" (SELECT toUInt8(concat('LEAK:', report_id)) FROM {DATABASE}.commune_reports"
    f" WHERE province_code = '{OTHER}')",
    "boolean IN": "SELECT count() FROM province_indicators WHERE 1 IN (SELECT toUInt8(count()"
    f" > 0) FROM {DATABASE}.commune_reports WHERE province_code = '{OTHER}')",
    "GLOBAL IN": "SELECT count() FROM province_indicators WHERE 1 GLOBAL IN (SELECT toUInt8("
    f"count() > 0) FROM {DATABASE}.commune_reports WHERE province_code = '{OTHER}')",
    "JOIN": "SELECT period, v FROM province_indicators ANY LEFT JOIN (SELECT period, value AS v"
    f" FROM {DATABASE}.province_indicator_values WHERE province_code = '{OTHER}') AS o"
    " USING (period)",
    "scalar subquery": f"SELECT (SELECT max(value) FROM {DATABASE}.province_indicator_values"
    f" WHERE province_code = '{OTHER}')",
    "error-based scalar": "SELECT toUInt8(concat('LEAK:', (SELECT any(report_id) FROM"
    f" {DATABASE}.commune_reports WHERE province_code = '{OTHER}')))",
    "the main view": f"SELECT value FROM {DATABASE}.province_indicators"
    f" WHERE province_code = '{OTHER}'",
    "another province's database": f"SELECT value FROM {DATABASE}_p{OTHER}.province_indicators",
    "another province's copy in a subquery": "SELECT count() FROM province_indicators WHERE"
    f" 1 IN (SELECT toUInt8(concat('LEAK:', toString(value))) FROM {DATABASE}_p{OTHER}"
    ".province_indicator_values)",
    "the feed": f"SELECT * FROM {DATABASE}_bi_feed.p{OTHER}__commune_reports",
}


@pytest.mark.parametrize("sql", SUBQUERY_ATTACKS.values(), ids=SUBQUERY_ATTACKS.keys())
def test_a_province_login_cannot_reach_another_province_through_a_query(
    server: BiServer, sql: str
) -> None:
    rows, refused = attempt(server, sql)
    assert refused is not None, f"answered {rows!r}"
    assert refused.code == ErrorCodes.DATABASE_ACCESS_DENIED


TABLE_FUNCTION_ATTACKS = {
    "remote as default": "SELECT * FROM remote('127.0.0.1:{tcp}', {db}.commune_reports)",
    "remote with its own password": "SELECT * FROM remote('127.0.0.1:{tcp}',"
    " {db}.commune_reports, '{me}', '{password}')",
    "url to the HTTP interface": "SELECT * FROM url('http://127.0.0.1:{http}/?query=SELECT%20"
    "report_id%20FROM%20{db}.commune_reports', TSV, 'x String')",
    "url to a local web service": "SELECT * FROM url('http://127.0.0.1:8765/api/provinces/79',"
    " TSV, 'x String')",
    "merge over the main database": "SELECT * FROM merge('{db}', '^commune_reports$')",
    "file": "SELECT * FROM file('../data/{db}/commune_reports/x', TSV, 'x String')",
    "cluster": "SELECT * FROM cluster('baocao_bi_relay', {db}, commune_reports)",
}


@pytest.mark.parametrize(
    "template", TABLE_FUNCTION_ATTACKS.values(), ids=TABLE_FUNCTION_ATTACKS.keys()
)
def test_a_province_login_cannot_use_table_functions(server: BiServer, template: str) -> None:
    sql = template.format(
        tcp=server.stack.clickhouse_tcp_port,
        http=server.stack.clickhouse_http_port,
        db=DATABASE,
        me=ME,
        password=server.password(ME),
    )
    rows, refused = attempt(server, sql)
    assert refused is not None, f"answered {rows!r}"
    assert refused.code == ErrorCodes.READONLY


def test_no_system_table_a_province_login_reads_holds_another_provinces_values(
    server: BiServer,
) -> None:
    tables = [
        name
        for (name,) in server.query(
            ME, "SELECT name FROM system.tables WHERE database = 'system' ORDER BY name"
        )
    ]
    assert "tables" in tables and "parts" in tables
    for table in tables:
        if table in ENDLESS:
            continue
        attempt(server, f"SELECT * FROM system.{table} LIMIT 100000")
    # No relay cluster and no dictionary that could read on a province login's behalf.
    assert server.query(ME, "SELECT cluster FROM system.clusters") == []
    assert server.query(ME, "SELECT name FROM system.dictionaries") == []


def test_a_province_login_still_reads_its_own_province_only(server: BiServer) -> None:
    rows, refused = attempt(server, "SELECT province_code, value FROM province_indicators")
    assert refused is None and rows == [(MINE, 20.0)]
    rows, _ = attempt(
        server, f"SELECT count() FROM commune_reports WHERE province_code = '{OTHER}'"
    )
    assert rows == [(0,)]


def test_a_crafted_grafana_link_reaches_no_further_than_its_login(server: BiServer) -> None:
    """Issue 9, point 8. Grafana's sqlstring doubles a quote but leaves a backslash, which
    ClickHouse reads as an escape: ``?var-period=\\' OR 1 --`` does widen a panel's WHERE.
    What bounds it is the province's data source: its login reads its own database only."""
    crafted = {"period": ["\\' OR 1 --"], "province": [OTHER]}
    answered = 0
    for _, raw_sql in panel_queries(DASHBOARDS[0]):
        rows, refused = attempt(server, substitute(raw_sql, crafted))
        if refused is None:
            answered += 1
            assert all(OTHER not in repr(row) for row in rows), rows
    assert answered >= 5  # the province panels ran (the national ones are refused)


# -- 2. the ClickHouse admin is open -----------------------------------------------------------


@pytest.mark.parametrize("password", ["", "default", "admin"])
def test_default_does_not_log_in_without_its_password(server: BiServer, password: str) -> None:
    client = Client(
        host="127.0.0.1", port=server.stack.clickhouse_tcp_port, user="default", password=password
    )
    with pytest.raises(ServerException) as refused:
        client.execute("SELECT 1")
    assert refused.value.code in (ErrorCodes.REQUIRED_PASSWORD, ErrorCodes.WRONG_PASSWORD)


def test_default_with_its_password_reads_nothing(server: BiServer) -> None:
    code = server.error_code("default", f"SELECT count() FROM {DATABASE}.commune_reports")
    assert code == ErrorCodes.DATABASE_ACCESS_DENIED
    assert server.error_code("default", "CREATE DATABASE pwned") == ErrorCodes.READONLY


def _http(
    server: BiServer,
    *,
    body: bytes | None,
    headers: dict[str, str],
    query: str = "",
) -> tuple[int, str]:
    request = urllib.request.Request(
        server.http_url + query, data=body, headers=headers, method="POST" if body else "GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode("utf-8", "replace")


def _tables_named(server: BiServer, name: str) -> int:
    sql = f"SELECT count() FROM system.tables WHERE name = '{name}'"
    return int(server.query(ADMIN, sql)[0][0])


def test_a_web_page_cannot_post_ddl_to_the_http_interface(server: BiServer) -> None:
    """What a page open in a browser can send without a CORS preflight: a text/plain POST."""
    status, body = _http(
        server,
        body=b"CREATE TABLE default.pwned_by_a_page (x UInt8) ENGINE = Memory",
        headers={"Content-Type": "text/plain", "Origin": "http://evil.example"},
    )
    assert status in (401, 403, 500), (status, body)
    assert "password" in body.lower()
    assert _tables_named(server, "pwned_by_a_page") == 0


def test_dns_rebinding_reads_nothing_without_a_password(server: BiServer) -> None:
    sql = urllib.parse.quote(f"SELECT report_id FROM {DATABASE}.commune_reports")
    status, body = _http(
        server,
        body=None,
        headers={"Host": f"evil.example:{server.stack.clickhouse_http_port}"},
        query=f"?query={sql}",
    )
    assert status != 200
    assert_no_secret(body)
    assert "r-secret-01" not in body


def test_the_notifier_login_reads_who_reported_and_no_province_database(server: BiServer) -> None:
    """What ``baocao notifier`` reads, and nothing of the BI side."""
    rows = server.query(NOTIFIER, "SELECT count() FROM commune_receipts")
    assert rows[0][0] > 0
    for database in (f"{DATABASE}_p{OTHER}", f"{DATABASE}_p{MINE}", f"{DATABASE}_bi_feed"):
        code = server.error_code(NOTIFIER, f"SELECT count() FROM {database}.commune_reports")
        assert code in (ErrorCodes.DATABASE_ACCESS_DENIED, ErrorCodes.UNKNOWN_DATABASE), database


def test_the_sink_login_inserts_but_runs_no_ddl(server: BiServer) -> None:
    client = server.client(SINK)
    try:
        client.execute(
            "INSERT INTO province_indicator_values (province_code, period, indicator_code,"
            " value, communes_reported, version, updated_at) VALUES",
            [(MINE, "2025-10", "tthc_received", 5.0, 1, 1, NOW)],
        )
    finally:
        client.disconnect()
    # What the sink inserts reaches the province's copy through the feed, without any right of
    # the sink on the province database.
    seen = server.query(ME, "SELECT value FROM province_indicators WHERE period = '2025-10'")
    assert seen == [(5.0,)]
    for sql in (
        "CREATE TABLE sneaky (x UInt8) ENGINE = Memory",
        "DROP TABLE commune_reports",
        "ALTER TABLE commune_reports DELETE WHERE 1",
        "SET allow_ddl = 1",
    ):
        assert server.error_code(SINK, sql) == ErrorCodes.QUERY_IS_PROHIBITED, sql
    for database in (f"{DATABASE}_p{OTHER}", f"{DATABASE}_p{MINE}"):
        code = server.error_code(SINK, f"SELECT count() FROM {database}.province_indicators")
        assert code in (ErrorCodes.DATABASE_ACCESS_DENIED, ErrorCodes.UNKNOWN_DATABASE), database


@pytest.mark.parametrize("user", [READER, NOTIFIER, BI_USER, ME])
@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO commune_reports (report_id) VALUES ('x')",
        "CREATE TABLE sneaky (x UInt8) ENGINE = Memory",
        "ALTER TABLE commune_reports DELETE WHERE 1",
        "DROP TABLE commune_reports",
        "SET max_execution_time = 100000",
        "SET max_memory_usage = 100000000000",
        "SET readonly = 0",
    ],
)
def test_reading_logins_write_nothing_and_keep_their_limits(
    server: BiServer, user: str, sql: str
) -> None:
    assert server.error_code(user, sql) == ErrorCodes.READONLY


@pytest.mark.parametrize("user", [READER, NOTIFIER, BI_USER, ME])
def test_a_limit_sent_by_a_client_is_not_applied(server: BiServer, user: str) -> None:
    # Native protocol: 18.16 ignores a setting a readonly=1 login sends.
    limit = server.query(
        user,
        "SELECT value FROM system.settings WHERE name = 'max_execution_time'",
        settings={"max_execution_time": 100000},
    )
    assert limit != [("100000",)] and limit[0][0] in ("60", "300")
    # HTTP: refused outright.
    status, body = _http(
        server,
        body=b"SELECT 1",
        headers={"Content-Type": "text/plain"},
        query="?"
        + urllib.parse.urlencode(
            {
                "user": user,
                "password": server.password(user),
                "database": server.home_database(user),
                "max_execution_time": "100000",
            }
        ),
    )
    assert status != 200 and "readonly" in body.lower(), (status, body)
