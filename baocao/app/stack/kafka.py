"""Kafka 4 in KRaft mode on loopback: one node, or a cluster of N (``--brokers 3``), each node
both controller and broker, its files under the stack home.

Rule: node k's ports are ``kafka_port + 10 * (k - 1)`` (and the controller's likewise), so a
one-node stack keeps the ports it always had; the storage, its cluster id and its number of
nodes are fixed when it is first formatted. Files and reasons: docs/stack.md.
"""

from __future__ import annotations

import base64
import logging
import re
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

__all__ = [
    "KafkaServer",
    "kafka_client_environment",
    "kafka_nodes",
    "new_cluster_id",
    "node_port",
]

logger = logging.getLogger(__name__)

FORMAT_TIMEOUT_SECONDS = 120.0
#: The static PLAIN user of the controller listener (the node itself).
CONTROLLER_USER = "controller"
#: Node k's ports are node 1's plus ``PORT_STEP * (k - 1)``.
PORT_STEP = 10
#: Replicas of a topic and the replicas that must acknowledge a write, once there are enough
#: nodes: one node may be down (or restarting) without refusing ``acks=all`` producers.
REPLICAS = 3
MIN_INSYNC_REPLICAS = 2


def node_port(base: int, node: int) -> int:
    """Node ``node``'s port for a port whose node-1 value is ``base`` (0: off stays off)."""
    return base + PORT_STEP * (node - 1) if base else 0


def node_name(node: int) -> str:
    """The managed process and folder name of a node: ``kafka``, ``kafka-2``, ..."""
    return "kafka" if node == 1 else f"kafka-{node}"


def kafka_nodes(settings: StackSettings) -> int:
    """How many Kafka nodes the stack home has: ``kafka_brokers``, or more when a larger
    cluster was formatted there (so ``status`` and ``down`` find every node of it)."""
    home = settings.home.absolute()
    found = [
        int(match.group(1))
        for path in home.glob("kafka-*")
        if (match := re.fullmatch(r"kafka-(\d+)", path.name)) and path.is_dir()
    ]
    return max([settings.kafka_brokers, *found])


def kafka_client_environment(settings: StackSettings) -> dict[str, str]:
    """What clients of a several-node stack need beyond the defaults (empty for one node):
    every node to bootstrap from, and the replication of the topics they create."""
    nodes = kafka_nodes(settings)
    if nodes == 1:
        return {}
    servers = ",".join(
        f"127.0.0.1:{node_port(settings.kafka_port, node)}" for node in range(1, nodes + 1)
    )
    return {
        "BAOCAO_KAFKA_BOOTSTRAP_SERVERS": servers,
        "BAOCAO_KAFKA_REPLICATION_FACTOR": str(min(REPLICAS, nodes)),
    }


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
    """One node of the stack's Kafka: broker and controller (see the module docstring)."""

    def __init__(
        self, settings: StackSettings, *, java: str = "java", node: int = 1, nodes: int = 1
    ) -> None:
        if not 1 <= node <= nodes:
            raise ValueError(f"node {node} of {nodes}")
        self.settings = settings
        self.node = node
        self.nodes = nodes
        self.name = node_name(node)
        home = settings.home.absolute()
        self.folder = home / self.name
        self.data_dir = self.folder / "data"
        self.properties_file = self.folder / "server.properties"
        self.log4j_file = self.folder / "log4j2.xml"
        self.log_file = logs_dir(home) / f"{self.name}.log"
        self._first_data_dir = home / node_name(1) / "data"
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
            log_file=logs_dir(home) / f"{self.name}.out",
            # A clean shutdown flushes logs and writes a checkpoint, which makes the next start
            # faster; a single node needs a few seconds for it.
            stop_timeout=45.0,
        )

    @property
    def port(self) -> int:
        return node_port(self.settings.kafka_port, self.node)

    @property
    def controller_port(self) -> int:
        return node_port(self.settings.kafka_controller_port, self.node)

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port, self.controller_port)

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def plain_admin_marker(self) -> Path:
        """Present in a stack home whose storage was formatted before SASL: its metadata has
        no SCRAM users to log in with, so the admin (and the broker) log in with PLAIN, a
        static user of ``server.properties``, and the admin creates the SCRAM users."""
        return self.folder / "plain-admin"

    def admin_settings(self) -> KafkaSettings:
        """Client settings of the stack's admin principal (a super user) on its listener;
        the topics it creates get the replication the cluster can give."""
        base = KafkaSettings(
            bootstrap_servers=self.bootstrap_servers,
            client_id="baocao-stack",
            replication_factor=min(REPLICAS, self.nodes),
        )
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
                port=self.port,
                controller_port=self.controller_port,
                data_dir=self.data_dir,
                partitions=4,
                retention_check_interval_ms=self.settings.kafka_retention_check_interval_ms,
                **self._cluster_template_values(),
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

    def _cluster_template_values(self) -> dict[str, object]:
        """This node's id, the quorum's voters and the replication the cluster can give."""
        voters = ",".join(
            f"{node}@127.0.0.1:{node_port(self.settings.kafka_controller_port, node)}"
            for node in range(1, self.nodes + 1)
        )
        replicas = min(REPLICAS, self.nodes)
        return {
            "node_id": self.node,
            "voters": voters,
            "replicas": replicas,
            "min_insync": min(MIN_INSYNC_REPLICAS, replicas - 1) if replicas > 1 else 1,
        }

    def _jvm_logging_options(self) -> list[str]:
        return [
            f"-Dlog4j2.configurationFile={self.log4j_file}",
            f"-Dkafka.logs.dir={self.log_file.parent}",
            "-cp",
            f"{self.libs}/*",
        ]

    def _cluster_id(self) -> str:
        """A new id for node 1; node 1's id for the others (one cluster, one id)."""
        if self.node == 1:
            return new_cluster_id()
        meta = self._first_data_dir / "meta.properties"
        try:
            text = meta.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise ProcessStartError(
                f"cannot format {self.name}: node 1 has no storage yet ({meta})"
            ) from exc
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "cluster.id":
                return value.strip()
        raise ProcessStartError(f"{meta} names no cluster.id")

    def _format_storage(self, users: Sequence[ScramCredential]) -> None:
        """``kafka-storage format`` with the SCRAM users ``users``.

        Their passwords must not appear on a command line (``/proc/<pid>/cmdline`` is
        world-readable): the tool's class and arguments go into a Java argument file (mode
        0600, removed afterwards) that the launcher reads, so ``ps`` only shows ``@file``.
        """
        cluster_id = self._cluster_id()
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
