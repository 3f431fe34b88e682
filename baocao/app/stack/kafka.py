"""Kafka 4 in KRaft mode: one process that is both controller and broker, on loopback.

Files under the stack home::

    kafka/server.properties   rendered from kafka-server.properties (ports from StackSettings;
                              mode 0600: the broker's own passwords)
    kafka/credentials/        one SCRAM credential per principal (0700, files 0600), see
                              baocao.core.principals
    kafka/log4j2.xml          rendered from kafka-log4j2.xml
    kafka/data/               the log dirs; meta.properties there keeps the cluster id
    logs/kafka.log            the broker's log (Log4j 2, rolling)
    logs/kafka.out            the JVM's own stdout/stderr (start-up failures, crashes)

The storage is formatted once, when ``data/meta.properties`` does not exist yet; later starts
reuse the data and the cluster id.
"""

from __future__ import annotations

import base64
import logging
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from pydantic import SecretStr

from baocao.app.stack.component import Health
from baocao.app.stack.exceptions import ProcessStartError
from baocao.app.stack.jars import kafka_jars_dir
from baocao.app.stack.process import ManagedProcess, logs_dir, private_dir
from baocao.app.stack.templates import render, write_if_changed
from baocao.core.kafka import KafkaUnavailableError, wait_for_kafka
from baocao.core.principals import (
    Principal,
    ScramCredential,
    ensure_credentials,
    load_credential,
    resolve_kafka,
    write_private,
)
from baocao.core.settings import KafkaSettings, StackSettings

__all__ = ["KafkaServer", "new_cluster_id"]

logger = logging.getLogger(__name__)

FORMAT_TIMEOUT_SECONDS = 120.0
#: The static PLAIN user of the controller listener (the node itself).
CONTROLLER_USER = "controller"


