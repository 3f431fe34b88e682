"""Province officers issue, reset and disable their communes' clerk logins from the dashboard.

The clerks' logins live in the gateway's SQLite file (``BAOCAO_GATEWAY_DB_PATH``, on the
same host, as ``baocao clerks`` expects); the rules are ``baocao clerks``' own
(:func:`~baocao.producers.gateway.clerks.add_clerk`): generated passwords shown once, Argon2
hashes stored, a reset or a disable ends the clerk's sessions at once. This module only
checks that the commune is of the officer's province.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException

from baocao.core.logins import Login, LoginError, LoginStore, PasswordHasher, generate_password
from baocao.core.reference import load_reference
from baocao.producers.gateway.clerks import COMMUNE_REALM, add_clerk

__all__ = ["ClerkLogins"]


def _json(login: Login) -> dict[str, Any]:
    return {
        "login": login.login_id,
        "commune_code": login.code,
        "name": login.label,
        "created_at": login.created_at,
        "password_set_at": login.password_set_at,
        "disabled_at": login.disabled_at,
    }


class ClerkLogins:
    def __init__(self, logins: LoginStore) -> None:
        self._logins = logins

    def of_province(self, province: str) -> list[dict[str, Any]]:
        communes = set(load_reference().communes_by_province.get(province, ()))
        return [_json(x) for x in self._logins.of_place(COMMUNE_REALM) if x.code in communes]

    def add(self, province: str, commune: str, name: str) -> dict[str, Any]:
        self._require_commune(province, commune)
        try:
            login, password = add_clerk(self._logins, commune, login_id=None, label=name)
        except LoginError as exc:
            raise HTTPException(422, str(exc)) from exc
        return {**_json(login), "password": password}

    def reset(self, province: str, login_id: str) -> dict[str, Any]:
        found = self._require_login(province, login_id)
        password = generate_password()
        login = self._logins.set_password(
            found.login_id, PasswordHasher().hash(password), enable=True
        )
        return {**_json(login), "password": password}

    def disable(self, province: str, login_id: str) -> dict[str, Any]:
        found = self._require_login(province, login_id)
        return _json(self._logins.disable(found.login_id))

    def _require_commune(self, province: str, commune: str) -> None:
        known = load_reference().communes.get(commune)
        if known is None or known.province_code != province:
            raise HTTPException(422, f"{commune!r} is not a commune of province {province}")

    def _require_login(self, province: str, login_id: str) -> Login:
        found = self._logins.get(login_id.strip().lower())
        if found is None or found.realm != COMMUNE_REALM:
            raise HTTPException(404, f"no clerk login {login_id!r}")
        self._require_commune(province, found.code)
        return found
