"""Officers' logins for the dashboard tests: a database of the test's own with one national
and one Hà Nội officer, the door over it, and clients signed in as each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from baocao.app.dashboard.door import OfficerDoor
from baocao.app.dashboard.officers import OfficerDatabase, add_officer
from baocao.core.logins import LoginStore, SignInLimiter
from baocao.core.settings import DashboardSettings

__all__ = ["ORIGIN", "Officers", "make_officers", "signed_in"]

#: What a browser on the TestClient's page sends as ``Origin``.
ORIGIN = "http://testserver"


@dataclass(frozen=True)
class Officers:
    database: OfficerDatabase
    #: (login, password) of each.
    national: tuple[str, str]
    hanoi: tuple[str, str]
    hcmc: tuple[str, str]

    def door(
        self, options: DashboardSettings | None = None, *, limiter: SignInLimiter | None = None
    ) -> OfficerDoor:
        return OfficerDoor(self.database, options or DashboardSettings(), limiter=limiter)


def make_officers(path: Path) -> Officers:
    database = OfficerDatabase(path).open()
    logins = LoginStore(database)
    made = []
    for province, name in ((None, "Lê Thị Mai"), ("01", "Trần Văn Hùng"), ("79", "Phạm Thu Hà")):
        login, password = add_officer(logins, province=province, name=name)
        made.append((login.login_id, password))
    return Officers(database, *made)


def signed_in(app: FastAPI, credentials: tuple[str, str]) -> TestClient:
    """A client of ``app`` with the session cookie of ``credentials`` (sign-in checked)."""
    client = TestClient(app)
    login, password = credentials
    answer = client.post(
        "/api/session", json={"login": login, "password": password}, headers={"Origin": ORIGIN}
    )
    assert answer.status_code == 200, answer.text
    return client
