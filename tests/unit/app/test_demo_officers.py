"""The demo prints one national and one province officer login that work, every run."""

from __future__ import annotations

from pathlib import Path

from baocao.app.dashboard.officers import officer_of, open_officers
from baocao.app.demo import demo_officers
from baocao.core.logins import LoginStore, PasswordHasher
from baocao.core.settings import DashboardSettings, Settings


def test_the_demo_officer_logins_work_every_time(tmp_path: Path) -> None:
    settings = Settings(dashboard=DashboardSettings(db_path=tmp_path / "officers.db"))
    first = demo_officers(settings)
    second = demo_officers(settings)
    assert [o.province for o in second] == [None, "01"]
    logins = LoginStore(open_officers(settings))
    hasher = PasswordHasher()
    for old, new in zip(first, second, strict=True):
        held = logins.password_hash(new.login)
        assert held is not None and officer_of(held[0]).province == new.province
        assert hasher.verify(held[1], new.password)
        assert not hasher.verify(held[1], old.password)
