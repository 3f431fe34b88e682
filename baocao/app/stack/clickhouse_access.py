"""The BI users of the stack's ClickHouse 18.16, written as a configuration file
(``clickhouse/users.d/baocao-bi.xml``) that the server reloads live.

Rule: the profile stays ``readonly=1``, never 2, on 18.16 (docs/bi-access.md, path 1, says
why); province logins reach only their own database (:mod:`baocao.app.bi.legacy`).
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from baocao.app.bi.access import BI_PROFILE, BI_USER, DASHBOARD_PROFILE, AccessPlan
from baocao.app.bi.credentials import Credentials, environment_passwords
from baocao.app.stack.templates import write_if_changed
from baocao.core.reference import load_reference
from baocao.core.settings import BiSettings, Settings

__all__ = [
    "LOOPBACK",
    "PROFILE_SETTINGS",
    "BiAccess",
    "profile_settings",
    "users_config_xml",
    "write_access_files",
]

logger = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "::1")

#: The BI profile on 18.16: limits a readonly=1 login cannot change (SET is refused, settings
#: sent over the native protocol are ignored). The time, concurrency and memory caps come from
#: :class:`~baocao.core.settings.BiSettings` (:func:`profile_settings`).
PROFILE_SETTINGS: dict[str, str] = {
    "readonly": "1",
    "allow_ddl": "0",
    "max_result_rows": "10000000",
}


def profile_settings(limits: BiSettings) -> dict[str, str]:
    """The BI profile with the configured caps of each login."""
    return {
        **PROFILE_SETTINGS,
        "max_execution_time": str(limits.max_execution_seconds),
        "max_concurrent_queries_for_user": str(limits.max_concurrent_queries),
        "max_memory_usage": str(limits.max_memory_bytes),
    }


#: The dashboard's province logins: the page's queries are small, so the limits are tight (a
#: page that waits longer than 30 s has failed anyway) and slots are their own.
DASHBOARD_PROFILE_SETTINGS: dict[str, str] = {
    "readonly": "1",
    "allow_ddl": "0",
    "max_execution_time": "30",
    "max_memory_usage": "1000000000",
    "max_result_rows": "1000000",
    "max_concurrent_queries_for_user": "8",
    "log_queries": "1",
}

_HEADER = (
    '<?xml version="1.0"?>\n'
    "<!-- Written by `baocao stack up` (baocao/app/stack/clickhouse_access.py); edits are"
    " overwritten. Passwords are SHA-256 digests; the clear text is in the stack home's"
    " bi/credentials.json (mode 0600). -->\n"
)


@dataclass(frozen=True)
class BiAccess:
    """What ``baocao stack up`` should give BI tools: the plan and any imposed passwords."""

    plan: AccessPlan
    #: user -> password from the environment (``BAOCAO_BI_PASSWORD``); others are generated.
    overrides: Mapping[str, str] = field(default_factory=dict)
    #: The caps of each BI login (``BAOCAO_BI_MAX_*``).
    limits: BiSettings = field(default_factory=BiSettings)

    @classmethod
    def configured(cls, settings: Settings) -> BiAccess:
        """The BI access of the configured database: one user per province of the reference."""
        return cls(
            plan=AccessPlan.for_reference(settings.clickhouse.database, load_reference()),
            overrides=environment_passwords(settings.bi),
            limits=settings.bi,
        )


def users_config_xml(
    plan: AccessPlan, credentials: Credentials, *, limits: BiSettings | None = None
) -> str:
    """The users.d file: the BI profile and every BI user with its allowed databases, and the
    dashboard's profile and province logins."""
    root = ET.Element("yandex")
    profile = ET.SubElement(ET.SubElement(root, "profiles"), BI_PROFILE)
    for name, value in profile_settings(limits or BiSettings()).items():
        ET.SubElement(profile, name).text = value
    dashboard = ET.SubElement(root.find("profiles"), DASHBOARD_PROFILE)  # type: ignore[arg-type]
    for name, value in DASHBOARD_PROFILE_SETTINGS.items():
        ET.SubElement(dashboard, name).text = value
    users = ET.SubElement(root, "users")
    _user(users, BI_USER, credentials, databases=[plan.database])
    for code, login in plan.province_users().items():
        _user(users, login, credentials, databases=[plan.province_database(code)])
    for code, login in plan.dashboard_users().items():
        _user(
            users,
            login,
            credentials,
            databases=[plan.province_database(code)],
            profile=DASHBOARD_PROFILE,
        )
    return _serialise(root)


def write_access_files(
    *,
    users_dir: Path,
    config_dir: Path,
    plan: AccessPlan,
    credentials: Credentials,
    limits: BiSettings | None = None,
) -> bool:
    """Write the users.d file (mode 0600) unless it already holds this, and remove the relay
    cluster of the first release from config.d; return whether a file changed."""
    changed = False
    path = users_dir / "baocao-bi.xml"
    if write_if_changed(path, users_config_xml(plan, credentials, limits=limits), mode=0o600):
        changed = True
        logger.info("wrote %s", path)
    retired = config_dir / "baocao-bi.xml"
    if retired.exists():
        retired.unlink()
        changed = True
        logger.info("removed the retired relay cluster %s", retired)
    return changed


def _user(
    users: ET.Element,
    name: str,
    credentials: Credentials,
    *,
    databases: list[str],
    profile: str = BI_PROFILE,
) -> None:
    user = ET.SubElement(users, name)
    ET.SubElement(user, "password_sha256_hex").text = credentials.digest(name)
    networks = ET.SubElement(user, "networks")
    for address in LOOPBACK:
        ET.SubElement(networks, "ip").text = address
    ET.SubElement(user, "profile").text = profile
    ET.SubElement(user, "quota").text = "default"
    allowed = ET.SubElement(user, "allow_databases")
    for database in databases:
        ET.SubElement(allowed, "database").text = database


def _serialise(root: ET.Element) -> str:
    ET.indent(root, space="    ")
    return _HEADER + ET.tostring(root, encoding="unicode") + "\n"
