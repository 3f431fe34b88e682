"""The dashboard's ClickHouse login of each province (``baocao_dash_pNN`` on ``baocao_pNN``),
as the settings the read model connects with for a province officer.

Why not the BI login of the province: a busy BI tool would then take the officers' query
slots; the dashboard's logins have a profile and limits of their own (docs/security.md).
"""

from __future__ import annotations

from pydantic import SecretStr

from baocao.app.bi.access import AccessPlan, dashboard_user
from baocao.app.bi.credentials import credentials_path, read_credentials
from baocao.core.settings import ClickHouseSettings, StackSettings

__all__ = ["DashboardLogins"]


class DashboardLogins:
    """Province code -> the settings of its dashboard login (read from the stack home's BI
    credentials each time, so a password ``baocao stack up`` generated later is seen)."""

    def __init__(self, clickhouse: ClickHouseSettings, stack: StackSettings) -> None:
        self._clickhouse = clickhouse
        self._plan = AccessPlan(database=clickhouse.database, provinces=())
        self._path = credentials_path(stack)

    def __call__(self, code: str) -> ClickHouseSettings:
        user = dashboard_user(code)
        password = read_credentials(self._path).password(user)
        return self._clickhouse.model_copy(
            update={
                "user": user,
                "password": SecretStr(password),
                "database": self._plan.province_database(code),
            }
        )
