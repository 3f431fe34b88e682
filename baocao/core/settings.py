"""Configuration of every baocao process, from environment variables with local defaults.

Each group has its own environment prefix so an operator can read a deployment's
configuration at a glance (``env | grep BAOCAO_KAFKA_``). The defaults point at the local
stack that ``baocao stack up`` starts, so nothing needs configuring on a laptop.

Settings are built once in a command's entry point and passed down; modules never read the
environment themselves.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from baocao.core.credentials import load_passwords

__all__ = [
    "CLICKHOUSE_LOGINS",
    "BiSettings",
    "ClickHouseRole",
    "ClickHouseSettings",
    "DashboardSettings",
    "DeadlineSettings",
    "GatewaySettings",
    "KafkaSettings",
    "NotifierSettings",
    "SchemaRegistrySettings",
    "Settings",
    "SinkSettings",
    "StackSettings",
    "WorkerSettings",
    "clickhouse_logins_path",
]

#: What a process does with ClickHouse decides the account it logs in with: ``admin``
#: (migrations, ``baocao bi apply``, the demo's checks, tests), ``sink`` (inserts only),
#: ``reader`` (the dashboard and the gateway's status lookups: read-only), ``notifier``
#: (``baocao notifier``: read-only, its own limits).
ClickHouseRole = Literal["admin", "sink", "reader", "notifier"]
#: The account of each role; ``baocao stack up`` creates them with generated passwords.
CLICKHOUSE_LOGINS: dict[str, str] = {
    "admin": "baocao_admin",
    "sink": "baocao_sink",
    "reader": "baocao_reader",
    "notifier": "baocao_notifier",
}


def clickhouse_logins_path(home: Path) -> Path:
    """Where ``baocao stack up`` keeps the ClickHouse service passwords (0600 in a 0700 folder)."""
    return home.absolute() / "secrets" / "clickhouse.json"


#: Report types by name (``baocao.core.periods.ReportType`` values; settings import nothing).
REPORT_TYPE_NAMES = ("daily", "weekly", "monthly", "quarterly", "yearly")


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
    #: How every client (kafka-python and the Faust worker) talks to the brokers: SASL
    #: (SCRAM) authenticates, SSL encrypts (and with a client certificate, authenticates).
    #: Unset (the default): SASL_PLAINTEXT as the command's own principal when the stack home
    #: holds its credential (``baocao stack`` generates them), else PLAINTEXT; see
    #: :mod:`baocao.core.principals`.
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] | None = None
    #: PLAIN only for the admin of a stack home formatted before SASL (docs/security.md).
    sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] = "SCRAM-SHA-256"
    sasl_username: str = ""
    sasl_password: SecretStr = SecretStr("")
    #: PEM files: the CA that signed the brokers' certificates (empty: the system's CAs), and
    #: the client's own certificate and key when the brokers require one.
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    #: ``max.message.bytes`` of the topics the project creates: below the producers' own
    #: limit (kafka-python's and aiokafka's ``max_request_size``, 1,048,576 bytes), so a
    #: record the broker accepts can always be read, and dead-lettered, by the worker.
    topic_max_message_bytes: int = Field(default=1_000_000, gt=0, lt=1_048_576)

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @property
    def uses_ssl(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")


class SchemaRegistrySettings(BaseSettings):
    """A Confluent-compatible Schema Registry; unset (the default), messages carry their
    schema's fingerprint instead (Avro single-object encoding)."""

    model_config = SettingsConfigDict(env_prefix="BAOCAO_SCHEMA_REGISTRY_", frozen=True)

    url: str = ""
    #: One request's timeout (it runs in a thread, never on the worker's event loop).
    timeout_seconds: float = 10.0
    #: While the registry is unreachable or answers 5xx, the worker waits and retries with
    #: a backoff doubling from ``retry_initial_seconds`` up to ``retry_max_seconds``.
    retry_initial_seconds: float = Field(default=0.5, gt=0)
    retry_max_seconds: float = Field(default=30.0, gt=0)
    #: How long an id the registry refused for good (unknown, not Avro, does not parse) is
    #: remembered: its messages are dead-lettered without a lookup each.
    failure_cache_seconds: float = Field(default=60.0, ge=0)


