"""ZooKeeper from Debian's package, run by the stack when ClickHouse has replicas: one node
on loopback that coordinates the replicated tables (which parts exist, which replica
fetches what). Files under the stack home: ``zookeeper/`` (config and data, 0700) and
``secrets/zookeeper.json`` (ClickHouse's digest login, 0600).
"""

from __future__ import annotations

import socket

from baocao.app.stack.component import Health
from baocao.app.stack.process import ManagedProcess, logs_dir, private_dir
from baocao.app.stack.templates import render, write_if_changed
from baocao.core.credentials import ensure_passwords
from baocao.core.settings import StackSettings

__all__ = ["CLICKHOUSE_IDENTITY_USER", "ZooKeeperServer"]

#: The digest login of the ClickHouse replicas; its znodes carry this login's ACL.
CLICKHOUSE_IDENTITY_USER = "clickhouse"


class ZooKeeperServer:
    """The stack's ZooKeeper node (see the module docstring)."""

    name = "zookeeper"

    def __init__(self, settings: StackSettings, *, java: str = "java") -> None:
        self.settings = settings
        home = settings.home.absolute()
        self.folder = home / "zookeeper"
        self.data_dir = self.folder / "data"
        self.config_file = self.folder / "zoo.cfg"
        self.secrets_file = home / "secrets" / "zookeeper.json"
        self.log_file = logs_dir(home) / "zookeeper.log"
        self.process = ManagedProcess(
            self.name,
            [
                java,
                "-Xmx256m",
                "-Djava.awt.headless=true",
                # The settings enforce.auth.* are read as system properties too (3.8.0
                # reads only those); both say the same.
                "-Dzookeeper.enforce.auth.enabled=true",
                "-Dzookeeper.enforce.auth.schemes=digest",
                "-Dzookeeper.4lw.commands.whitelist=ruok,srvr",
                "-cp",
                settings.zookeeper_jars,
                "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                str(self.config_file),
            ],
            home=home,
            cwd=self.folder,
            log_file=self.log_file,
            stop_timeout=20.0,
        )

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.settings.zookeeper_port,)

    def identity(self) -> str:
        """``user:password`` of ClickHouse's digest login (generated once, kept)."""
        password = ensure_passwords(self.secrets_file, (CLICKHOUSE_IDENTITY_USER,))[
            CLICKHOUSE_IDENTITY_USER
        ]
        return f"{CLICKHOUSE_IDENTITY_USER}:{password}"

    def prepare(self) -> None:
        """Write zoo.cfg and create the private data folder."""
        private_dir(self.data_dir)
        self.folder.chmod(0o700)
        write_if_changed(
            self.config_file,
            render("zoo.cfg", data_dir=self.data_dir, port=self.settings.zookeeper_port),
            mode=0o600,
        )

    def probe(self, *, timeout: float) -> Health:
        """ZooKeeper's ``srvr`` command: it answers with its version and mode when it serves."""
        try:
            with socket.create_connection(
                ("127.0.0.1", self.settings.zookeeper_port), timeout=timeout
            ) as connection:
                connection.sendall(b"srvr")
                answer = b""
                while chunk := connection.recv(4096):
                    answer += chunk
        except OSError as exc:
            return Health(ok=False, detail=f"srvr failed: {exc}")
        lines = answer.decode("utf-8", "replace").splitlines()
        facts = dict(line.split(": ", 1) for line in lines if ": " in line)
        if "Mode" not in facts:
            return Health(ok=False, detail=f"srvr answered {answer[:80]!r}")
        version = facts.get("Zookeeper version", "?").split("-", 1)[0]
        return Health(ok=True, detail=f"ZooKeeper {version} ({facts['Mode']})")
