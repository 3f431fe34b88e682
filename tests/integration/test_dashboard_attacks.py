"""Issue 19, isolation enforced twice, as attacks on the dashboard over a real ClickHouse 18.16
configured by the stack (``support.bi``: provinces 01 and 79, 79's values found nowhere else).

A Hà Nội (01) officer's session calls every dashboard API route and export URL against
province 79: each answer is a refusal that carries no value of 79, and no query reaches
ClickHouse for it (``system.query_log``, where every query of the dashboard's logins is
logged; an admitted request in the same test shows the log works). Then the second wall: the
province login the dashboard reads 01 with is refused by the database itself when it reaches
for 79, whatever the web app might have let through.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_driver.errors import ErrorCodes, ServerException
from fastapi.testclient import TestClient
from support.bi import ADMIN, DATABASE, MINE, OTHER, PERIOD, SECRETS, BiServer, bi_server
from support.officers import ORIGIN, Officers, make_officers, signed_in

from baocao.app.bi.access import dashboard_user
from baocao.app.bi.dashboard_logins import DashboardLogins
from baocao.app.web import create_app
from baocao.core.clickhouse import connect
from baocao.core.reference import load_reference
from baocao.core.settings import CLICKHOUSE_LOGINS, ClickHouseSettings

pytestmark = pytest.mark.integration

READER = CLICKHOUSE_LOGINS["reader"]
QUERY = {"report_type": "monthly", "period": PERIOD}
OTHER_COMMUNE = load_reference().communes_by_province[OTHER][0]
MY_COMMUNE = load_reference().communes_by_province[MINE][0]

#: Every route a province officer could aim at province 79, with the answer it must get.
REFUSED = {
    f"/api/provinces/{OTHER}": 403,
    f"/api/provinces/{OTHER}/export.xlsx": 403,
    "/api/national/export.xlsx": 403,
    f"/api/communes/{OTHER_COMMUNE}": 403,
    "/api/communes/99999": 404,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BiServer]:
    with bi_server(tmp_path_factory.mktemp("dashboard-attacks") / "home") as running:
        yield running


@pytest.fixture(scope="module")
def officers(tmp_path_factory: pytest.TempPathFactory) -> Officers:
    return make_officers(tmp_path_factory.mktemp("officers") / "officers.db")


def national_settings(server: BiServer) -> ClickHouseSettings:
    return ClickHouseSettings(
        host="127.0.0.1",
        port=server.stack.clickhouse_tcp_port,
        database=DATABASE,
        user=READER,
        password=server.password(READER),
    )


@pytest.fixture(scope="module")
def hanoi(server: BiServer, officers: Officers) -> TestClient:
    settings = national_settings(server)
    app = create_app(
        settings,
        door=officers.door(),
        province_login=DashboardLogins(settings, server.stack),
    )
    return signed_in(app, officers.hanoi)


def logged_queries(server: BiServer) -> int:
    """Queries the dashboard's logins started, once the log is flushed."""
    client = server.client(ADMIN, database="system")
    try:
        client.execute("SYSTEM FLUSH LOGS")
        # The server creates the log table at its first flush of a logged query.
        if not client.execute("EXISTS TABLE system.query_log")[0][0]:
            return 0
        [(count,)] = client.execute(
            "SELECT count() FROM system.query_log WHERE type = 1 AND user IN %(users)s",
            {"users": (READER, dashboard_user(MINE), dashboard_user(OTHER))},
        )
        return int(count)
    finally:
        client.disconnect()


def assert_no_secret(text: str) -> None:
    leaked = [secret for secret in SECRETS if secret in text]
    assert leaked == [], f"province {OTHER}'s data reached a province {MINE} officer: {text[:500]}"


def test_the_hanoi_officer_reads_hanoi_through_hanois_own_login(
    server: BiServer, hanoi: TestClient
) -> None:
    before = logged_queries(server)
    answer = hanoi.get(f"/api/provinces/{MINE}", params=QUERY)
    assert answer.status_code == 200, answer.text
    assert answer.json()["code"] == MINE
    assert_no_secret(answer.text)
    client = server.client(ADMIN, database="system")
    try:
        client.execute("SYSTEM FLUSH LOGS")
        users = {
            user
            for (user,) in client.execute(
                "SELECT DISTINCT user FROM system.query_log WHERE type = 1"
                " AND query LIKE '%%commune_indicators%%'"
            )
        }
    finally:
        client.disconnect()
    assert dashboard_user(MINE) in users  # the province's own login read it, not the reader
    assert logged_queries(server) > before  # and the log sees the dashboard's queries


@pytest.mark.parametrize("route", REFUSED, ids=REFUSED)
def test_another_province_is_refused_before_any_query(
    server: BiServer, hanoi: TestClient, route: str
) -> None:
    before = logged_queries(server)
    params = QUERY if "communes" not in route else {"period": PERIOD}
    answer = hanoi.get(route, params=params)
    assert answer.status_code == REFUSED[route], answer.text
    assert_no_secret(answer.text + str(answer.headers))
    assert logged_queries(server) == before, f"{route} sent a query before refusing"


