"""Kafka 4 in KRaft mode: one process that is both controller and broker, on loopback.

Files under the stack home::

    kafka/server.properties   rendered from kafka-server.properties (ports from StackSettings)
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
from collections.abc import Iterator
from contextlib import contextmanager

from baocao.app.stack.component import Health
from baocao.app.stack.exceptions import ProcessStartError
from baocao.app.stack.jars import kafka_jars_dir
from baocao.app.stack.process import ManagedProcess, logs_dir
from baocao.app.stack.templates import render, write_if_changed
from baocao.core.kafka import KafkaUnavailableError, wait_for_kafka
from baocao.core.settings import KafkaSettings, StackSettings

__all__ = ["KafkaServer", "new_cluster_id"]

logger = logging.getLogger(__name__)

FORMAT_TIMEOUT_SECONDS = 120.0
#: The mechanism of the optional SASL listener (``StackSettings.kafka_sasl_port``).
SASL_MECHANISM = "SCRAM-SHA-256"


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
        sasl = (self.settings.kafka_sasl_port,) if self.settings.kafka_sasl_port else ()
        return (self.settings.kafka_port, self.settings.kafka_controller_port, *sasl)

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.settings.kafka_port}"

    def prepare(self) -> None:
        """Write the configuration files and format the storage on the first start."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        write_if_changed(
            self.properties_file,
            render(
                "kafka-server.properties",
                port=self.settings.kafka_port,
                controller_port=self.settings.kafka_controller_port,
                data_dir=self.data_dir,
                partitions=4,
                **self._sasl_template_values(),
            ),
        )
        write_if_changed(self.log4j_file, render("kafka-log4j2.xml", log_file=self.log_file))
        if not (self.data_dir / "meta.properties").exists():
            self._format_storage()

    def probe(self, *, timeout: float) -> Health:
        """One metadata request (retried within ``timeout``) to the stack's own port."""
        client = KafkaSettings(bootstrap_servers=self.bootstrap_servers, client_id="baocao-stack")
        try:
            with _quiet_kafka_client_logs():
                cluster = wait_for_kafka(client, timeout=timeout)
        except KafkaUnavailableError as exc:
            return Health(ok=False, detail=f"no metadata answer: {exc.__cause__ or exc}")
        brokers = len(cluster.get("brokers", []))
        return Health(ok=True, detail=f"cluster {cluster.get('cluster_id')}, {brokers} broker(s)")

    def _sasl_template_values(self) -> dict[str, str]:
        """The optional SASL_PLAINTEXT listener (SCRAM-SHA-256): empty when it is off, so
        the rendered file is the same as without the option."""
        port = self.settings.kafka_sasl_port
        if not port:
            return {"sasl_listener": "", "sasl_protocol": "", "sasl_settings": ""}
        return {
            "sasl_listener": f",SASL_PLAINTEXT://127.0.0.1:{port}",
            "sasl_protocol": ",SASL_PLAINTEXT:SASL_PLAINTEXT",
            "sasl_settings": (
                "\n# Clients may authenticate with SCRAM-SHA-256 on the SASL_PLAINTEXT listener;"
                "\n# its users are stored in the cluster metadata (kafka-storage --add-scram).\n"
                f"sasl.enabled.mechanisms={SASL_MECHANISM}\n"
                f"listener.name.sasl_plaintext.{SASL_MECHANISM.lower()}.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;\n"
            ),
        }

    def _scram_users(self) -> list[str]:
        """``kafka-storage format`` options creating the SASL listener's user, if any."""
        if not self.settings.kafka_sasl_port:
            return []
        name = self.settings.kafka_sasl_username
        password = self.settings.kafka_sasl_password.get_secret_value()
        return ["--add-scram", f"{SASL_MECHANISM}=[name={name},password={password}]"]

    def _jvm_logging_options(self) -> list[str]:
        return [
            f"-Dlog4j2.configurationFile={self.log4j_file}",
            f"-Dkafka.logs.dir={self.log_file.parent}",
            "-cp",
            f"{self.libs}/*",
        ]

    def _format_storage(self) -> None:
        cluster_id = new_cluster_id()
        argv = [
            self.java,
            *self._jvm_logging_options(),
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            cluster_id,
            "--config",
            str(self.properties_file),
            "--ignore-formatted",
            *self._scram_users(),
        ]
        logger.info("formatting Kafka storage %s (cluster id %s)", self.data_dir, cluster_id)
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=FORMAT_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ProcessStartError(f"cannot format the Kafka storage: {exc}") from exc
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip()
            raise ProcessStartError(
                f"formatting the Kafka storage in {self.data_dir} failed"
                f" (exit {done.returncode}):\n{output}"
            )


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
