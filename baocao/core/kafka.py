"""Kafka clients (kafka-python) configured once, for every producer, consumer and admin task.

All client options that depend on the deployment (brokers, client id, TLS and SASL/SCRAM)
are derived here from :class:`~baocao.core.settings.KafkaSettings`, so no module builds a client
by hand and a security setting added here reaches every client of the project.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import time
from collections.abc import Iterable, Mapping
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic, OffsetSpec
from kafka.errors import (
    ClusterAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    LeaderNotAvailableError,
    NodeNotReadyError,
    NotLeaderForPartitionError,
    SaslAuthenticationFailedError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)

from baocao.core.settings import KafkaSettings
from baocao.core.topics import Topics

__all__ = [
    "KafkaAuthenticationError",
    "KafkaUnavailableError",
    "admin_client",
    "broker_timed_inputs",
    "client_options",
    "consumer",
    "drifted_topic_configs",
    "ensure_topics",
    "producer",
    "producer_timed_topics",
    "ssl_context",
    "topic_configs",
    "wait_for_kafka",
    "wait_for_leaders",
]

logger = logging.getLogger(__name__)

#: How long topic creation waits for the new partitions' leaders (a loaded broker needs
#: a second or two; a stuck one is an error, not a reason to hang).
LEADER_TIMEOUT_SECONDS = 30.0
#: Errors of a request sent to one node that another node may answer (a broker just lost).
_UNREACHABLE_NODE: tuple[type[Exception], ...] = (KafkaConnectionError, NodeNotReadyError)
#: What a broker answers for a new partition until its own metadata has caught up with the
#: controller's (with several brokers, a leader can learn of its partition after the
#: metadata another broker served already named it).
_NOT_SERVED_YET: tuple[type[Exception], ...] = (
    UnknownTopicOrPartitionError,
    NotLeaderForPartitionError,
    LeaderNotAvailableError,
)


class KafkaUnavailableError(RuntimeError):
    """The broker did not answer a metadata request in time."""


class KafkaAuthenticationError(KafkaUnavailableError):
    """The broker answered but refused the client's SASL credentials."""


class _AuthFailures(logging.Handler):
    """Collects the SASL failures kafka-python reports while it bootstraps.

    kafka-python retries a refused login until its bootstrap times out and then raises a
    bare "Unable to bootstrap"; the refusal itself only reaches its log records (as an
    argument), which this handler picks out so a wrong password is named as such.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.failures: list[SaslAuthenticationFailedError] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        self.failures.extend(a for a in args if isinstance(a, SaslAuthenticationFailedError))


def client_options(settings: KafkaSettings) -> dict[str, Any]:
    """Options every kafka-python client of the project shares, security included."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers.split(","),
        "client_id": settings.client_id,
    }
    if settings.security_protocol not in (None, "PLAINTEXT"):
        options["security_protocol"] = settings.security_protocol
    if settings.uses_sasl:
        # kafka-python warns on every SCRAM login over SASL_PLAINTEXT, although SCRAM never
        # sends the password; once per process is enough for the operator to know.
        logging.getLogger("kafka.net.sasl.scram").setLevel(logging.ERROR)
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    if settings.uses_ssl:
        options["ssl_check_hostname"] = True
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path = getattr(settings, name)
            if path is not None:
                options[name] = str(path)
    return options


def ssl_context(settings: KafkaSettings) -> ssl.SSLContext | None:
    """The TLS context of a client that speaks SSL (the Faust worker takes one), else None."""
    if not settings.uses_ssl:
        return None
    cafile = str(settings.ssl_cafile) if settings.ssl_cafile is not None else None
    context = ssl.create_default_context(cafile=cafile)
    if settings.ssl_certfile is not None:
        keyfile = str(settings.ssl_keyfile) if settings.ssl_keyfile is not None else None
        context.load_cert_chain(str(settings.ssl_certfile), keyfile)
    return context


def producer(settings: KafkaSettings, **overrides: Any) -> KafkaProducer:
    """A durable producer: every write acknowledged by all in-sync replicas, idempotent, so
    a retried send never duplicates an event."""
    options: dict[str, Any] = {
        **client_options(settings),
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 20,
        "batch_size": 256 * 1024,
        "compression_type": None,
        "max_in_flight_requests_per_connection": 5,
        "retries": 2**31 - 1,
    }
    options.update(overrides)
    return KafkaProducer(**options)


def consumer(settings: KafkaSettings, *, group_id: str, **overrides: Any) -> KafkaConsumer:
    """A consumer that never commits on its own: callers commit after their work is durable."""
    options: dict[str, Any] = {
        **client_options(settings),
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed",
    }
    options.update(overrides)
    return KafkaConsumer(**options)


def admin_client(settings: KafkaSettings, **overrides: Any) -> KafkaAdminClient:
    return KafkaAdminClient(**{**client_options(settings), **overrides})


