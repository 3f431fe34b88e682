"""Check, before anything starts, that the system programs the stack runs are installed.

A missing program found half-way through ``stack up`` leaves one server running and a
confusing error; finding all of them first gives one message with the fix.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from baocao.app.stack.exceptions import MissingDependencyError

__all__ = ["MIN_JAVA", "Tools", "check_tools", "java_major_version"]

#: Kafka 4 brokers need Java 17.
MIN_JAVA = 17
FIX = "install them with: scripts/install-system-deps.sh (as root, or a user with sudo)"


@dataclass(frozen=True, slots=True)
class Tools:
    """Absolute paths of the programs found."""

    java: str
    mvn: str | None
    clickhouse_server: Path


def java_major_version(java: str) -> int | None:
    """The feature version of a Java runtime (17 for "17.0.15", 8 for "1.8.0_402")."""
    try:
        done = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if found is None:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def check_tools(*, clickhouse_server: Path, need_maven: bool) -> Tools:
    """Return the programs' paths, or raise one error naming every missing one.

    Raises:
        MissingDependencyError: java (17+), mvn (only when jars must be fetched) or the
            ClickHouse server binary is missing.
    """
    problems: list[str] = []
    java = shutil.which("java")
    if java is None:
        problems.append(f"java (Java {MIN_JAVA} or newer) is not on PATH")
    else:
        major = java_major_version(java)
        if major is None or major < MIN_JAVA:
            problems.append(f"{java} is Java {major or '?'}; Kafka 4 needs Java {MIN_JAVA}+")
    mvn = shutil.which("mvn")
    if need_maven and mvn is None:
        problems.append("mvn (Maven, needed once to download the Kafka jars) is not on PATH")
    if not (clickhouse_server.is_file() and os.access(clickhouse_server, os.X_OK)):
        problems.append(f"{clickhouse_server} (package clickhouse-server) is not installed")
    if problems or java is None:
        raise MissingDependencyError(
            "the local stack needs programs that are missing:\n  - "
            + "\n  - ".join(problems)
            + f"\n{FIX}"
        )
    return Tools(java=java, mvn=mvn, clickhouse_server=clickhouse_server)
