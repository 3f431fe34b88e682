"""The session cookie's policy that both web doors (gateway, dashboard) share."""

from __future__ import annotations

from baocao.core.logins import SessionCookie


def test_attributes_are_httponly_strict_and_secure_only_over_tls() -> None:
    cookie = SessionCookie("s", session_hours=8)
    assert cookie.attributes("http") == {
        "path": "/",
        "httponly": True,
        "samesite": "strict",
        "secure": False,
    }
    assert cookie.attributes("https")["secure"] is True
    assert cookie.max_age == 8 * 3600


def test_a_public_origin_decides_secure_behind_a_tls_proxy() -> None:
    # The proxy ends TLS: the app sees http, the browser https.
    behind = SessionCookie("s", 1, public_origin="https://baocao.example.vn")
    assert behind.attributes("http")["secure"] is True
    assert SessionCookie("s", 1, public_origin="http://10.0.0.5:8080").secure("https") is False


def test_state_changes_must_come_from_the_apps_own_origin() -> None:
    cookie = SessionCookie("s", 1)
    own = {"scheme": "http", "host": "127.0.0.1:8088"}
    assert cookie.admits("POST", "http://127.0.0.1:8088", **own)
    assert not cookie.admits("POST", "http://127.0.0.1:8765", **own)  # same site, other port
    assert not cookie.admits("POST", None, **own)
    assert cookie.admits("GET", "http://evil.example", **own)  # reads change nothing


def test_a_public_origin_replaces_the_served_one() -> None:
    cookie = SessionCookie("s", 1, public_origin="https://baocao.example.vn")
    assert cookie.allowed_origins("http", "127.0.0.1:8088") == {"https://baocao.example.vn"}
    assert cookie.admits("POST", "https://baocao.example.vn", scheme="http", host="x:1")
    assert not cookie.admits("POST", "http://127.0.0.1:8088", scheme="http", host="127.0.0.1:8088")
