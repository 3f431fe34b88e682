"""Officers' logins for the dashboard tests: a database of the test's own with one national
and one Hà Nội officer, the door over it, and clients signed in as each."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from baocao.app.dashboard.door import OfficerDoor
from baocao.app.dashboard.officers import OfficerDatabase, add_officer
from baocao.core.logins import LoginStore, SignInLimiter
from baocao.core.settings import DashboardSettings
from support import cli
from support.net import free_port
from support.wait import eventually

__all__ = ["ORIGIN", "Officers", "make_officers", "serving_dashboard", "signed_in"]

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


@contextmanager
def serving_dashboard(env: Mapping[str, str], officers: Officers, folder: Path) -> Iterator[str]:
    """``baocao dashboard`` (a real process) over ``env`` and ``officers``, with the gateway's
    login file and the log in ``folder``; yields its URL once it answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **env,
        "BAOCAO_DASHBOARD_DB_PATH": str(officers.database.path),
        "BAOCAO_GATEWAY_DB_PATH": str(folder / "gateway.db"),
    }
    args = ("dashboard", "--port", str(port))
    with cli.running(*args, env=env, log_path=folder / "dashboard.log", stop_timeout=15) as running:
        eventually(
            lambda: httpx.get(f"{url}/login", timeout=1.0).raise_for_status(),
            what="the dashboard to answer",
            timeout=30,
            interval=0.1,
            ignoring=(httpx.HTTPError,),
            alive=running.assert_running,
            log=running.log,
        )
        yield url
