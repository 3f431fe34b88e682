"""The same access on a current ClickHouse, in SQL: users, a role, a profile, row policies
(``baocao bi grants --sql`` prints them, ``baocao bi apply`` runs them).

Rule: a province user is granted only relations with a ``province_code`` column, each with its
row policy, and every statement can run again (docs/bi-access.md, path 2).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from baocao.app.bi.access import (
    BI_PROFILE,
    BI_ROLE,
    BI_USER,
    AccessPlan,
    province_user,
    relation_filter,
)
from baocao.app.bi.catalog import Relation
from baocao.app.bi.credentials import Credentials
from baocao.core.settings import BiSettings

__all__ = [
    "MAX_EXECUTION_SECONDS",
    "MAX_MEMORY_BYTES",
    "SYSTEM_TABLES_READ",
    "UNRESTRICTED_POLICY",
    "grant_statements",
    "system_table_statements",
]

#: The system tables a BI tool needs to browse the schema; never ``processes`` or
#: ``query_log``, which hold other logins' query texts (docs/security.md).
SYSTEM_TABLES_READ = ("databases", "tables", "columns", "one", "functions", "settings")

logger = logging.getLogger(__name__)

#: The caps of the defaults of :class:`~baocao.core.settings.BiSettings` (the same on 18.16).
MAX_EXECUTION_SECONDS = BiSettings.model_fields["max_execution_seconds"].default
MAX_MEMORY_BYTES = BiSettings.model_fields["max_memory_bytes"].default
MAX_CONCURRENT_QUERIES = BiSettings.model_fields["max_concurrent_queries"].default
#: The policy that keeps every row visible to users other than the province users.
UNRESTRICTED_POLICY = "baocao_unrestricted"


def grant_statements(
    plan: AccessPlan, relations: Sequence[Relation], credentials: Credentials
) -> list[str]:
    """Every statement, in the order to run them."""
    db = f"`{plan.database}`"
    per_province = sorted(relation.name for relation in relations if relation.per_province)
    provinces = [province_user(code) for code in plan.provinces]
    statements = [
        f"CREATE SETTINGS PROFILE OR REPLACE {BI_PROFILE} SETTINGS"
        f" readonly = 2, allow_ddl = 0,"
        f" max_execution_time = {MAX_EXECUTION_SECONDS} MAX {MAX_EXECUTION_SECONDS},"
        f" max_memory_usage = {MAX_MEMORY_BYTES} MAX {MAX_MEMORY_BYTES},"
        f" max_concurrent_queries_for_user = {MAX_CONCURRENT_QUERIES}"
        f" MAX {MAX_CONCURRENT_QUERIES}",
        f"CREATE ROLE IF NOT EXISTS {BI_ROLE}",
        f"REVOKE ALL ON *.* FROM {BI_ROLE}",
        f"GRANT SELECT ON {db}.* TO {BI_ROLE}",
        _create_user(BI_USER, plan, credentials),
        f"GRANT {BI_ROLE} TO {BI_USER}",
    ]
    for code, login in zip(plan.provinces, provinces, strict=True):
        statements.append(_create_user(login, plan, credentials))
        statements += [f"GRANT SELECT ON {db}.`{name}` TO {login}" for name in per_province]
        statements += [
            f"CREATE ROW POLICY OR REPLACE {login} ON {db}.`{name}`"
            f" AS PERMISSIVE FOR SELECT USING {relation_filter(code)} TO {login}"
            for name in per_province
        ]
    if provinces:
        statements += [
            f"CREATE ROW POLICY OR REPLACE {UNRESTRICTED_POLICY} ON {db}.`{name}`"
            f" AS PERMISSIVE FOR SELECT USING 1 TO ALL EXCEPT {', '.join(provinces)}"
            for name in per_province
        ]
    return statements


def _create_user(login: str, plan: AccessPlan, credentials: Credentials) -> str:
    # OR REPLACE also drops the user's grants: they are granted right after.
    return (
        f"CREATE USER OR REPLACE {login}"
        f" IDENTIFIED WITH sha256_hash BY '{credentials.digest(login)}'"
        f" HOST ANY DEFAULT DATABASE `{plan.database}` SETTINGS PROFILE '{BI_PROFILE}'"
    )


def system_table_statements(plan: AccessPlan) -> list[str]:
    """On a current ClickHouse whose server sets
    ``access_control_improvements.select_from_system_db_requires_grant`` to true, every system
    table needs a grant: these give the BI logins the schema tables only, so none reads other
    logins' query texts in ``system.processes`` or ``system.query_log`` (18.16 cannot close
    this: docs/security.md). Not run by ``baocao bi apply``: the server setting comes first."""
    logins = ", ".join(province_user(code) for code in plan.provinces)
    grantees = f"{BI_ROLE}, {logins}" if logins else BI_ROLE
    return [
        f"REVOKE SELECT ON system.processes FROM {grantees}",
        f"REVOKE SELECT ON system.query_log FROM {grantees}",
        *(f"GRANT SELECT ON system.{table} TO {grantees}" for table in SYSTEM_TABLES_READ),
    ]