class ClickHouseSettings(BaseSettings):
    """Where the sink writes and where readers (demo, tests, dashboard) query.

    ``user`` and ``password`` empty (the default): each process logs in with the account of
    its role (:data:`CLICKHOUSE_LOGINS`), whose password ``baocao stack up`` generated into
    ``logins_file`` (default ``<BAOCAO_STACK_HOME>/secrets/clickhouse.json``), so the local
    stack needs no configuration. Set ``BAOCAO_CLICKHOUSE_USER`` / ``_PASSWORD`` to log in as
    someone else (Docker, production): they then win for every role.
    """

    model_config = SettingsConfigDict(env_prefix="BAOCAO_CLICKHOUSE_", frozen=True)

    host: str = "127.0.0.1"
    port: int = 19000
    database: str = "baocao"
    user: str = ""
    password: SecretStr = SecretStr("")
    #: The stack's generated service passwords; unset: under ``BAOCAO_STACK_HOME``.
    logins_file: Path | None = None
    #: The other replicas of a replicated ClickHouse, ``host:port,host:port``: clients fail
    #: over to them (clickhouse-driver's ``alt_hosts``) and ``baocao migrate`` migrates
    #: every one. Empty: one server.
    alt_hosts: str = ""
    connect_timeout: float = 5.0
    #: How many of a page's (or an export's) independent reads a process runs at once, each
    #: on its own connection (docs/read-side.md, "Reads side by side"); 1: one after another.
    read_concurrency: int = Field(default=4, ge=1)

    def for_login(self, role: ClickHouseRole) -> ClickHouseSettings:
        """These settings with the user and password of ``role`` filled in.

        An explicit user wins. Without one, the role's account from the logins file; when the
        file (or the account) is missing, ``default`` with the given password, which is what a
        ClickHouse without baocao's accounts (an old stack home, a bare server) expects.
        """
        if self.user:
            return self
        path = self.logins_file or clickhouse_logins_path(StackSettings().home)
        account = CLICKHOUSE_LOGINS[role]
        password = load_passwords(path).get(account)
        if password is None:
            return self.model_copy(update={"user": "default"})
        return self.model_copy(update={"user": account, "password": SecretStr(password)})


