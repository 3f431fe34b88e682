"""The Faust application of the roll-up worker, built from settings (never at import time).

One agent (:class:`~streams.agent.RollupAgent`) consumes ``Topics.commune_reports`` in
batches and keeps two tables, both in RocksDB and backed by a changelog topic, so a restarted
worker (even one whose disk was wiped) recovers them:

``latest``   ``"<commune>|<period>"`` -> the latest accepted revision (``LatestReport``)
``versions`` ``"<province>|<period>"`` -> recomputations of that province and period so far

Faust names their changelog topics after the app id: ``<app_id>-latest-changelog``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

import faust
from faust.types import StreamT
from mode import CrashingSupervisor
from prometheus_client import CollectorRegistry

from baocao.catalogue import load_catalogue
from baocao.reference import load_reference
from baocao.settings import Settings
from baocao.topics import Topics
from streams.agent import ChangelogTrackingTable, RollupAgent
from streams.metrics import WorkerMetrics
from streams.step import RollupStep

__all__ = ["LATEST_TABLE", "VERSIONS_TABLE", "create_app"]

LATEST_TABLE = "latest"
VERSIONS_TABLE = "versions"


def create_app(
    settings: Settings,
    *,
    metrics: WorkerMetrics | None = None,
    clock: Callable[[], datetime] | None = None,
) -> faust.App:
    """The worker's Faust app: its topics, tables and agent, configured from ``settings``.

    ``metrics`` defaults to a private registry (tests); ``baocao worker`` passes the one it
    serves. Building the app connects to nothing: Faust connects when a worker starts it.
    """
    kafka, worker = settings.kafka, settings.worker
    topics = Topics(kafka.topic_prefix)
    web: dict[str, Any] = {"web_enabled": worker.web_port != 0}
    if worker.web_port:
        web["web_port"] = worker.web_port
    app = faust.App(
        worker.app_id,
        broker=[f"kafka://{server.strip()}" for server in kafka.bootstrap_servers.split(",")],
        broker_client_id=kafka.client_id,
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
        Table=ChangelogTrackingTable,
        autodiscover=False,
        **web,
    )
    # Keys and values in JSON: the changelog topics stay readable with any Kafka tool.
    options: dict[str, Any] = {"default": None, "partitions": kafka.partitions, "key_type": str}
    latest = cast(
        ChangelogTrackingTable,
        app.Table(LATEST_TABLE, help="Latest accepted revision per commune|period", **options),
    )
    versions = cast(
        ChangelogTrackingTable,
        app.Table(VERSIONS_TABLE, help="Recomputations per province|period", **options),
    )
    # Raw bytes: the step decodes each event itself, so a malformed one becomes a dead letter
    # instead of a deserialization error inside Faust.
    source = app.topic(
        topics.commune_reports,
        partitions=kafka.partitions,
        key_serializer="raw",
        value_serializer="raw",
    )
    agent = RollupAgent(
        step=RollupStep(
            topics=topics,
            reference=load_reference(),
            catalogue=load_catalogue(),
            clock=clock,
        ),
        latest=latest,
        versions=versions,
        app=app,
        metrics=metrics or WorkerMetrics(registry=CollectorRegistry()),
        batch_max=worker.batch_max,
        batch_within=worker.batch_within_seconds,
    )

    async def rollup(stream: StreamT[Any]) -> None:
        await agent(cast(faust.Stream[Any], stream))

    # A crashed batch must stop the worker (its offsets stay uncommitted, a restart replays
    # it), not be restarted in place past the events it left unacknowledged.
    app.agent(source, name="rollup", supervisor_strategy=CrashingSupervisor)(rollup)
    return app
