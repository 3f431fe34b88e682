"""The demo prints a clerk login that works, also when an earlier demo left one behind."""

from __future__ import annotations

from pathlib import Path

from baocao.app.demo import DEMO_LOGIN, demo_clerk
from baocao.core.logins import LoginStore, PasswordHasher
from baocao.core.settings import GatewaySettings, Settings
from baocao.producers.gateway.store import GatewayStore


def test_the_demo_clerk_login_works_every_time(tmp_path: Path) -> None:
    settings = Settings(gateway=GatewaySettings(db_path=tmp_path / "gateway.db"))
    first = demo_clerk(settings, port=18088)
    second = demo_clerk(settings, port=18088)
    assert first.url == "http://127.0.0.1:18088/" and first.login == second.login == DEMO_LOGIN
    assert first.password != second.password
    store = GatewayStore(settings.gateway.db_path).open()
    try:
        held = LoginStore(store).password_hash(DEMO_LOGIN)
    finally:
        store.close()
    assert held is not None and held[0].code == "00070"
    hasher = PasswordHasher()
    assert hasher.verify(held[1], second.password)
    assert not hasher.verify(held[1], first.password)
