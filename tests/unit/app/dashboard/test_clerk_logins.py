"""Province officers issue, reset and disable their communes' clerk logins in the dashboard;
another province's communes are refused."""

from __future__ import annotations

from pathlib import Path

from support.officers import ORIGIN, make_officers, signed_in

from baocao.app.dashboard.clerk_logins import ClerkLogins
from baocao.app.web import create_app
from baocao.core.logins import LoginStore, PasswordHasher
from baocao.core.reference import load_reference
from baocao.core.settings import ClickHouseSettings
from baocao.producers.gateway.store import GatewayStore

HANOI_COMMUNE = load_reference().communes_by_province["01"][0]
HCMC_COMMUNE = load_reference().communes_by_province["79"][0]
POST = {"headers": {"Origin": ORIGIN}}


def test_a_province_officer_manages_its_communes_clerk_logins(tmp_path: Path) -> None:
    officers = make_officers(tmp_path / "officers.db")
    gateway = GatewayStore(tmp_path / "gateway.db").open()
    logins = LoginStore(gateway)
    app = create_app(ClickHouseSettings(port=1), door=officers.door(), clerks=ClerkLogins(logins))
    hanoi = signed_in(app, officers.hanoi)

    added = hanoi.post(
        "/api/provinces/01/clerks", json={"commune": HANOI_COMMUNE, "name": "Lan"}, **POST
    )
    assert added.status_code == 201
    login, password = added.json()["login"], added.json()["password"]
    held = logins.password_hash(login)
    assert held is not None and PasswordHasher().verify(held[1], password)
    listed = hanoi.get("/api/provinces/01/clerks").json()
    assert [x["login"] for x in listed] == [login] and "password" not in listed[0]

    reset = hanoi.post(f"/api/provinces/01/clerks/{login}/reset", **POST).json()
    held = logins.password_hash(login)
    assert held is not None and PasswordHasher().verify(held[1], reset["password"])
    assert hanoi.post(f"/api/provinces/01/clerks/{login}/disable", **POST).status_code == 200
    assert logins.password_hash(login) is None

    # Another province's communes, and another province's page, are refused.
    other = {"commune": HCMC_COMMUNE, "name": "X"}
    assert hanoi.post("/api/provinces/01/clerks", json=other, **POST).status_code == 422
    assert hanoi.post("/api/provinces/79/clerks", json=other, **POST).status_code == 403
    assert hanoi.get("/api/provinces/79/clerks").status_code == 403
    hcmc = signed_in(app, officers.hcmc)
    assert hcmc.post(f"/api/provinces/79/clerks/{login}/reset", **POST).status_code == 422
    cross = hanoi.post(
        "/api/provinces/01/clerks", json=other, headers={"Origin": "http://x.example"}
    )
    assert cross.status_code == 403
    gateway.close()
