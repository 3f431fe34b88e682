"""Configuration of every baocao process, from environment variables with local defaults.

Each group has its own environment prefix so an operator can read a deployment's
configuration at a glance (``env | grep BAOCAO_KAFKA_``). The defaults point at the local
stack that ``baocao stack up`` starts, so nothing needs configuring on a laptop.

Settings are built once in a command's entry point and passed down; modules never read the
environment themselves.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "ClickHouseSettings",
    "KafkaSettings",
    "Settings",
    "SinkSettings",
    "StackSettings",
    "WorkerSettings",
]


class KafkaSettings(BaseSettings):
    """How every Kafka client of the project reaches the broker, and which topics it uses."""

    model_config = SettingsConfigDict(env_prefix="BAOCAO_KAFKA_", frozen=True)

    bootstrap_servers: str = "127.0.0.1:19092"
    #: Every topic name starts with this prefix; tests give each test its own prefix.
    topic_prefix: str = "baocao"
    #: Partitions of the topics the project creates. Reports are keyed by province, so more
    #: partitions than provinces (34) buys nothing.
    partitions: int = 4
    replication_factor: int = 1
    client_id: str = "baocao"


class ClickHouseSettings(BaseSettings):
    """Where the sink writes and where readers (demo, tests, dashboard) query."""

    model_config = SettingsConfigDict(env_prefix="BAOCAO_CLICKHOUSE_", frozen=True)

    host: str = "127.0.0.1"
    port: int = 19000
    database: str = "baocao"
    user: str = "default"
    password: SecretStr = SecretStr("")
    connect_timeout: float = 5.0


class WorkerSettings(BaseSettings):
    """The Faust roll-up worker."""

    model_config = SettingsConfigDict(env_prefix="BAOCAO_WORKER_", frozen=True)

    #: Faust application id: the consumer group and the prefix of its changelog topics.
    app_id: str = "baocao-rollup"
    #: Folder of the worker's RocksDB table state.
    data_dir: Path = Path(".baocao/worker")
    #: Events taken from the stream per processing step, and how long to wait to fill a step.
    batch_max: int = 2000
    batch_within_seconds: float = 0.5
    #: Faust's own web server (health and Faust's views); 0 disables it.
    web_port: int = 16066
    log_level: str = "info"


class SinkSettings(BaseSettings):
    """The ClickHouse sink."""

    model_config = SettingsConfigDict(env_prefix="BAOCAO_SINK_", frozen=True)

    group_id: str = "baocao-sink"
    #: Rows per insert at most, and the longest a row waits for its batch to fill.
    batch_rows: int = 20_000
    flush_interval_seconds: float = 1.0
    #: Backoff between retries when ClickHouse refuses an insert (doubling up to the max).
    retry_initial_seconds: float = 0.5
    retry_max_seconds: float = 30.0


def _user_cache_dir() -> Path:
    """The XDG cache folder (``$XDG_CACHE_HOME``, else ``~/.cache``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


class StackSettings(BaseSettings):
    """The local Kafka and ClickHouse servers that ``baocao stack`` runs (no Docker needed)."""

    model_config = SettingsConfigDict(env_prefix="BAOCAO_STACK_", frozen=True)

    #: Data folders, logs, pid files and the Kafka jars live below this folder.
    home: Path = Path(".baocao")
    #: Downloaded Kafka jars (``kafka-<version>/libs``), shared by every stack home of the
    #: user so a fresh checkout or a test stack does not download them again.
    cache_dir: Path = Field(default_factory=lambda: _user_cache_dir() / "baocao")
    kafka_version: str = "4.1.1"
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    kafka_heap: str = "1g"
    clickhouse_binary: Path = Path("/usr/sbin/clickhouse-server")
    clickhouse_tcp_port: int = 19000
    clickhouse_http_port: int = 18123
    startup_timeout_seconds: float = 90.0


class Settings(BaseModel):
    """All settings of one process, grouped as the environment prefixes are."""

    model_config = {"frozen": True}

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    clickhouse: ClickHouseSettings = Field(default_factory=ClickHouseSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    sink: SinkSettings = Field(default_factory=SinkSettings)
    stack: StackSettings = Field(default_factory=StackSettings)

    def as_environment(self) -> dict[str, str]:
        """The environment variables that give a child ``baocao`` process these settings.

        The demo starts its worker and sink this way, and tests their isolated pipelines.
        """
        environment: dict[str, str] = {}
        for group in (self.kafka, self.clickhouse, self.worker, self.sink, self.stack):
            prefix = str(group.model_config.get("env_prefix", ""))
            for name, value in group.model_dump().items():
                if isinstance(value, SecretStr):
                    value = value.get_secret_value()
                environment[f"{prefix}{name.upper()}"] = str(value)
        return environment
