"""The shared sign-in module: password hashes, sessions, sign-in limits and the Origin check."""

from __future__ import annotations

import asyncio
from pathlib import Path

import argon2
import pytest

from baocao.core.logins import (
    LoginError,
    LoginStore,
    PasswordHasher,
    SignIn,
    SignInLimiter,
    generate_password,
    origin_allowed,
)
from baocao.core.logins.origin import own_origin
from baocao.core.logins.store import hash_session
from baocao.producers.gateway.store import GatewayStore

#: Cheap parameters: the tests check behaviour, not Argon2's cost.
FAST = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> LoginStore:
    db = GatewayStore(tmp_path / "gateway.db").open()
    return LoginStore(db, clock=Clock())


def test_a_password_is_stored_as_an_argon2id_hash_and_checked() -> None:
    hasher = PasswordHasher(hasher=FAST)
    password = generate_password()
    stored = hasher.hash(password)
    assert stored.startswith("$argon2id$") and password not in stored
    assert hasher.verify(stored, password)
    assert not hasher.verify(stored, password + "x")
    assert not hasher.verify(None, password)  # an unknown login, checked against a decoy
    assert not hasher.verify("not a hash", password)
    assert asyncio.run(hasher.verify_async(stored, password))


def test_generated_passwords_avoid_lookalike_characters() -> None:
    passwords = {generate_password() for _ in range(200)}
    assert len(passwords) == 200
    assert not any(set(p) & set("0O1lI") for p in passwords)


def test_sessions_are_stored_hashed_and_end_with_the_login(store: LoginStore) -> None:
    login = store.add("c00070-1", realm="commune", code="00070", password_hash="h")
    opened = store.open_session(login, lifetime=3600)
    assert len(opened.token) >= 43
    found = store.session(opened.token)
    assert found is not None and found.login.code == "00070"
    rows = store._db.connection().execute("SELECT session_hash FROM login_sessions").fetchall()
    assert [r[0] for r in rows] == [hash_session(opened.token)]
    assert store.session(opened.token[:-1] + ("A" if opened.token[-1] != "A" else "B")) is None
    assert store.session("") is None and store.session("x" * 500) is None

    store.set_password(login.login_id, "h2")  # a reset ends every session
    assert store.session(opened.token) is None
    again = store.open_session(login, lifetime=3600)
    store.disable(login.login_id)
    assert store.session(again.token) is None
    assert store.password_hash(login.login_id) is None


def test_a_session_expires(store: LoginStore) -> None:
    login = store.add("c00070-1", realm="commune", code="00070", password_hash="h")
    opened = store.open_session(login, lifetime=60)
    clock = store._clock
    assert isinstance(clock, Clock)
    clock.now += 59
    assert store.session(opened.token) is not None
    clock.now += 2
    assert store.session(opened.token) is None


def test_login_names_are_checked_and_unique(store: LoginStore) -> None:
    store.add("C00070-1", realm="commune", code="00070", password_hash="h")
    assert store.get("c00070-1") is not None  # names are lowercase
    with pytest.raises(LoginError, match="exists already"):
        store.add("c00070-1", realm="commune", code="00070", password_hash="h")
    with pytest.raises(LoginError, match="not a login name"):
        store.add("a b", realm="commune", code="00070", password_hash="h")
    assert store.next_free_id("c00070") == "c00070-2"


def test_a_guesser_is_slowed_per_account_and_address_but_the_clerk_is_never_locked_out() -> None:
    clock = Clock()
    limiter = SignInLimiter(address_rate=1000, address_burst=1000, clock=clock)
    for _ in range(3):
        assert limiter.check("c1", "10.0.0.9") == 0
        limiter.failed("c1", "10.0.0.9")
    assert limiter.check("c1", "10.0.0.9") == pytest.approx(1.0)  # backoff starts
    for _ in range(40):
        clock.now += 500  # an attacker who waits out each backoff (within the window)
        limiter.failed("c1", "10.0.0.9")
    assert limiter.check("c1", "10.0.0.9") == pytest.approx(300)  # capped per address pair
    # The clerk on another address waits at most the account's cap, never indefinitely.
    assert 0 < limiter.check("c1", "10.0.0.7") <= 30
    clock.now += 30
    assert limiter.check("c1", "10.0.0.7") == 0
    limiter.succeeded("c1", "10.0.0.7")
    assert limiter.check("c1", "10.0.0.7") == 0
    assert limiter.check("c2", "10.0.0.9") == 0  # other accounts are not slowed


def test_one_address_cannot_spray_guesses_over_many_accounts() -> None:
    clock = Clock()
    limiter = SignInLimiter(address_rate=0.5, address_burst=5, clock=clock)
    assert [limiter.check(f"c{i}", "10.0.0.9") for i in range(5)] == [0] * 5
    assert limiter.check("c5", "10.0.0.9") == pytest.approx(2.0)
    assert limiter.check("c5", "10.0.0.8") == 0
    clock.now += 2
    assert limiter.check("c5", "10.0.0.9") == 0


def test_sign_in_opens_a_session_only_for_the_right_password_and_realm(store: LoginStore) -> None:
    hasher = PasswordHasher(hasher=FAST)
    store.add("c00070-1", realm="commune", code="00070", password_hash=hasher.hash("secret-1"))
    store.add("p01-1", realm="province", code="01", password_hash=hasher.hash("secret-2"))
    sign_in = SignIn(
        store, realm="commune", hasher=hasher, limiter=SignInLimiter(), session_seconds=60
    )
    wrong = asyncio.run(sign_in.sign_in("c00070-1", "nope", address="a"))
    assert wrong.session is None and wrong.retry_after == 0
    officer = asyncio.run(sign_in.sign_in("p01-1", "secret-2", address="a"))
    assert officer.session is None
    good = asyncio.run(sign_in.sign_in(" C00070-1 ", "secret-1", address="a"))
    assert good.session is not None and good.session.login.code == "00070"
    assert sign_in.session(good.session.token) is not None
    sign_in.sign_out(good.session.token)
    assert sign_in.session(good.session.token) is None


@pytest.mark.parametrize(
    ("method", "origin", "allowed"),
    [
        ("GET", None, True),
        ("POST", "http://127.0.0.1:18088", True),
        ("POST", "http://127.0.0.1:18088/", True),
        ("POST", "http://127.0.0.1:18080", False),  # the dashboard's port: same site, not origin
        ("POST", "https://evil.example", False),
        ("POST", "null", False),
        ("POST", None, False),
        ("DELETE", None, False),
    ],
)
def test_origin_must_be_the_app_own_on_every_state_changing_request(
    method: str, origin: str | None, allowed: bool
) -> None:
    assert origin_allowed(method, origin, allowed={"http://127.0.0.1:18088"}) is allowed


def test_own_origin_drops_default_ports() -> None:
    assert own_origin("https", "Baocao.example.vn:443") == "https://baocao.example.vn"
    assert own_origin("http", "127.0.0.1:18088") == "http://127.0.0.1:18088"