def wait_for_kafka(settings: KafkaSettings, *, timeout: float = 30.0) -> dict[str, Any]:
    """Block until the broker answers a metadata request; return the cluster description."""
    auth_failures = _AuthFailures()
    client_logger = logging.getLogger("kafka")
    client_logger.addHandler(auth_failures)
    try:
        return _wait_for_metadata(settings, timeout=timeout, auth_failures=auth_failures)
    finally:
        client_logger.removeHandler(auth_failures)


def _wait_for_metadata(
    settings: KafkaSettings, *, timeout: float, auth_failures: _AuthFailures
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            # kafka-python's bootstrap otherwise blocks up to 30 s with growing backoffs,
            # far past ``timeout``, while a starting broker still refuses connections.
            remaining_ms = max(500, int((deadline - time.monotonic()) * 1000))
            admin = admin_client(
                settings,
                request_timeout_ms=5000,
                bootstrap_timeout_ms=min(5000, remaining_ms),
                reconnect_backoff_max_ms=1000,
            )
            try:
                description: dict[str, Any] = admin.describe_cluster()
            finally:
                admin.close()
            if description.get("brokers"):
                return description
        except (KafkaError, OSError, ValueError) as exc:
            last_error = exc
            if auth_failures.failures:
                refusal = auth_failures.failures[-1]
                raise KafkaAuthenticationError(
                    f"Kafka at {settings.bootstrap_servers} refused the credentials of "
                    f"{settings.sasl_username!r} ({settings.sasl_mechanism}): {refusal}; "
                    "check BAOCAO_KAFKA_SASL_USERNAME and BAOCAO_KAFKA_SASL_PASSWORD"
                ) from refusal
        time.sleep(0.5)
    # A broker that refuses credentials often just drops the connection, so a silent
    # timeout with SASL configured may be a wrong password as well as a stopped broker.
    credentials_hint = (
        "; with SASL, also check BAOCAO_KAFKA_SASL_USERNAME and BAOCAO_KAFKA_SASL_PASSWORD"
        if settings.uses_sasl
        else ""
    )
    raise KafkaUnavailableError(
        f"Kafka at {settings.bootstrap_servers} did not answer within {timeout:.0f}s"
        f" (last error: {last_error}); is it running? try `baocao stack up`{credentials_hint}"
    )


def topic_configs(topics: Topics, name: str) -> dict[str, str]:
    """The configuration a topic of the pipeline is created with, and corrected to.

    Its retention comes from its :class:`~baocao.core.topics.TopicSpec` (for ever, see
    :class:`~baocao.core.topics.Retention`). The input topics that anyone with a token
    reaches (reports, approvals) carry the broker's append time, not the producer's: the
    worker judges on-time and lock on it, so a producer cannot pick the time its report
    counts for. The historic topic has it too (the worker judges its reports on their
    ``submitted_at``, written by the one principal allowed to). A name that is not one of
    the pipeline's topics (a changelog) gets nothing here.
    """
    try:
        spec = topics.spec(name)
    except KeyError:
        return {}
    configs = spec.retention.configs()
    if name in broker_timed_inputs(topics):
        configs["message.timestamp.type"] = "LogAppendTime"
    return configs


def broker_timed_inputs(topics: Topics) -> tuple[str, ...]:
    """The input topics that carry the broker's append time (:func:`topic_configs`)."""
    return (
        topics.commune_reports,
        topics.historic_reports,
        topics.approvals,
        topics.reporting_obligations,
    )


def drifted_topic_configs(
    admin: KafkaAdminClient,
    topics: Topics,
    names: Iterable[str],
    *,
    keys: Iterable[str] | None = None,
) -> dict[str, dict[str, tuple[str | None, str]]]:
    """For each existing topic among ``names``, the declared configurations
    (:func:`topic_configs`, only ``keys`` if given) whose live value differs:
    ``{topic: {key: (live, declared)}}``.

    A topic created by hand or by an older release (with the broker's 7-day retention, say)
    shows up here; a missing topic does not (:func:`ensure_topics` creates it declared).
    Describing needs DESCRIBE_CONFIGS on every topic asked about.
    """
    only = set(keys) if keys is not None else None
    existing = set(admin.list_topics())
    wanted: dict[str, dict[str, str]] = {}
    for name in names:
        declared = topic_configs(topics, name) if name in existing else {}
        if configs := {k: v for k, v in declared.items() if only is None or k in only}:
            wanted[name] = configs
    if not wanted:
        return {}
    described = admin.describe_configs(
        [
            ConfigResource(ConfigResourceType.TOPIC, name, configs=dict.fromkeys(configs))
            for name, configs in wanted.items()
        ],
        config_filter="all",
    ).get("topic", {})
    drift: dict[str, dict[str, tuple[str | None, str]]] = {}
    for name, configs in wanted.items():
        live = described.get(name, {})
        differing = {
            key: (live.get(key, {}).get("value"), value)
            for key, value in configs.items()
            if live.get(key, {}).get("value") != value
        }
        if differing:
            drift[name] = differing
    return drift


def producer_timed_topics(settings: KafkaSettings) -> list[str]:
    """The input topics that should carry the broker's append time but do not (a topic
    created by hand or by an older release): the producer's timestamp would decide there."""
    topics = Topics(settings.topic_prefix)
    inputs = broker_timed_inputs(topics)
    admin = admin_client(settings)
    try:
        drift = drifted_topic_configs(admin, topics, inputs, keys=["message.timestamp.type"])
    finally:
        admin.close()
    return list(drift)


def ensure_topics(
    settings: KafkaSettings,
    names: Iterable[str] | None = None,
    *,
    configs: Mapping[str, Mapping[str, str]] | None = None,
    leader_timeout: float = LEADER_TIMEOUT_SECONDS,
) -> list[str]:
    """Create the pipeline's topics that do not exist yet; return the ones created.

    ``configs`` adds topic configurations by name (the worker's changelogs are compacted)
    to the ones every topic gets (:func:`topic_configs`).

    Safe to call from every process at start-up: creating an existing topic is not an error.
    It returns only once every partition of the new topics has a leader that serves requests
    (see :func:`wait_for_leaders`), so the first publish after it is not refused with
    ``NotLeaderForPartitionError`` (which kafka-python retries, but logs as warnings).

    A principal that may not create topics (every one but the admin, on the local stack)
    gets a warning for the ones it cannot see and goes on: the admin creates them
    (``baocao stack up``), and a client of a topic that is really missing fails on it.

    A broker that just died is still in the cluster's metadata for a few seconds, and an
    admin request sent to it fails to connect; with several brokers that is asked again (of
    another broker) until ``leader_timeout``, instead of failing the caller.
    """
    wanted = list(names) if names is not None else list(Topics(settings.topic_prefix).all())
    deadline = time.monotonic() + leader_timeout
    while True:
        try:
            return _ensure_topics_once(
                settings, wanted, configs=configs or {}, leader_timeout=leader_timeout
            )
        except _UNREACHABLE_NODE as exc:
            if time.monotonic() >= deadline:
                raise
            logger.info("a Kafka node did not answer while checking topics (%s); again", exc)
            time.sleep(0.5)


def _ensure_topics_once(
    settings: KafkaSettings,
    wanted: list[str],
    *,
    configs: Mapping[str, Mapping[str, str]],
    leader_timeout: float,
) -> list[str]:
    topics = Topics(settings.topic_prefix)
    admin = admin_client(settings)
    try:
        existing = set(admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if not missing:
            return []
        # Another process may create one between our list and create: that is fine.
        try:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(
                    [
                        NewTopic(
                            name=name,
                            num_partitions=settings.partitions,
                            replication_factor=settings.replication_factor,
                            # Below the producers' own limit: whatever the broker accepts,
                            # the worker can read and dead-letter (issue 10).
                            topic_configs={
                                "max.message.bytes": str(settings.topic_max_message_bytes),
                                **topic_configs(topics, name),
                                **configs.get(name, {}),
                            },
                        )
                        for name in missing
                    ]
                )
        except (TopicAuthorizationFailedError, ClusterAuthorizationFailedError) as exc:
            logger.warning(
                "not allowed to create or see the topics %s as %r (%s); the admin creates "
                "them (`baocao stack up`)",
                ", ".join(missing),
                settings.sasl_username or "ANONYMOUS",
                type(exc).__name__,
            )
            return []
        wait_for_leaders(admin, missing, timeout=leader_timeout)
        logger.info("created Kafka topics %s", ", ".join(missing))
        return missing
    finally:
        admin.close()


def wait_for_leaders(admin: KafkaAdminClient, topics: list[str], *, timeout: float) -> None:
    """Block until every partition of ``topics`` has a leader that answers as the leader.

    A created topic is not usable at once: the controller first elects the leaders, then
    each leader broker applies that to its own partitions. A metadata request can already
    name a leader that still refuses produce requests, so this asks in two steps: metadata
    until every partition names a leader, then a ListOffsets request to each leader, which
    only the acting leader of a partition answers without ``NotLeaderForPartitionError``
    (or, with several brokers, ``UnknownTopicOrPartitionError`` while the leader's own
    metadata lags): asked again until it does.

    Raises:
        KafkaUnavailableError: some partition had no serving leader within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    try:
        admin.wait_for_topics(topics, timeout_ms=int(timeout * 1000))
        partitions = {
            TopicPartition(topic["name"], partition["partition_index"]): OffsetSpec.LATEST
            for topic in admin.describe_topics(topics)
            for partition in topic["partitions"]
        }
        while True:
            remaining_ms = max(1000, int((deadline - time.monotonic()) * 1000))
            try:
                admin.list_partition_offsets(partitions, timeout_ms=remaining_ms)
                return
            except _NOT_SERVED_YET:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)
    except KafkaError as exc:
        raise KafkaUnavailableError(
            f"the partitions of {', '.join(topics)} had no serving leader within"
            f" {timeout:.0f}s: {exc}"
        ) from exc
