"""The Faust application of the roll-up worker, built from settings (never at import time).

One agent (:class:`~baocao.streams.agent.RollupAgent`) consumes ``commune_reports``,
``historic_reports``, ``approvals`` and ``reporting_obligations`` (co-partitioned: keyed by
province, one partition count) in batches, with the six tables of
:class:`~baocao.streams.records.Tables` in RocksDB, each backed by a changelog topic
``<app_id>-<table>-changelog``; a timer (:class:`~baocao.streams.agent.ScheduleTimer`) runs
the schedule on the worker's clock (the wall clock shifted by ``clock_offset_seconds``). See
docs/worker.md.
"""

from __future__ import annotations

import hashlib
import re
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import faust
import orjson
from faust.serializers import codecs
from faust.types import StreamT
from mode import CrashingSupervisor
from prometheus_client import CollectorRegistry

from baocao.core.catalogue import load_catalogue
from baocao.core.reference import load_reference
from baocao.core.registry import registry_client
from baocao.core.settings import Settings, WorkerSettings
from baocao.core.topics import Topics
from baocao.streams.agent import CrashPolicy, RollupAgent, ScheduleTimer
from baocao.streams.dead_letters import DeadLetterLimits
from baocao.streams.liveness import WorkerState
from baocao.streams.metrics import WorkerMetrics
from baocao.streams.records import TABLE_NAMES, Tables
from baocao.streams.schedule import Schedule
from baocao.streams.security import broker_credentials
from baocao.streams.step import RollupStep

__all__ = [
    "AGGREGATES_TABLE",
    "APPROVALS_TABLE",
    "FIGURES_TABLE",
    "LATEST_TABLE",
    "OBLIGATIONS_TABLE",
    "ROCKSDB_OPTIONS",
    "TABLE_CODEC",
    "VERSIONS_TABLE",
    "changelog_topics",
    "create_app",
    "group_instance_id",
    "worker_clock",
]

LATEST_TABLE = "latest"
VERSIONS_TABLE = "versions"
APPROVALS_TABLE = "approvals"
FIGURES_TABLE = "figures"
AGGREGATES_TABLE = "aggregates"
OBLIGATIONS_TABLE = "obligations"


def changelog_topics(app_id: str) -> dict[str, dict[str, str]]:
    """The worker's changelog topics (Faust's names) and the configuration Faust gives them.

    The worker creates them before Faust starts (:func:`baocao.streams.commands.prepare_kafka`):
    a changelog topic Faust creates itself can be missing from the consumer's first metadata,
    which then counts it with 0 partitions, and the first table write fails Faust's
    co-partitioning check (``PartitionsMismatch``) and stops a worker on a fresh cluster.
    """
    return {f"{app_id}-{name}-changelog": {"cleanup.policy": "compact"} for name in TABLE_NAMES}


#: The codec of the tables' keys and values (and their changelogs): JSON by orjson. Still
#: JSON, so changelogs stay readable and state of an older release (Python's ``json``) reads
#: as it is; floats round-trip exactly. About ten times cheaper than ``json`` per value.
TABLE_CODEC = "baocao-json"


#: RocksDB options of every table partition (Faust opens one database per table and
#: partition: 20 with 4 partitions). Faust's defaults, a 64 MiB write buffer (up to three)
#: and a 2 GiB block cache *each*, let the worker's memory grow with its state: nothing is
#: flushed out of memory below 64 MiB per database. Small buffers flush state to disk early
#: and bound the caches (the OS page cache still keeps hot files in memory, outside the RSS).
ROCKSDB_OPTIONS: dict[str, int] = {
    "write_buffer_size": 2 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "target_file_size_base": 8 * 1024 * 1024,
    "block_cache_size": 4 * 1024 * 1024,
}


