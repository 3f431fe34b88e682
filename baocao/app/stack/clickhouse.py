"""ClickHouse from the system package with the stack's own configuration, so it shares
nothing with a system ClickHouse but the binary.

Rule: the service logins and their generated passwords are written here and nowhere else; the
BI users are :mod:`baocao.app.stack.clickhouse_access`'s. Files under the stack home:
docs/stack.md.
"""

from __future__ import annotations

import logging

from clickhouse_driver import Client
from clickhouse_driver.errors import Error as ClickHouseError

from baocao.app.bi.access import AccessPlan
from baocao.app.bi.credentials import credentials_path, ensure_credentials, sha256_hex
from baocao.app.stack.clickhouse_access import BiAccess, write_access_files
from baocao.app.stack.component import Health
from baocao.app.stack.process import ManagedProcess, logs_dir
from baocao.app.stack.templates import render, write_if_changed
from baocao.core.credentials import ensure_passwords, load_passwords
from baocao.core.settings import CLICKHOUSE_LOGINS, StackSettings, clickhouse_logins_path

__all__ = ["DEFAULT_USER", "NOTHING_DATABASE", "ClickHouseServer"]

logger = logging.getLogger(__name__)

DEFAULT_USER = "default"
#: The one database `default` may read; nothing ever creates it, so `default` reads nothing.
NOTHING_DATABASE = "baocao_default_user_reads_nothing"


class ClickHouseServer:
    """The stack's ClickHouse server (see the module docstring for its files)."""

    name = "clickhouse"

    def __init__(self, settings: StackSettings, *, database: str = "baocao") -> None:
        self.settings = settings
        #: The database the sink and the readers may use (BAOCAO_CLICKHOUSE_DATABASE).
        self.database = database
        home = settings.home.absolute()
        self.logins_file = clickhouse_logins_path(home)
        self.folder = home / "clickhouse"
        self.data_dir = self.folder / "data"
        self.config_file = self.folder / "config.xml"
        self.users_file = self.folder / "users.xml"
        #: Merged into users.xml / config.xml by the server (``<file name>.d``), reloaded live.
        self.users_dir = self.folder / "users.d"
        self.config_dir = self.folder / "config.d"
        self.log_file = logs_dir(home) / "clickhouse.log"
        self.error_log_file = logs_dir(home) / "clickhouse.err.log"
        self.process = ManagedProcess(
            self.name,
            [str(settings.clickhouse_binary), f"--config-file={self.config_file}"],
            home=home,
            cwd=self.folder,
            log_file=logs_dir(home) / "clickhouse.out",
            stop_timeout=30.0,
        )

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.settings.clickhouse_tcp_port, self.settings.clickhouse_http_port)

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
                tcp_port=self.settings.clickhouse_tcp_port,
                http_port=self.settings.clickhouse_http_port,
                users_file=self.users_file,
                **folders,
            ),
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
            port=self.settings.clickhouse_tcp_port,
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
