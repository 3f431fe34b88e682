"""The same access on a current ClickHouse, in SQL: users, a role, a profile, row policies.

``baocao bi grants --sql`` prints these statements and ``baocao bi apply`` runs them (the
Docker stack does, in its ``bi-access`` service). They need an administrator with access
management (the image's ``default`` with ``CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT=1``).

* Profile ``baocao_bi``: ``readonly = 2``, because BI tools set settings on every query
  (Grafana's plugin sends ``max_execution_time``, Metabase and JDBC others) and ``readonly=1``
  refuses them. What readonly=2 would otherwise open is closed by privileges: table functions
  need ``CREATE TEMPORARY TABLE`` and source grants (``URL``, ``REMOTE`` ...), which these users
  never get, and the resource limits are pinned with constraints (``MAX``).
* ``baocao_bi``: role ``baocao_bi_reader`` with ``SELECT`` on the whole BI database.
* ``baocao_pNN``: ``SELECT`` on every relation of the database that has a ``province_code``
  column (views and the tables they read, since a view runs with its reader's rights), each
  with the row policy ``province_code = 'NN'``. Relations without the column (national views,
  internal tables) are not granted at all.
* A permissive ``USING 1`` policy for everyone else on the same relations, so other users keep
  every row whatever ``users_without_row_policies_can_read_rows`` says.

Every statement can be run again: users and policies are replaced (``OR REPLACE``), the role's
and the users' grants are revoked and granted anew.
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

__all__ = ["MAX_EXECUTION_SECONDS", "MAX_MEMORY_BYTES", "UNRESTRICTED_POLICY", "grant_statements"]

logger = logging.getLogger(__name__)

MAX_EXECUTION_SECONDS = 300
MAX_MEMORY_BYTES = 4_000_000_000
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
        f" max_memory_usage = {MAX_MEMORY_BYTES} MAX {MAX_MEMORY_BYTES}",
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