class WorkerSettings(BaseSettings):
    """The Faust roll-up worker."""

    model_config = SettingsConfigDict(env_prefix="BAOCAO_WORKER_", frozen=True)

    #: Faust application id: the consumer group and the prefix of its changelog topics.
    app_id: str = "baocao-rollup"
    #: Folder of the worker's RocksDB table state.
    data_dir: Path = Path(".baocao/worker")
    #: Prefix of the topics the worker writes; empty: ``BAOCAO_KAFKA_TOPIC_PREFIX``, the live
    #: outputs. ``baocao rebuild worker`` sets it to ``<topic prefix>.<app id>``: the
    #: rebuild reads the live inputs and writes outputs of its own (``Topics.rebuilt_by``).
    output_prefix: str = ""
    #: App ids of rebuild workers (comma-separated) that ``baocao stack up`` grants their
    #: Kafka access: their group, changelogs and own output topics (docs/operations.md).
    rebuild_app_ids: str = ""
    #: The most events of one processing step, and the longest a step waits for more: caps
    #: only, a step goes as soon as no event is waiting (docs/worker.md, "When a batch goes").
    batch_max: int = 1000
    batch_within_seconds: float = 0.5
    #: Faust's own web server (its health page; the table views are off); 0 disables it.
    web_port: int = 16066
    #: Address of Faust's web server and of ``--metrics-port``: loopback unless an operator
    #: opens it on purpose (the worker's pages need no login).
    web_host: str = "127.0.0.1"
    log_level: str = "info"
    #: Shift of the worker's clock (seconds, may be negative) for drills and tests: the timer
    #: that announces periods and raises missing-report alerts, and the ``updated_at`` /
    #: ``known_at`` stamps, see the shifted time. Decisions on reports never use this clock
    #: (they use each report's Kafka timestamp).
    clock_offset_seconds: float = 0.0
    #: How often the timer announces reporting periods and checks for missing reports.
    schedule_interval_seconds: float = Field(default=60.0, gt=0)
    #: A report whose ``submitted_at`` is further than this from the time the broker received
    #: it is flagged (warning ``submitted_at_far_from_receipt``); timeliness is judged on the
    #: receive time either way.
    submitted_at_tolerance_seconds: float = Field(default=600.0, ge=0)
    #: How long the group waits for a member that stopped heartbeating before it gives its
    #: partitions to the others. A member that did not leave cleanly (SIGKILL, a lost
    #: LeaveGroup) blocks every join until then: Faust's 60 s default kept a restarted worker
    #: without partitions for a minute (the flaky recovery test of issue 10).
    session_timeout_seconds: float = Field(default=10.0, ge=6.0)
    heartbeat_interval_seconds: float = Field(default=3.0, gt=0)
    #: Dead letters stay small whatever arrived: the raw event is kept up to this many bytes
    #: (with its full size and SHA-256), at most ``dead_letter_max_reasons`` reasons.
    dead_letter_max_payload_bytes: int = Field(default=64 * 1024, ge=0, le=512 * 1024)
    dead_letter_max_reasons: int = Field(default=20, ge=1, le=1000)
    #: This many records in a row failing with an unexpected error is a bug, not bad input:
    #: the worker reports it on /healthz, then exits non-zero (a supervisor restarts it).
    max_consecutive_internal_errors: int = Field(default=50, ge=1)
    #: How long /healthz names the fatal error before the process exits.
    fatal_exit_delay_seconds: float = Field(default=5.0, ge=0)
    #: A crashed worker that has not finished stopping after this long is ended by force.
    shutdown_timeout_seconds: float = Field(default=30.0, gt=0)
    #: Join the consumer group as a static member (Kafka's ``group.instance.id``), named
    #: after the host and the data folder: a worker restarted after a crash takes its
    #: partitions back at once instead of waiting out the dead member's session
    #: (``session_timeout_seconds``). A stopped static member keeps its partitions until that
    #: session expires, so turn it off for a group that is scaled down often.
    static_membership: bool = True


class SinkSettings(BaseSettings):
    """The ClickHouse sink."""

    model_config = SettingsConfigDict(env_prefix="BAOCAO_SINK_", frozen=True)

    group_id: str = "baocao-sink"
    #: Rows per insert at most, and the longest a row waits for its batch to fill: caps only,
    #: a batch goes as soon as a poll finds nothing more to read and no insert is running.
    batch_rows: int = 20_000
    flush_interval_seconds: float = 1.0
    #: The shortest time from the start of one insert to the start of the next: a drained
    #: batch that comes sooner waits out the rest, taking in what arrives meanwhile. Every
    #: insert is a part per table that ClickHouse writes, merges and deletes; at 55 reports/s
    #: a sink that never waited made 86 a second, and their churn made the freshness tail
    #: (docs/clickhouse.md, "The sink"). 0 turns it off.
    min_insert_interval_seconds: float = Field(default=0.1, ge=0, le=1.0)
    #: Backoff between retries when ClickHouse refuses an insert (doubling up to the max).
    retry_initial_seconds: float = 0.5
    retry_max_seconds: float = 30.0
    #: Address of ``--metrics-port`` (``/metrics``, ``/healthz``): loopback by default.
    metrics_host: str = "127.0.0.1"
    #: Kafka's ``max.poll.interval.ms``: a sink waiting for ClickHouse polls far more often,
    #: with its partitions paused, so an outage never costs it its place in the group.
    max_poll_interval_seconds: float = Field(default=300.0, gt=0)
    #: How long the group waits for a sink that stopped heartbeating (a SIGKILL) before it
    #: hands its partitions to the restarted one: kafka-python's default of 45 s was most of
    #: the sink's catch-up time in `make chaos`. The broker's minimum is 6 s.
    session_timeout_seconds: float = Field(default=10.0, ge=6.0)
    #: Kafka's ``fetch.max.wait.ms``: the longest the broker holds a fetch that finds nothing
    #: new. kafka-python leaves out of the next fetch the partitions whose last answer is not
    #: read yet, so at the default of 0.5 s their new records could wait out the whole hold:
    #: that was the freshness p99 at 200 reports/s (docs/clickhouse.md, "The sink").
    fetch_max_wait_seconds: float = Field(default=0.05, gt=0, le=0.5)


