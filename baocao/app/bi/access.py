"""Who may read what: the BI users, their names, and the databases of the province users.

Pure naming rules shared by both privilege paths (users.xml on ClickHouse 18.16, SQL on a
current ClickHouse), by the stack that writes the server's configuration and by the commands
that print connection settings. Nothing here talks to a server.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from baocao.core.reference import ReferenceData

__all__ = [
    "BI_PROFILE",
    "BI_ROLE",
    "BI_USER",
    "DASHBOARD_PROFILE",
    "PROVINCE_COLUMN",
    "AccessPlan",
    "dashboard_user",
    "province_relations",
    "province_user",
    "relation_filter",
]

#: Reads every row of the BI database (all provinces, national views).
BI_USER = "baocao_bi"
#: On a current ClickHouse the BI user's privileges are held by this role.
BI_ROLE = "baocao_bi_reader"
#: Settings profile of every BI user (read-only, no DDL, bounded queries).
BI_PROFILE = "baocao_bi"
#: Rows of a relation with this column belong to one province.
PROVINCE_COLUMN = "province_code"

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PROVINCE_CODE = re.compile(r"^[0-9]{2}$")


#: Settings profile of the dashboard's province logins: their own query slots and limits, so
#: a busy BI tool cannot take the officers' page away (nor the reverse).
DASHBOARD_PROFILE = "baocao_dashboard"


def dashboard_user(code: str) -> str:
    """The dashboard's ClickHouse login for province ``code``'s officers ("01" ->
    ``baocao_dash_p01``): reads the province's database only, like ``baocao_p01``, but is
    never handed to a BI tool."""
    return f"baocao_dash_p{_checked_province(code)}"


def province_user(code: str) -> str:
    """The login of province ``code`` ("01" -> ``baocao_p01``)."""
    return f"baocao_p{_checked_province(code)}"


def _checked_province(code: str) -> str:
    if not _PROVINCE_CODE.fullmatch(code):
        raise ValueError(f"province code {code!r} is not two digits")
    return code


@dataclass(frozen=True, slots=True)
class AccessPlan:
    """The BI users of one database and where each of them reads.

    Names are checked here once, so the SQL and XML built from a plan can quote them plainly:
    a database is a bare identifier and a province code two digits.
    """

    database: str
    provinces: tuple[str, ...]

    def __post_init__(self) -> None:
        if not _IDENTIFIER.fullmatch(self.database):
            raise ValueError(
                f"database {self.database!r} is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)"
            )
        for code in self.provinces:
            _checked_province(code)
        if len(set(self.provinces)) != len(self.provinces):
            raise ValueError("a province is listed twice")

    @classmethod
    def for_reference(cls, database: str, reference: ReferenceData) -> AccessPlan:
        """One user per province of the official reference data, in code order."""
        return cls(database=database, provinces=tuple(sorted(reference.provinces)))

    @property
    def feed_database(self) -> str:
        """ClickHouse 18.16 only: the materialized views that copy each province's rows from
        the main tables into its database as they are inserted. No BI login may read it."""
        return f"{self.database}_bi_feed"

    @property
    def retired_relay_database(self) -> str:
        """The loopback relay of the first release (leaked other provinces): dropped by apply."""
        return f"{self.database}_bi_relay"

    def province_database(self, code: str) -> str:
        """ClickHouse 18.16 only: the database province ``code``'s user may read."""
        return f"{self.database}_p{_checked_province(code)}"

    def province_users(self) -> dict[str, str]:
        """Province code -> login."""
        return {code: province_user(code) for code in self.provinces}

    def login_users(self) -> tuple[str, ...]:
        """Every user a person or a BI tool logs in with: the BI user, then the provinces."""
        return (BI_USER, *self.province_users().values())

    def dashboard_users(self) -> dict[str, str]:
        """Province code -> the dashboard's login of that province (ClickHouse 18.16 path)."""
        return {code: dashboard_user(code) for code in self.provinces}

    def all_users(self) -> tuple[str, ...]:
        """Every account of the plan (all of them log in: there is no internal account)."""
        return (*self.login_users(), *self.dashboard_users().values())


def relation_filter(code: str) -> str:
    """The row condition of province ``code``: the same text on both privilege paths."""
    return f"{PROVINCE_COLUMN} = '{_checked_province(code)}'"


def province_relations(relations: Iterable[tuple[str, Iterable[str]]]) -> list[str]:
    """Names of the relations (name, column names) whose rows belong to a province."""
    return sorted(name for name, columns in relations if PROVINCE_COLUMN in set(columns))
