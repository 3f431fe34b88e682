"""``baocao worker``: run the roll-up stream processor until stopped (SIGTERM or Ctrl-C)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import faust
import typer
from kafka.errors import KafkaError
from prometheus_client import REGISTRY

from baocao.core.collector import settle_heap
from baocao.core.kafka import (
    KafkaUnavailableError,
    ensure_topics,
    producer_timed_topics,
    wait_for_kafka,
)
from baocao.core.logs import FORMAT
from baocao.core.principals import Principal, with_principal
from baocao.core.settings import Settings
from baocao.streams.app import changelog_topics, create_app
from baocao.streams.exceptions import WorkerStartupError
from baocao.streams.liveness import WorkerState
from baocao.streams.metrics import WorkerMetrics, serve_metrics, worker_checks

__all__ = ["worker"]

logger = logging.getLogger(__name__)

#: How long the worker waits for the broker at start-up before giving up.
KAFKA_STARTUP_TIMEOUT_SECONDS = 60.0


def _logging_config(level: str) -> dict[str, Any]:
    """The project's log format for the Faust worker (which replaces the root handlers)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"baocao": {"format": FORMAT}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "baocao",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": ["default"]},
        # kafka-python (topic creation) is chatty about every connection it opens.
        "loggers": {"kafka": {"level": "WARNING"}},
    }


def prepare_data_dir(folder: Path) -> Path:
    """Create the worker's state folder (parents included) and check it takes files.

    RocksDB only creates the last level, so a folder whose parent was missing stopped the
    worker with a bare ``FileNotFoundError`` from deep inside Faust. The folder is the
    user's alone (0700): the state holds every commune's latest figures.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder.chmod(0o700)
        probe = folder / f".baocao-write-check-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise WorkerStartupError(
            f"cannot use {folder} as the worker's state folder (BAOCAO_WORKER_DATA_DIR): "
            f"{exc.strerror or exc}"
        ) from exc
    return folder


def prepare_kafka(settings: Settings) -> None:
    """Wait for the broker and create the pipeline's topics and the worker's changelogs.

    Faust does not create the source topic (a missing one would be silently ignored), and
    creates its changelogs too late to be sure they are in its consumer's first metadata
    (:func:`~baocao.streams.app.changelog_topics`), so both are created here first, with the
    project's partitions.
    """
    try:
        wait_for_kafka(settings.kafka, timeout=KAFKA_STARTUP_TIMEOUT_SECONDS)
        ensure_topics(settings.kafka)
        changelogs = changelog_topics(settings.worker.app_id)
        ensure_topics(settings.kafka, changelogs, configs=changelogs)
    except (KafkaUnavailableError, KafkaError, OSError) as exc:
        raise WorkerStartupError(f"cannot prepare the Kafka topics: {exc}") from exc
    try:
        untrusted = producer_timed_topics(settings.kafka)
    except (KafkaError, OSError) as exc:
        logger.warning("cannot read the input topics' timestamp type: %s", exc)
        return
    if untrusted:
        logger.error(
            "the input topics %s keep the producer's timestamp: on-time and lock decisions on "
            "them trust the producer; give them message.timestamp.type=LogAppendTime "
            "(`baocao stack up` or `baocao kafka-access` does)",
            ", ".join(untrusted),
        )


def worker(
    log_level: str | None = typer.Option(
        None,
        "--log-level",
        help="Log level of the worker (DEBUG, INFO, WARNING, ERROR); "
        "default: BAOCAO_WORKER_LOG_LEVEL (info).",
    ),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        min=1,
        max=65535,
        help="Serve Prometheus metrics on this port (http://127.0.0.1:PORT/metrics, "
        "BAOCAO_WORKER_WEB_HOST) and /healthz "
        "(200 when Kafka answers and partitions are assigned, else 503); off when not given.",
    ),
) -> None:
    """Run the roll-up worker: commune reports and approvals in, provincial figures out.

    Keeps the latest revision of every commune's report (recovered after a restart).
    Publishes accepted reports, dead letters with reasons, warnings, the figures of every
    province with their changes and completeness; on a timer, the periods due and alerts
    naming the communes that have not reported. Configured by the BAOCAO_KAFKA_*,
    BAOCAO_WORKER_* and BAOCAO_DEADLINES_* environment variables.
    """
    settings = with_principal(Settings(), Principal.WORKER)
    # RocksDB state and anything else the worker writes: the user's alone.
    os.umask(0o077)
    level = (log_level or settings.worker.log_level).upper()
    try:
        prepare_data_dir(settings.worker.data_dir)
        prepare_kafka(settings)
    except WorkerStartupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    metrics, state = WorkerMetrics(registry=REGISTRY), WorkerState()
    app = create_app(settings, metrics=metrics, state=state)
    if metrics_port is not None:
        checks = worker_checks(app, settings.kafka, state)
        serve_metrics(metrics_port, registry=REGISTRY, host=settings.worker.web_host, checks=checks)
    logger.info(
        "starting worker %s on %s (topic prefix %r, state in %s)",
        settings.worker.app_id,
        settings.kafka.bootstrap_servers,
        settings.kafka.topic_prefix,
        settings.worker.data_dir,
    )
    runner = faust.Worker(app, loglevel=level, logging_config=_logging_config(level))
    settle_heap()  # the app, its reference data and the modules: never walked again
    runner.execute_from_commandline()
