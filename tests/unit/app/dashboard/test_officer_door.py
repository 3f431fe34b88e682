"""The officers' door without ClickHouse: sign-in, the cookie, the Origin check, the backoff an
administrator unlocks, disable and reset ending sessions, and expiry."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support.officers import ORIGIN, Officers, make_officers, signed_in

from baocao.app.dashboard.officers import OFFICER_REALM, officer_of
from baocao.app.web import create_app
from baocao.core.logins import LoginStore, PasswordHasher, SignInLimiter
from baocao.core.settings import ClickHouseSettings, DashboardSettings

#: Port 1 refuses: a route that reached ClickHouse would answer 503.
CLOSED = ClickHouseSettings(port=1)


@pytest.fixture
def officers(tmp_path: Path) -> Officers:
    return make_officers(tmp_path / "officers.db")


def post_sign_in(client: TestClient, login: str, password: str) -> int:
    answer = client.post(
        "/api/session", json={"login": login, "password": password}, headers={"Origin": ORIGIN}
    )
    return answer.status_code


def test_a_province_officer_signs_in_with_an_httponly_strict_cookie_of_its_own(
    officers: Officers,
) -> None:
    client = TestClient(create_app(CLOSED, door=officers.door()))
    login, password = officers.hanoi
    answer = client.post(
        "/api/session", json={"login": login, "password": password}, headers={"Origin": ORIGIN}
    )
    assert answer.status_code == 200
    assert answer.json() == {"login": login, "name": "Trần Văn Hùng", "province": "01"}
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("baocao_dashboard_session=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert client.get("/api/me").json()["province"] == "01"
    # The page itself, then signing out ends the session on the server.
    assert client.get("/", follow_redirects=False).status_code == 200
    assert client.post("/api/session/end", headers={"Origin": ORIGIN}).status_code == 200
    assert client.get("/api/me").status_code == 401


def test_a_national_officer_has_no_province(officers: Officers) -> None:
    client = signed_in(create_app(CLOSED, door=officers.door()), officers.national)
    assert client.get("/api/me").json()["province"] is None


def test_a_wrong_password_and_an_unknown_login_answer_alike(officers: Officers) -> None:
    client = TestClient(create_app(CLOSED, door=officers.door()))
    wrong = client.post(
        "/api/session",
        json={"login": officers.hanoi[0], "password": "nope"},
        headers={"Origin": ORIGIN},
    )
    unknown = client.post(
        "/api/session", json={"login": "nobody-1", "password": "nope"}, headers={"Origin": ORIGIN}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["message_vi"] == "Sai tên đăng nhập hoặc mật khẩu."


def test_a_clerk_login_does_not_open_the_dashboard(officers: Officers) -> None:
    store = LoginStore(officers.database)
    store.add("c00070-1", realm="commune", code="00070", password_hash=PasswordHasher().hash("pw"))
    client = TestClient(create_app(CLOSED, door=officers.door()))
    assert post_sign_in(client, "c00070-1", "pw") == 401


def test_failures_back_off_per_account_and_an_administrator_unlocks(officers: Officers) -> None:
    now = [1000.0]
    door = officers.door(limiter=SignInLimiter(clock=lambda: now[0]))  # time stands still
    client = TestClient(create_app(CLOSED, door=door))
    login, password = officers.hanoi
    for _ in range(3):
        assert post_sign_in(client, login, "wrong") == 401
    # The fourth try is held back (429 with Retry-After), even with the right password...
    assert post_sign_in(client, login, password) == 429
    # ...until the administrator's unlock (`baocao officers unlock`), read at the next try.
    officers.database.record_unlock(login, by="admin")
    assert post_sign_in(client, login, password) == 200
    # Another officer was never slowed by it: no lockout spreads.
    assert post_sign_in(client, officers.hcmc[0], officers.hcmc[1]) == 200


def test_disable_and_reset_end_sessions_at_once(officers: Officers) -> None:
    app = create_app(CLOSED, door=officers.door())
    client = signed_in(app, officers.hanoi)
    store = LoginStore(officers.database)
    store.disable(officers.hanoi[0])
    assert client.get("/api/me").status_code == 401
    store.set_password(officers.hanoi[0], PasswordHasher().hash("new-pass-1234"), enable=True)
    assert post_sign_in(TestClient(app), officers.hanoi[0], "new-pass-1234") == 200
    assert post_sign_in(TestClient(app), officers.hanoi[0], officers.hanoi[1]) == 401


def test_a_session_expires(officers: Officers) -> None:
    app = create_app(CLOSED, door=officers.door(DashboardSettings(session_hours=1 / 3600)))
    client = signed_in(app, officers.hanoi)
    assert client.get("/api/me").status_code == 200
    time.sleep(1.1)
    expired = client.get("/api/periods")
    assert expired.status_code == 401
    assert expired.json()["detail"]["message_vi"].startswith("Phiên đăng nhập đã hết hạn")


def test_a_state_changing_request_from_another_origin_is_refused(officers: Officers) -> None:
    client = signed_in(create_app(CLOSED, door=officers.door()), officers.hanoi)
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"}, {}):
        answer = client.post("/api/session/end", headers=headers)
        assert answer.status_code == 403, headers
    assert client.get("/api/me").status_code == 200  # still signed in


def test_another_province_is_refused_before_clickhouse_is_reached(officers: Officers) -> None:
    """With ClickHouse unreachable, a read that tried would be 503: these are decided first."""
    client = signed_in(create_app(CLOSED, door=officers.door()), officers.hanoi)
    query = {"report_type": "monthly", "period": "2025-08"}
    assert client.get("/api/provinces/79", params=query).status_code == 403
    assert client.get("/api/provinces/79/export.xlsx", params=query).status_code == 403
    assert client.get("/api/national/export.xlsx", params=query).status_code == 403
    assert client.get("/api/provinces/01", params=query).status_code == 503


def test_officer_rows_name_their_province(officers: Officers) -> None:
    store = LoginStore(officers.database)
    found = {officer_of(x).province for x in store.of_place(OFFICER_REALM)}
    assert found == {None, "01", "79"}