class DeadlineSettings(BaseSettings):
    """When each report type is due, when it locks, and when missing reports are chased.

    A period's deadline is the end of day N (local time, Asia/Ho_Chi_Minh) counted from the
    day after the period ends: a monthly report (N=5) for August is due by the end of
    5 September. Revisions stay open ``lock_days`` after the deadline; after that (or once the
    province approved the period) a submission is refused with ``period_locked``, or accepted
    as a flagged amendment when ``amendments_after_lock`` is ``accept``.
    """

    model_config = SettingsConfigDict(env_prefix="BAOCAO_DEADLINES_", frozen=True)

    daily_days: int = Field(default=1, ge=0)
    weekly_days: int = Field(default=2, ge=0)
    monthly_days: int = Field(default=5, ge=0)
    quarterly_days: int = Field(default=10, ge=0)
    yearly_days: int = Field(default=15, ge=0)
    lock_days: int = Field(default=30, ge=0)
    amendments_after_lock: Literal["reject", "accept"] = "reject"
    #: "Approaching" missing-report alerts start this long before a deadline.
    alert_horizon_hours: float = Field(default=72.0, ge=0)
    #: Report types whose missing reports are chased with alerts (comma-separated). Every
    #: type is still announced (``missing_reports`` lists them all); daily and weekly are
    #: left out by default: a month of daily periods is ~1,300 alerts at each start.
    chased_report_types: str = "monthly,quarterly,yearly"
    #: The schedule's work per tick at most: announcements plus (province, period) checks.
    #: The rest waits for the next tick, newest periods first, so a long lock window costs
    #: more ticks, never a longer one.
    schedule_max_per_tick: int = Field(default=500, ge=1)

    @field_validator("chased_report_types")
    @classmethod
    def _known_report_types(cls, value: str) -> str:
        names = [n.strip() for n in value.split(",") if n.strip()]
        unknown = sorted(set(names) - set(REPORT_TYPE_NAMES))
        if unknown:
            raise ValueError(f"unknown report types {unknown}; known: {list(REPORT_TYPE_NAMES)}")
        return ",".join(names)

    @property
    def chased(self) -> tuple[str, ...]:
        """The report types chased, as names (``daily`` ... ``yearly``)."""
        return tuple(n for n in self.chased_report_types.split(",") if n)