class _OrjsonCodec(codecs.Codec):
    """Faust codec: orjson both ways (bytes in, bytes out)."""

    def _dumps(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def _loads(self, s: bytes) -> Any:
        return orjson.loads(s)


codecs.register(TABLE_CODEC, _OrjsonCodec())


class _Table(faust.Table):
    """A table in :data:`TABLE_CODEC` whose ``get`` reads the store once.

    ``Mapping.get`` goes through ``__getitem__``, which for a table with ``__missing__``
    asks the store ``key in data`` and then ``data[key]``: two RocksDB lookups and two key
    encodings per read. The state has no defaults (``default=None``), so one lookup says it.
    """

    def _serializer_from_type(self, typ: Any) -> str:
        # Faust picks "json" for keys and values without a model type; the same JSON, faster.
        return TABLE_CODEC

    def get(self, key: Any, default: Any = None) -> Any:
        self.on_key_get(key)
        try:
            return self.data[key]
        except KeyError:
            return default


def group_instance_id(worker: WorkerSettings) -> str:
    """The worker's static member name: its host and a digest of its data folder. Two workers
    can never share a data folder (RocksDB locks it), so no two live members share a name.
    Kafka's clients hold such names to a topic name's rules (``[a-zA-Z0-9._-]``, at most 249
    characters), hence the digest rather than the path."""
    host = re.sub(r"[^a-zA-Z0-9._-]", "_", socket.gethostname())[:200]
    folder = hashlib.sha256(str(worker.data_dir.resolve()).encode()).hexdigest()[:16]
    return f"{host}-{folder}"


def worker_clock(offset_seconds: float) -> Callable[[], datetime]:
    """The worker's clock: UTC now, shifted by ``offset_seconds`` (drills and tests)."""
    offset = timedelta(seconds=offset_seconds)
    if not offset:
        return lambda: datetime.now(UTC)
    return lambda: datetime.now(UTC) + offset


def create_app(
    settings: Settings,
    *,
    metrics: WorkerMetrics | None = None,
    clock: Callable[[], datetime] | None = None,
    state: WorkerState | None = None,
) -> faust.App:
    """The worker's Faust app: its topics, tables and agent, configured from ``settings``.

    ``metrics`` defaults to a private registry (tests); ``baocao worker`` passes the one it
    serves (and ``state``, which its ``/healthz`` reads). ``clock`` defaults to
    :func:`worker_clock` with the configured offset. Building the app connects to nothing:
    Faust connects when a worker starts it.
    """
    kafka, worker = settings.kafka, settings.worker
    # A rebuild worker (``output_prefix`` set) reads the live inputs, writes its own outputs.
    topics = Topics(kafka.topic_prefix, outputs=worker.output_prefix)
    # Faust's web server serves every table's contents at /table/<name>/<key>/ without a
    # login: its views are off, and it listens on loopback unless configured otherwise.
    web: dict[str, Any] = {"web_enabled": worker.web_port != 0, "web_bind": worker.web_host}
    if worker.web_port:
        web["web_port"] = worker.web_port
        web["web_host"] = worker.web_host
    if worker.static_membership:
        web["consumer_group_instance_id"] = group_instance_id(worker)
    app = faust.App(
        worker.app_id,
        broker=[f"kafka://{server.strip()}" for server in kafka.bootstrap_servers.split(",")],
        broker_client_id=kafka.client_id,
        broker_credentials=broker_credentials(kafka),
        store="rocksdb://",
        datadir=str(worker.data_dir),
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        # Outputs are sent (and awaited) by the agent itself, not held back until commit.
        stream_publish_on_commit=False,
        producer_acks=-1,
        # Commit acknowledged offsets often: after a crash, fewer events are replayed.
        broker_commit_interval=1.0,
        producer_linger=0.005,
        producer_max_batch_size=256 * 1024,
        # Stopping must not wait for the stream to drain: a crashed agent never drains it,
        # and the worker then idled for minutes ("Wait for streams...") instead of exiting.
        # Unacknowledged events are simply processed again after the restart.
        stream_wait_empty=False,
        broker_session_timeout=worker.session_timeout_seconds,
        broker_heartbeat_interval=worker.heartbeat_interval_seconds,
        Table=_Table,
        autodiscover=False,
        web_tables_enabled=False,
        web_router_enabled=False,
        **web,
    )
    # Keys and values in JSON: the changelog topics stay readable with any Kafka tool.
    options: dict[str, Any] = {
        "default": None,
        "partitions": kafka.partitions,
        "key_type": str,
        "options": dict(ROCKSDB_OPTIONS),
    }

    def table(name: str, purpose: str) -> faust.Table:
        return cast(faust.Table, app.Table(name, help=purpose, **options))

    tables = Tables(
        latest=table(LATEST_TABLE, "Latest accepted revision per commune|period"),
        versions=table(VERSIONS_TABLE, "Recomputations per province|period"),
        approvals=table(APPROVALS_TABLE, "Earliest approval per province|period"),
        figures=table(FIGURES_TABLE, "Figure values last published per province|period"),
        aggregates=table(AGGREGATES_TABLE, "Running sums per province|period"),
        obligations=table(OBLIGATIONS_TABLE, "Units' obligations per province|report type"),
    )
    # Raw bytes: the step decodes each event itself, so a malformed one becomes a dead letter
    # instead of a deserialization error inside Faust.
    source = app.topic(
        topics.commune_reports,
        topics.historic_reports,
        topics.approvals,
        topics.reporting_obligations,
        partitions=kafka.partitions,
        key_serializer="raw",
        value_serializer="raw",
    )
    clock = clock or worker_clock(worker.clock_offset_seconds)
    reference, metrics = load_reference(), metrics or WorkerMetrics(registry=CollectorRegistry())
    registry = registry_client(settings.schema_registry)
    agent = RollupAgent(
        step=RollupStep(
            topics=topics,
            reference=reference,
            catalogue=load_catalogue(),
            deadlines=settings.deadlines,
            clock=clock,
            registry=registry,
            dead_letters=DeadLetterLimits(
                max_payload_bytes=worker.dead_letter_max_payload_bytes,
                max_reasons=worker.dead_letter_max_reasons,
            ),
            submitted_at_tolerance_seconds=worker.submitted_at_tolerance_seconds,
        ),
        tables=tables,
        app=app,
        metrics=metrics,
        batch_max=worker.batch_max,
        batch_within=worker.batch_within_seconds,
        registry=registry,
        registry_settings=settings.schema_registry,
        crash=CrashPolicy(
            state=state,
            max_consecutive_internal_errors=worker.max_consecutive_internal_errors,
            fatal_exit_delay_seconds=worker.fatal_exit_delay_seconds,
            shutdown_timeout_seconds=worker.shutdown_timeout_seconds,
        ),
    )

    async def rollup(stream: StreamT[Any]) -> None:
        await agent(cast(faust.Stream[Any], stream))

    # A crashed batch must stop the worker (its offsets stay uncommitted, a restart replays
    # it), not be restarted in place past the events it left unacknowledged.
    app.agent(source, name="rollup", supervisor_strategy=CrashingSupervisor)(rollup)

    timer = ScheduleTimer(
        schedule=Schedule(
            topics=topics, reference=reference, deadlines=settings.deadlines, clock=clock
        ),
        latest=cast(faust.Table, tables.latest),
        obligations=cast(faust.Table, tables.obligations),
        app=app,
        source_topic=topics.commune_reports,
        partitions=kafka.partitions,
        metrics=metrics,
    )

    async def schedule() -> None:
        await timer()

    app.timer(worker.schedule_interval_seconds, name="schedule")(schedule)
    return app
