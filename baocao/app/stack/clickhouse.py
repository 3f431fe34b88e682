"""ClickHouse from the system package with the stack's own configuration, so it shares
nothing with a system ClickHouse but the binary.

Rule: the service logins and their generated passwords are written here and nowhere else; the
BI users are :mod:`baocao.app.stack.clickhouse_access`'s. Files under the stack home:
docs/stack.md. With replicas (``--clickhouse-replicas 2``), replica k is a server of its own
(``clickhouse-k/``, the ports plus ``10 * (k - 1)``) with the same logins, and a
``config.d/replication.xml`` that points it at the stack's ZooKeeper (docs/clickhouse.md).
"""

from __future__ import annotations

import logging
import re

from clickhouse_driver import Client
from clickhouse_driver.errors import Error as ClickHouseError

from baocao.app.bi.access import AccessPlan
from baocao.app.bi.credentials import credentials_path, ensure_credentials, sha256_hex
from baocao.app.stack.clickhouse_access import BiAccess, write_access_files
from baocao.app.stack.component import Health
from baocao.app.stack.process import ManagedProcess, logs_dir
from baocao.app.stack.templates import render, write_if_changed
from baocao.app.stack.zookeeper import ZooKeeperServer
from baocao.core.credentials import ensure_passwords, load_passwords
from baocao.core.settings import CLICKHOUSE_LOGINS, StackSettings, clickhouse_logins_path

__all__ = [
    "DEFAULT_USER",
    "NOTHING_DATABASE",
    "ClickHouseServer",
    "clickhouse_client_environment",
    "clickhouse_replicas",
    "replica_name",
    "replica_port",
]

logger = logging.getLogger(__name__)

DEFAULT_USER = "default"
#: The one database `default` may read; nothing ever creates it, so `default` reads nothing.
NOTHING_DATABASE = "baocao_default_user_reads_nothing"
#: Replica k's ports are replica 1's plus ``PORT_STEP * (k - 1)`` (as Kafka's nodes).
PORT_STEP = 10


def replica_port(base: int, replica: int) -> int:
    """Replica ``replica``'s port for a port whose replica-1 value is ``base``."""
    return base + PORT_STEP * (replica - 1)


def replica_name(replica: int) -> str:
    """The managed process and folder name of a replica: ``clickhouse``, ``clickhouse-2``..."""
    return "clickhouse" if replica == 1 else f"clickhouse-{replica}"


def clickhouse_replicas(settings: StackSettings) -> int:
    """How many ClickHouse replicas the stack home has: ``clickhouse_replicas``, or more when
    more were started there (so ``status`` and ``down`` find every one)."""
    home = settings.home.absolute()
    found = [
        int(match.group(1))
        for path in home.glob("clickhouse-*")
        if (match := re.fullmatch(r"clickhouse-(\d+)", path.name)) and path.is_dir()
    ]
    return max([settings.clickhouse_replicas, *found])


def clickhouse_client_environment(settings: StackSettings) -> dict[str, str]:
    """What ClickHouse's clients need beyond the defaults (empty for one server): the other
    replicas, to fail over to and to migrate."""
    replicas = clickhouse_replicas(settings)
    if replicas == 1:
        return {}
    others = ",".join(
        f"127.0.0.1:{replica_port(settings.clickhouse_tcp_port, replica)}"
        for replica in range(2, replicas + 1)
    )
    return {"BAOCAO_CLICKHOUSE_ALT_HOSTS": others}