class GatewaySettings(BaseSettings):
    """The HTTP ingestion gateway (``baocao gateway``) and its token and submission store."""

    model_config = SettingsConfigDict(env_prefix="BAOCAO_GATEWAY_", frozen=True)

    host: str = "127.0.0.1"
    port: int = 18088
    #: SQLite file of the API tokens (hashes only) and of the submissions the gateway
    #: published; ``baocao tokens`` and every gateway process on this host share it.
    db_path: Path = Path(".baocao/gateway/gateway.db")
    #: Larger request bodies are refused with 413 before they are parsed.
    max_body_bytes: int = 64 * 1024
    #: Token bucket per API token: sustained requests per second and the burst allowed.
    rate_limit_per_second: float = 5.0
    rate_limit_burst: int = 20
    #: How long a request waits for Kafka to acknowledge a report before answering 503.
    publish_timeout_seconds: float = 10.0
    #: The producer's batching delay: every answer waits for its report's acknowledgement,
    #: so the gateway lingers less than the batch publishers (20 ms). 1 ms: with 32 requests
    #: in flight, 5 ms held each acknowledgement long enough to cost 30-40% of the accepted
    #: reports/s (bench/gateway.py), and 0 sent more, smaller requests for no gain.
    kafka_linger_ms: int = 1
    #: How long a health answer is reused (each check opens a Kafka and a ClickHouse client).
    health_cache_seconds: float = 1.5
    #: ``baocao import`` refuses larger sheets before reading them: file size and data rows.
    import_max_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    import_max_rows: int = Field(default=10_000, gt=0)
    #: The commune app (``/``): how long a clerk's sign-in lasts, and the session cookie's
    #: name (its own, so it never collides with the dashboard's on the same host).
    session_hours: float = Field(default=12.0, gt=0)
    session_cookie: str = "baocao_commune_session"
    #: The address clerks open, e.g. ``https://baocao.example.vn`` behind a TLS proxy: the
    #: only origin allowed to change anything with a session, and ``https`` makes the cookie
    #: ``Secure``. Empty (local use): the origin the request's own ``Host`` header names,
    #: ``Secure`` when the request came over TLS (docs/commune-app.md).
    public_origin: str = ""
    #: Sign-in attempts per client address: sustained per second, and the burst allowed.
    signin_rate_per_second: float = Field(default=0.5, gt=0)
    signin_burst: int = Field(default=20, ge=1)


class DashboardSettings(BaseSettings):
    """The officers' dashboard (``baocao dashboard``): its logins, sessions and ClickHouse
    logins per province (docs/security.md, "Officers")."""

    model_config = SettingsConfigDict(env_prefix="BAOCAO_DASHBOARD_", frozen=True)

    #: SQLite file of the officers' logins and sessions (hashes only); unset: under the
    #: stack home (``<home>/dashboard/officers.db``). No ClickHouse login can read it.
    db_path: Path | None = None
    #: How long an officer's sign-in lasts, and the cookie's own name (never the commune
    #: app's, so the two doors on one host never see each other's sessions).
    session_hours: float = Field(default=8.0, gt=0)
    session_cookie: str = "baocao_dashboard_session"
    #: The address officers open (``https://...`` behind a TLS proxy): the only origin allowed
    #: to change anything; empty: the origin of the request's own ``Host`` header.
    public_origin: str = ""
    #: Sign-in attempts per client address: sustained per second, and the burst allowed.
    signin_rate_per_second: float = Field(default=0.5, gt=0)
    signin_burst: int = Field(default=20, ge=1)

    def database_path(self, home: Path) -> Path:
        return self.db_path or home.absolute() / "dashboard" / "officers.db"


class BiSettings(BaseSettings):
    """Read-only access for BI tools: the ``baocao_bi`` user and one user per province.

    Passwords are generated into the stack home (``<home>/bi/credentials.json``, mode 0600)
    unless given here; ClickHouse only ever receives their SHA-256.
    """

    model_config = SettingsConfigDict(env_prefix="BAOCAO_BI_", frozen=True)

    #: Password of ``baocao_bi``; empty: the generated one from the credentials file.
    password: SecretStr = SecretStr("")
    #: Limits of every BI login, each on its own: a query running longer is cut, more queries
    #: at once are refused, and a query may hold this much memory. A BI tool's dashboards
    #: live with a minute; a runaway query no longer holds the server for five.
    max_execution_seconds: int = Field(default=60, ge=1)
    max_concurrent_queries: int = Field(default=4, ge=1)
    max_memory_bytes: int = Field(default=2_000_000_000, ge=100_000_000)


