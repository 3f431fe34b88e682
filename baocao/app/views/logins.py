"""A province's ClickHouse login, as the read model receives it: a callable from province code
to the settings of that province's database, and the errors it raises when there is none."""

from __future__ import annotations

from collections.abc import Callable

from baocao.core.settings import ClickHouseSettings

__all__ = ["PROVINCE_LOGIN_ERRORS", "ProvinceLogin"]

#: Province code -> the ClickHouse settings of a login that reads that province alone (its own
#: database, ``baocao_pNN``): how a province officer's reads reach the server, so the
#: database refuses what the web app might let through.
ProvinceLogin = Callable[[str], ClickHouseSettings]

#: What a :data:`ProvinceLogin` raises for a province it has no login of: an unknown code
#: (``KeyError``, ``ValueError``) or credentials it cannot read (``RuntimeError``, e.g.
#: ``baocao.app.bi``'s ``CredentialsError``, which also wraps an unreadable file).
PROVINCE_LOGIN_ERRORS: tuple[type[Exception], ...] = (KeyError, ValueError, RuntimeError)