def test_a_forged_province_code_is_a_clear_error_without_a_query(
    server: BiServer, hanoi: TestClient
) -> None:
    before = logged_queries(server)
    for forged in ("7", "079", "79%20OR%201", "..%2F79"):
        answer = hanoi.get(f"/api/provinces/{forged}", params=QUERY)
        assert answer.status_code in (404, 422), (forged, answer.status_code)
        assert_no_secret(answer.text)
    assert logged_queries(server) == before


def test_the_overview_shows_the_national_figures_and_only_the_officers_tile(
    hanoi: TestClient,
) -> None:
    answer = hanoi.get("/api/overview", params=QUERY)
    assert answer.status_code == 200, answer.text
    # This server announces no period, so no tile has rows; none may be another province's.
    assert {tile["code"] for tile in answer.json()["provinces"]} <= {MINE}
    assert "national" in answer.json() and "indicators" in answer.json()
    assert_no_secret(answer.text)


def test_without_a_session_nothing_is_read(server: BiServer, officers: Officers) -> None:
    settings = national_settings(server)
    anonymous = TestClient(create_app(settings, door=officers.door()))
    before = logged_queries(server)
    for route in ("/api/periods", "/api/overview", f"/api/provinces/{MINE}", "/api/me"):
        assert anonymous.get(route, params=QUERY).status_code == 401
    assert anonymous.get("/", follow_redirects=False).headers["location"] == "/login"
    assert logged_queries(server) == before


def test_the_province_login_itself_cannot_reach_another_province(server: BiServer) -> None:
    """The second wall: even a query the web app should never send is refused by ClickHouse."""
    mine = DashboardLogins(national_settings(server), server.stack)(MINE)
    client = connect(mine)
    try:
        for sql in (
            f"SELECT value FROM {DATABASE}.province_indicators WHERE province_code = '{OTHER}'",
            f"SELECT value FROM {DATABASE}_p{OTHER}.province_indicators",
            "SELECT count() FROM province_indicators WHERE 1 IN (SELECT toUInt8(concat('LEAK:',"
            f" toString(value))) FROM {DATABASE}.province_indicator_values)",
        ):
            with pytest.raises(ServerException) as refused:
                client.execute(sql)
            assert refused.value.code == ErrorCodes.DATABASE_ACCESS_DENIED
            assert_no_secret(str(refused.value))
        [(figure,)] = client.execute(
            "SELECT max(value) FROM province_indicators WHERE indicator_code = 'tthc_received'"
        )
        assert figure == 20.0
    finally:
        client.disconnect()


def test_a_cross_site_sign_in_or_sign_out_is_refused(officers: Officers, server: BiServer) -> None:
    app = create_app(national_settings(server), door=officers.door())
    client = TestClient(app)
    login, password = officers.hanoi
    for origin in ("http://evil.example", None):
        headers = {"Origin": origin} if origin else {}
        answer = client.post(
            "/api/session", json={"login": login, "password": password}, headers=headers
        )
        assert answer.status_code == 403
        assert "set-cookie" not in answer.headers
    assert (
        client.post(
            "/api/session", json={"login": login, "password": password}, headers={"Origin": ORIGIN}
        ).status_code
        == 200
    )


def test_officer_logins_live_where_no_clickhouse_login_reads(officers: Officers) -> None:
    path = Path(officers.database.path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_a_step_on_another_province_is_refused_before_any_query_or_event(
    server: BiServer, officers: Officers
) -> None:
    sent: list[object] = []
    settings = national_settings(server)
    app = create_app(
        settings,
        door=officers.door(),
        province_login=DashboardLogins(settings, server.stack),
        publish=sent.append,
    )
    client = signed_in(app, officers.hanoi)
    before = logged_queries(server)
    for action in ("approve", "return", "unapprove", "accept"):
        body = {
            "action": action,
            "report_type": "monthly",
            "period": PERIOD,
            "based_on_version": 0,
            "commune": OTHER_COMMUNE,
            "note": "x",
        }
        answer = client.post(f"/api/provinces/{OTHER}/steps", json=body, headers={"Origin": ORIGIN})
        assert answer.status_code == 403, (action, answer.text)
        assert_no_secret(answer.text)
    assert sent == [] and logged_queries(server) == before
    # Approving one's own province with missing communes asks for a confirmation naming them.
    body = {"action": "approve", "report_type": "monthly", "period": PERIOD, "based_on_version": 0}
    answer = client.post(f"/api/provinces/{MINE}/steps", json=body, headers={"Origin": ORIGIN})
    assert answer.status_code == 409
    missing = answer.json()["detail"]["missing"]
    assert MY_COMMUNE not in {m["code"] for m in missing} and len(missing) > 100
    assert sent == []