def new_cluster_id() -> str:
    """A cluster id as ``kafka-storage random-uuid`` makes one, without starting a JVM.

    Kafka prints a UUID as URL-safe base64 without padding, and never hands out one whose text
    starts with '-' (it would read as an option on a command line).
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


class KafkaServer:
    """The stack's Kafka broker (see the module docstring for its files)."""

    name = "kafka"

    def __init__(self, settings: StackSettings, *, java: str = "java") -> None:
        self.settings = settings
        home = settings.home.absolute()
        self.folder = home / "kafka"
        self.data_dir = self.folder / "data"
        self.properties_file = self.folder / "server.properties"
        self.log4j_file = self.folder / "log4j2.xml"
        self.log_file = logs_dir(home) / "kafka.log"
        self.libs = kafka_jars_dir(
            cache_dir=settings.cache_dir, kafka_version=settings.kafka_version
        )
        self.java = java
        self.process = ManagedProcess(
            self.name,
            [
                java,
                f"-Xmx{settings.kafka_heap}",
                "-XX:+UseG1GC",
                "-XX:MaxGCPauseMillis=20",
                "-XX:+ExplicitGCInvokesConcurrent",
                "-Djava.awt.headless=true",
                *self._jvm_logging_options(),
                "kafka.Kafka",
                str(self.properties_file),
            ],
            home=home,
            cwd=self.folder,
            log_file=logs_dir(home) / "kafka.out",
            # A clean shutdown flushes logs and writes a checkpoint, which makes the next start
            # faster; a single node needs a few seconds for it.
            stop_timeout=45.0,
        )

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.settings.kafka_port, self.settings.kafka_controller_port)

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.settings.kafka_port}"

    @property
    def plain_admin_marker(self) -> Path:
        """Present in a stack home whose storage was formatted before SASL: its metadata has
        no SCRAM users to log in with, so the admin (and the broker) log in with PLAIN, a
        static user of ``server.properties``, and the admin creates the SCRAM users."""
        return self.folder / "plain-admin"

    def admin_settings(self) -> KafkaSettings:
        """Client settings of the stack's admin principal (a super user) on its listener."""
        base = KafkaSettings(bootstrap_servers=self.bootstrap_servers, client_id="baocao-stack")
        admin = resolve_kafka(base, self.settings, Principal.ADMIN)
        if self.plain_admin_marker.exists():
            return admin.model_copy(update={"sasl_mechanism": "PLAIN"})
        return admin

    def runs_without_authentication(self) -> bool:
        """Whether the running broker was started from a configuration of before SASL."""
        try:
            return "SASL_PLAINTEXT://" not in self.properties_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return False

    def prepare(self) -> None:
        """Write the configuration files and format the storage on the first start.

        The principals' passwords are generated into the stack home first; the broker's own
        passwords go into ``server.properties`` (mode 0600), the admin's and the broker's
        SCRAM users into the cluster metadata when the storage is formatted.
        """
        private_dir(self.settings.home.absolute())
        private_dir(self.folder)
        private_dir(self.data_dir)
        private_dir(self.log_file.parent)
        formatted = (self.data_dir / "meta.properties").exists()
        if formatted and load_credential(self.settings, Principal.ADMIN) is None:
            logger.warning(
                "the Kafka storage in %s was formatted before SASL: its admin logs in with "
                "PLAIN and creates the SCRAM users (data kept)",
                self.data_dir,
            )
            write_private(self.plain_admin_marker, "formatted without SCRAM users\n")
        credentials = ensure_credentials(self.settings, [*Principal, CONTROLLER_USER])
        broker = _jaas_quoted(credentials[Principal.BROKER].password)
        plain = self.plain_admin_marker.exists()
        write_if_changed(
            self.properties_file,
            render(
                "kafka-server.properties",
                port=self.settings.kafka_port,
                controller_port=self.settings.kafka_controller_port,
                data_dir=self.data_dir,
                partitions=4,
                broker_password=broker,
                controller_password=_jaas_quoted(credentials[CONTROLLER_USER].password),
                plain_mechanism=",PLAIN" if plain else "",
                inter_broker_mechanism="PLAIN" if plain else "SCRAM-SHA-256",
                plain_admin=(
                    "# This storage was formatted before SASL: PLAIN logins for the admin and\n"
                    "# the broker (static users); every other principal uses SCRAM.\n"
                    "listener.name.sasl_plaintext.plain.sasl.jaas.config="
                    "org.apache.kafka.common.security.plain.PlainLoginModule required "
                    f'username="broker" password="{broker}" user_broker="{broker}" '
                    f'user_admin="{_jaas_quoted(credentials[Principal.ADMIN].password)}";\n'
                    if plain
                    else ""
                ),
            ),
            mode=0o600,
        )
        write_if_changed(self.log4j_file, render("kafka-log4j2.xml", log_file=self.log_file))
        if not (self.data_dir / "meta.properties").exists():
            self._format_storage([credentials[Principal.ADMIN], credentials[Principal.BROKER]])

    def probe(self, *, timeout: float) -> Health:
        """One metadata request (retried within ``timeout``) to the stack's own port, as the
        stack's admin principal."""
        client = self.admin_settings()
        try:
            with _quiet_kafka_client_logs():
                cluster = wait_for_kafka(client, timeout=timeout)
        except KafkaUnavailableError as exc:
            return Health(ok=False, detail=f"no metadata answer: {exc.__cause__ or exc}")
        brokers = len(cluster.get("brokers", []))
        return Health(ok=True, detail=f"cluster {cluster.get('cluster_id')}, {brokers} broker(s)")

    def _jvm_logging_options(self) -> list[str]:
        return [
            f"-Dlog4j2.configurationFile={self.log4j_file}",
            f"-Dkafka.logs.dir={self.log_file.parent}",
            "-cp",
            f"{self.libs}/*",
        ]

    def _format_storage(self, users: Sequence[ScramCredential]) -> None:
        """``kafka-storage format`` with the SCRAM users ``users``.

        Their passwords must not appear on a command line (``/proc/<pid>/cmdline`` is
        world-readable): the tool's class and arguments go into a Java argument file (mode
        0600, removed afterwards) that the launcher reads, so ``ps`` only shows ``@file``.
        """
        cluster_id = new_cluster_id()
        arguments = [
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            cluster_id,
            "--config",
            str(self.properties_file),
            "--ignore-formatted",
        ]
        for user in users:
            password = user.password.get_secret_value()
            arguments += [
                "--add-scram",
                f"{user.mechanism}=[name={user.username},password={password}]",
            ]
        argfile = self.folder / "format.args"
        write_private(argfile, "\n".join(_argfile_quoted(a) for a in arguments) + "\n")
        argv = [self.java, *self._jvm_logging_options(), f"@{argfile}"]
        logger.info("formatting Kafka storage %s (cluster id %s)", self.data_dir, cluster_id)
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=FORMAT_TIMEOUT_SECONDS,
                check=False,
                umask=0o077,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ProcessStartError(f"cannot format the Kafka storage: {exc}") from exc
        finally:
            argfile.unlink(missing_ok=True)
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip()
            raise ProcessStartError(
                f"formatting the Kafka storage in {self.data_dir} failed"
                f" (exit {done.returncode}):\n{output}"
            )


def _jaas_quoted(secret: SecretStr) -> str:
    """A generated password (hex) inside a JAAS string; anything else is refused."""
    value = secret.get_secret_value()
    if not value.isalnum():
        raise ProcessStartError("a generated Kafka password must be alphanumeric")
    return value


def _argfile_quoted(argument: str) -> str:
    """One argument of a Java argument file: quoted, backslashes and quotes escaped."""
    return '"' + argument.replace("\\", "\\\\").replace('"', '\\"') + '"'


@contextmanager
def _quiet_kafka_client_logs() -> Iterator[None]:
    """Silence kafka-python while probing: refused connections are expected while a broker
    starts, and each would otherwise print an ERROR line."""
    client_logger = logging.getLogger("kafka")
    level = client_logger.level
    client_logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        client_logger.setLevel(level)