class ClickHouseServer:
    """The stack's ClickHouse server (see the module docstring for its files)."""

    def __init__(
        self,
        settings: StackSettings,
        *,
        database: str = "baocao",
        replica: int = 1,
        zookeeper: ZooKeeperServer | None = None,
    ) -> None:
        self.settings = settings
        #: The database the sink and the readers may use (BAOCAO_CLICKHOUSE_DATABASE).
        self.database = database
        self.replica = replica
        #: The ZooKeeper of a replicated stack; None: a single server, as always.
        self.zookeeper = zookeeper
        self.name = replica_name(replica)
        self.tcp_port = replica_port(settings.clickhouse_tcp_port, replica)
        self.http_port = replica_port(settings.clickhouse_http_port, replica)
        home = settings.home.absolute()
        self.logins_file = clickhouse_logins_path(home)
        self.folder = home / self.name
        self.data_dir = self.folder / "data"
        self.config_file = self.folder / "config.xml"
        self.users_file = self.folder / "users.xml"
        #: Merged into users.xml / config.xml by the server (``<file name>.d``), reloaded live.
        self.users_dir = self.folder / "users.d"
        self.config_dir = self.folder / "config.d"
        self.log_file = logs_dir(home) / f"{self.name}.log"
        self.error_log_file = logs_dir(home) / f"{self.name}.err.log"
        self.process = ManagedProcess(
            self.name,
            [str(settings.clickhouse_binary), f"--config-file={self.config_file}"],
            home=home,
            cwd=self.folder,
            log_file=logs_dir(home) / f"{self.name}.out",
            stop_timeout=30.0,
        )

    @property
    def ports(self) -> tuple[int, ...]:
        if self.zookeeper is None:
            return (self.tcp_port, self.http_port)
        return (self.tcp_port, self.http_port, self.interserver_port)

    @property
    def interserver_port(self) -> int:
        return replica_port(self.settings.clickhouse_interserver_port, self.replica)

    def prepare(self) -> None:
        """Write the configuration and create the folders the server expects."""
        folders = {
            "data_dir": self.data_dir,
            "tmp_dir": self.folder / "tmp",
            "user_files_dir": self.folder / "user_files",
            "format_schema_dir": self.folder / "format_schemas",
        }
        for folder in (*folders.values(), self.log_file.parent):
            folder.mkdir(parents=True, exist_ok=True)
        write_if_changed(
            self.config_file,
            render(
                "clickhouse-config.xml",
                log_file=self.log_file,
                error_log_file=self.error_log_file,
                tcp_port=self.tcp_port,
                http_port=self.http_port,
                users_file=self.users_file,
                **folders,
            ),
        )
        if self.zookeeper is not None:
            write_if_changed(
                self.config_dir / "replication.xml",
                render(
                    "clickhouse-replication.xml",
                    zookeeper_port=self.settings.zookeeper_port,
                    identity=self.zookeeper.identity(),
                    replica=self.name,
                    interserver_port=self.interserver_port,
                ),
                mode=0o600,
            )
        self.write_logins()

    def write_logins(self) -> bool:
        """Give every service login a password (generated once into the stack home) and write
        users.xml with their digests; return whether it changed.

        Safe while the server runs: it reloads users.xml by itself within seconds.
        """
        passwords = ensure_passwords(self.logins_file, (DEFAULT_USER, *CLICKHOUSE_LOGINS.values()))
        digests = {
            f"{role}_sha256": sha256_hex(passwords[user])
            for role, user in CLICKHOUSE_LOGINS.items()
        }
        text = render(
            "clickhouse-users.xml",
            database=self.database,
            feed_database=AccessPlan(database=self.database, provinces=()).feed_database,
            nothing_database=NOTHING_DATABASE,
            default_sha256=sha256_hex(passwords[DEFAULT_USER]),
            **digests,
        )
        changed = write_if_changed(self.users_file, text, mode=0o600)
        if changed:
            logger.info("wrote %s", self.users_file)
        return changed

    def admin_login(self) -> tuple[str, str]:
        """(user, password) of the stack's administrator, from the stack home."""
        user = CLICKHOUSE_LOGINS["admin"]
        return user, load_passwords(self.logins_file).get(user, "")

    def write_bi_access(self, access: BiAccess) -> bool:
        """Give BI tools their users (generating missing passwords into the stack home).

        Safe while the server runs: it reloads users.d and config.d by itself within seconds.
        Returns whether a file changed.
        """
        credentials = ensure_credentials(
            credentials_path(self.settings), access.plan.all_users(), overrides=access.overrides
        )
        return write_access_files(
            users_dir=self.users_dir,
            config_dir=self.config_dir,
            plan=access.plan,
            credentials=credentials,
            limits=access.limits,
        )

    def probe(self, *, timeout: float) -> Health:
        """``SELECT 1`` over the native protocol on the stack's own port, as its administrator."""
        user, password = self.admin_login()
        client = Client(
            host="127.0.0.1",
            port=self.tcp_port,
            user=user,
            password=password,
            connect_timeout=timeout,
            send_receive_timeout=timeout,
            settings={"max_execution_time": max(1, int(timeout))},
        )
        try:
            answer = client.execute("SELECT 1")
            info = client.connection.server_info
        except (ClickHouseError, OSError, EOFError) as exc:
            return Health(ok=False, detail=f"SELECT 1 failed: {exc}")
        finally:
            client.disconnect()
        if answer != [(1,)]:
            return Health(ok=False, detail=f"SELECT 1 answered {answer!r}")
        version = (
            ".".join(
                str(part) for part in (info.version_major, info.version_minor, info.version_patch)
            )
            if info is not None
            else "?"
        )
        return Health(ok=True, detail=f"ClickHouse {version}")