class NotifierSettings(BaseSettings):
    """``baocao notifier``: reminders, overdue notices and province digests by e-mail and
    webhook (docs/notifier.md). Every message is written to an outbox before it is sent and
    keyed by (recipient, commune, period, kind), so it goes out at most once per key."""

    model_config = SettingsConfigDict(env_prefix="BAOCAO_NOTIFIER_", frozen=True)

    #: Shift of the notifier's clock (seconds, may be negative) for drills and tests: what is
    #: due, quiet hours and retry times all see the shifted time.
    clock_offset_seconds: float = 0.0
    #: How often the notifier decides what is due and sends what is pending.
    poll_interval_seconds: float = Field(default=60.0, gt=0)
    #: Reminders to a silent commune's clerks this many days before the deadline, per report
    #: type (JSON, e.g. ``{"monthly": 3}``); a type left out is not notified at all.
    reminder_days: dict[str, int] = Field(
        default_factory=lambda: {"monthly": 3, "quarterly": 5, "yearly": 7}
    )
    #: Overdue notices and the officers' daily digests go on this many days after a deadline.
    follow_up_days: int = Field(default=7, ge=0)
    #: Local time (Asia/Ho_Chi_Minh) when nothing is sent, ``HH:MM-HH:MM`` (may wrap past
    #: midnight); messages wait in the outbox. Empty: no quiet hours.
    quiet_hours: str = "21:00-07:00"
    #: Only these provinces (comma-separated codes); empty: every province.
    provinces: str = ""
    #: The outbox and ledger (SQLite); unset: ``<stack home>/notifier/outbox.db``.
    outbox_path: Path | None = None
    #: Messages sent per outbox pass at most, and a send rate cap (0: none).
    batch_size: int = Field(default=500, ge=1)
    max_messages_per_second: float = Field(default=0.0, ge=0)
    #: Backoff of a message whose channel is down: doubling from initial up to max.
    retry_initial_seconds: float = Field(default=30.0, gt=0)
    retry_max_seconds: float = Field(default=1800.0, gt=0)
    #: Links in the messages: the officers' dashboard and the commune app (the form).
    dashboard_url: str = "http://127.0.0.1:8765"
    form_url: str = "http://127.0.0.1:18088"
    #: E-mail over SMTP; STARTTLS ``auto``: when the server offers it (``require``: refuse a
    #: server that does not; ``off``: never). A login only when ``smtp_user`` is set.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, gt=0, lt=65536)
    smtp_starttls: Literal["auto", "require", "off"] = "auto"
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_timeout_seconds: float = Field(default=20.0, gt=0)
    sender: str = "Báo cáo <baocao@localhost>"
    #: The right-hand side of every ``Message-ID`` (``<hash@domain>``).
    message_id_domain: str = "baocao.local"
    #: A JSON POST per message to contacts with a phone (an SMS or Zalo gateway), signed
    #: with HMAC-SHA256 of the body under ``webhook_secret``; empty: no webhook.
    webhook_url: str = ""
    webhook_secret: SecretStr = SecretStr("")
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)

    @field_validator("reminder_days")
    @classmethod
    def _known_types(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(REPORT_TYPE_NAMES))
        if unknown:
            raise ValueError(f"unknown report types {unknown}; known: {list(REPORT_TYPE_NAMES)}")
        if any(days < 0 for days in value.values()):
            raise ValueError("reminder days cannot be negative")
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        if value and not _QUIET_HOURS.match(value):
            raise ValueError(f"quiet hours {value!r} are not HH:MM-HH:MM")
        return value

    @field_validator("webhook_url", "dashboard_url", "form_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value:
            return value
        parsed = urlsplit(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL with a host")
        return value

    def outbox(self, home: Path) -> Path:
        return self.outbox_path or home.absolute() / "notifier" / "outbox.db"

    @property
    def province_codes(self) -> tuple[str, ...]:
        return tuple(c.strip().zfill(2) for c in self.provinces.split(",") if c.strip())


_QUIET_HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")


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
    #: Kafka nodes (each a broker and a KRaft controller); from 3 on, topics get 3 replicas and
    #: ``min.insync.replicas=2``. Node k uses the ports below plus ``10 * (k - 1)``.
    kafka_brokers: int = Field(default=1, ge=1, le=9)
    kafka_port: int = 19092
    #: The controller listener (SASL/PLAIN, the broker's own password; loopback only).
    kafka_controller_port: int = 19093
    kafka_heap: str = "1g"
    #: How often the broker deletes what a topic's retention lets go (a static broker
    #: setting; Kafka's default of 5 minutes; the retention test's broker uses 1 s).
    kafka_retention_check_interval_ms: int = Field(default=300_000, ge=1000)
    clickhouse_binary: Path = Path("/usr/sbin/clickhouse-server")
    #: ClickHouse servers holding the same replicated tables, coordinated by ZooKeeper;
    #: fixed when a stack home is first started. Replica k uses the ports below plus
    #: ``10 * (k - 1)`` (docs/clickhouse.md, "Replicas").
    clickhouse_replicas: int = Field(default=1, ge=1, le=9)
    clickhouse_tcp_port: int = 19000
    clickhouse_http_port: int = 18123
    #: Replicas fetch each other's parts over HTTP on this port (only with replicas > 1).
    clickhouse_interserver_port: int = 19009
    #: ZooKeeper (Debian's package) and the TCP proxy in front of the replicas for BI tools
    #: (Debian's haproxy); both run only with replicas > 1.
    zookeeper_port: int = 19181
    zookeeper_jars: str = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar"
    haproxy_binary: Path = Path("/usr/sbin/haproxy")
    clickhouse_proxy_port: int = 19100
    startup_timeout_seconds: float = 90.0


class Settings(BaseModel):
    """All settings of one process, grouped as the environment prefixes are."""

    model_config = {"frozen": True}

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    schema_registry: SchemaRegistrySettings = Field(default_factory=SchemaRegistrySettings)
    clickhouse: ClickHouseSettings = Field(default_factory=ClickHouseSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    sink: SinkSettings = Field(default_factory=SinkSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    stack: StackSettings = Field(default_factory=StackSettings)
    deadlines: DeadlineSettings = Field(default_factory=DeadlineSettings)
    bi: BiSettings = Field(default_factory=BiSettings)
    notifier: NotifierSettings = Field(default_factory=NotifierSettings)

    def with_clickhouse_login(self, role: ClickHouseRole) -> Settings:
        """These settings logging in to ClickHouse as ``role`` (see ClickHouseSettings)."""
        logins_file = self.clickhouse.logins_file or clickhouse_logins_path(self.stack.home)
        clickhouse = self.clickhouse.model_copy(update={"logins_file": logins_file})
        return self.model_copy(update={"clickhouse": clickhouse.for_login(role)})

    def as_environment(self) -> dict[str, str]:
        """The environment variables that give a child ``baocao`` process these settings.

        The demo starts its worker and sink this way, and tests their isolated pipelines.
        """
        environment: dict[str, str] = {}
        groups = (
            self.kafka,
            self.schema_registry,
            self.clickhouse,
            self.worker,
            self.sink,
            self.gateway,
            self.dashboard,
            self.stack,
            self.deadlines,
            self.bi,
            self.notifier,
        )
        for group in groups:
            prefix = str(group.model_config.get("env_prefix", ""))
            for name, value in group.model_dump().items():
                if value is None:  # unset is the default; "None" would not parse back
                    continue
                if isinstance(value, SecretStr):
                    value = value.get_secret_value()
                if isinstance(value, dict):  # parsed back from JSON
                    value = json.dumps(value)
                environment[f"{prefix}{name.upper()}"] = str(value)
        return environment
