"""Publish commune reports to Kafka: Avro values, province keys, asynchronous acknowledged sends.

Sends never wait for the broker one by one: kafka-python batches records per partition
(``linger_ms`` / ``batch_size`` of :func:`baocao.core.kafka.producer`) and acknowledges them on its
sender thread, where our callbacks count deliveries and failures. Only :meth:`flush` waits, once,
at the end of a run; it raises when any record was not acknowledged, so a run never reports
success for reports Kafka did not take.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError
from kafka.producer.future import FutureRecordMetadata

from baocao.core.avro import codec_for
from baocao.core.avro_binary import AVRO_INT
from baocao.core.kafka import KafkaUnavailableError, ensure_topics, producer, wait_for_kafka
from baocao.core.models import CommuneReport
from baocao.core.periods import PeriodError, parse_period
from baocao.core.registry import SchemaRegistryClient, SchemaRegistryError, WireCodec, wire_codec
from baocao.core.settings import KafkaSettings
from baocao.core.topics import COMMUNE_REPORTS, Topics
from baocao.producers.exceptions import (
    DeliveryFailedError,
    KafkaUnreachableError,
    ReportEncodeError,
    SchemaRegistryUnavailableError,
)

__all__ = [
    "DeliveryStats",
    "ReportPublisher",
    "encode_report",
    "report_key",
    "with_report_type",
]

logger = logging.getLogger(__name__)

#: Consumers decode every shipped version, and are upgraded before producers (see
#: :mod:`baocao.core.avro`), so producers always write the newest version.
REPORT_SCHEMA = COMMUNE_REPORTS.writes


def report_key(report: CommuneReport) -> bytes:
    """The key :data:`~baocao.core.topics.COMMUNE_REPORTS` declares: the province, so one
    province's communes share a partition (and its roll-up sees them in the order sent)."""
    return COMMUNE_REPORTS.key_bytes_of(report)


def with_report_type(report: CommuneReport) -> CommuneReport:
    """The report with ``report_type`` filled from its period's form when it has none (a
    period no form matches is left alone: validation reports it)."""
    if report.report_type is not None:
        return report
    try:
        period = parse_period(report.period)
    except PeriodError:
        return report
    return replace(report, report_type=str(period.report_type))


def encode_report(report: CommuneReport, *, codec: WireCodec | None = None) -> bytes:
    """The Kafka value of a report: ``commune_report.v2``, its ``report_type`` filled from
    the period, in Avro single-object encoding (or ``codec``'s framing)."""
    if report.revision not in AVRO_INT:  # fastavro would write it; other readers fail
        raise ReportEncodeError(f"revision {report.revision} does not fit an Avro int")
    try:
        record = with_report_type(report).to_avro()
        return (codec or codec_for(REPORT_SCHEMA)).encode(record)
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. lone surrogates in a string
        raise ReportEncodeError(f"report cannot be encoded as {REPORT_SCHEMA}: {exc}") from exc


def _force_close(kafka_producer: KafkaProducer) -> None:
    """Stop a producer whose ``close()`` failed.

    kafka-python's ``close()`` flushes first and gives up when that flush fails (after a fatal
    sender error, e.g. a record the broker refuses as too large), leaving its sender thread
    running and its ``__del__`` to fail again with a traceback at exit. This stops the sender
    and marks the client closed, through kafka-python internals, checked with ``getattr``.
    """
    sender = getattr(kafka_producer, "_sender", None)
    if sender is not None:
        sender.force_close()
    if hasattr(kafka_producer, "_closed"):
        kafka_producer._closed = True


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    """How many sends were made and how many the broker acknowledged or refused so far."""

    sent: int
    delivered: int
    failed: int

    @property
    def pending(self) -> int:
        return self.sent - self.delivered - self.failed


class ReportPublisher:
    """Sends reports to ``Topics(prefix).commune_reports``; use as a context manager.

    Entering creates the pipeline's topics if needed and connects; leaving normally flushes
    (raising :class:`DeliveryFailedError` if anything was not delivered) and closes.

    A batch run (``publish``, ``simulate``) stops at the first failed delivery
    (``fail_fast=True``). A long-lived server that answers each report on its own (the HTTP
    gateway) passes ``fail_fast=False`` and waits on the future :meth:`send` returns instead:
    one failed delivery must not refuse every later report. The client is thread-safe, so one
    publisher serves every request of a process.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        connect_timeout: float = 15.0,
        flush_timeout: float = 120.0,
        fail_fast: bool = True,
        linger_ms: int | None = None,
        registry: SchemaRegistryClient | None = None,
        historic: bool = False,
    ) -> None:
        self._settings = settings
        #: A historic load: reports of past periods, which the worker judges on their own
        #: ``submitted_at``; a topic of its own that only the historic loader may write.
        self.historic = historic
        self._connect_timeout = connect_timeout
        self._flush_timeout = flush_timeout
        self._fail_fast = fail_fast
        #: ``None`` keeps the project's batching default; a server answering each report
        #: waits for its acknowledgement, so it lingers less.
        self._overrides: dict[str, Any] = {} if linger_ms is None else {"linger_ms": linger_ms}
        topics = Topics(settings.topic_prefix)
        self.topic = topics.historic_reports if historic else topics.commune_reports
        #: With a schema registry, values are Confluent-framed (see :mod:`baocao.core.registry`).
        self._codec = wire_codec(REPORT_SCHEMA, topic=self.topic, registry=registry)
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()
        self._sent = 0
        self._delivered = 0
        self._failed = 0
        self._first_error: BaseException | None = None

    def __enter__(self) -> ReportPublisher:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.flush()
        finally:
            # On an error, give in-flight records a short chance, then let go of the client.
            self.close(timeout=self._flush_timeout if exc_type is None else 5.0)

    def open(self) -> None:
        """Wait for the broker (a starting stack gets ``connect_timeout`` seconds), create
        missing topics and connect; failures are :class:`KafkaUnreachableError`."""
        if self._producer is not None:
            return
        where = self._settings.bootstrap_servers
        try:
            self._codec.schema_id()
        except SchemaRegistryError as exc:
            raise SchemaRegistryUnavailableError(
                f"cannot register {REPORT_SCHEMA} for {self.topic}: {exc}"
            ) from exc
        try:
            wait_for_kafka(self._settings, timeout=self._connect_timeout)
            ensure_topics(self._settings, [self.topic])
            self._producer = producer(self._settings, **self._overrides)
        except KafkaUnavailableError as exc:  # already says where, and what to do
            raise KafkaUnreachableError(str(exc)) from exc
        except (KafkaError, OSError) as exc:
            raise KafkaUnreachableError(f"cannot publish to Kafka at {where}: {exc!r}") from exc
        if self.historic:
            logger.warning(
                "HISTORIC LOAD as %r: reports go to %s and are judged on their own "
                "submitted_at, not on when they arrive",
                self._settings.sasl_username or "ANONYMOUS",
                self.topic,
            )
        logger.info("publishing reports to %s at %s", self.topic, where)

    @property
    def stats(self) -> DeliveryStats:
        with self._lock:
            return DeliveryStats(sent=self._sent, delivered=self._delivered, failed=self._failed)

    def send(self, report: CommuneReport) -> FutureRecordMetadata:
        """Queue one report; returns at once (kafka-python batches and sends it) with the
        future of its delivery (resolved on the client's sender thread).

        Raises :class:`ReportEncodeError` for a report Avro cannot hold (nothing is sent) and,
        with ``fail_fast``, :class:`DeliveryFailedError` as soon as an earlier send failed, so
        a broken run stops early instead of queueing a whole file behind a dead broker.
        """
        value = encode_report(report, codec=self._codec)
        if self._fail_fast:
            self._raise_if_failed()
        kafka_producer = self._require_producer()
        try:
            future = kafka_producer.send(self.topic, key=report_key(report), value=value)
        except KafkaError as exc:  # no metadata or no buffer memory within max_block_ms
            self._record_failure(exc, counted_as_sent=True)
            stats = self.stats
            raise DeliveryFailedError(
                f"Kafka did not take a report for {self.topic}: {exc!r}",
                delivered=stats.delivered,
                failed=stats.failed,
            ) from exc
        with self._lock:
            self._sent += 1
        future.add_callback(self._on_delivered)
        future.add_errback(self._on_failed)
        return future

    def flush(self) -> DeliveryStats:
        """Wait until every queued report is acknowledged or failed; raise if any failed."""
        kafka_producer = self._require_producer()
        try:
            kafka_producer.flush(timeout=self._flush_timeout)
        except KafkaTimeoutError as exc:
            raise self._undelivered(f"not acknowledged within {self._flush_timeout:.0f}s") from exc
        except KafkaError as exc:  # e.g. the sender aborted its batches after a fatal error
            raise self._undelivered(f"flush failed: {exc!r}") from exc
        self._raise_if_failed()
        return self.stats

    def close(self, *, timeout: float | None = None) -> None:
        if self._producer is None:
            return
        kafka_producer, self._producer = self._producer, None
        try:
            kafka_producer.close(timeout=timeout)
        except KafkaError as exc:  # closing must not hide the error that brought us here
            logger.warning("closing the Kafka producer failed: %r", exc)
            _force_close(kafka_producer)

    # -- internals -------------------------------------------------------------------------

    def _require_producer(self) -> KafkaProducer:
        if self._producer is None:
            raise RuntimeError("ReportPublisher is not open; use it as a context manager")
        return self._producer

    def _on_delivered(self, _metadata: Any) -> None:
        with self._lock:
            self._delivered += 1

    def _on_failed(self, error: BaseException) -> None:
        self._record_failure(error, counted_as_sent=False)

    def _record_failure(self, error: BaseException, *, counted_as_sent: bool) -> None:
        with self._lock:
            if counted_as_sent:
                self._sent += 1
            self._failed += 1
            first = self._first_error is None
            if first:
                self._first_error = error
        if first:
            logger.error("Kafka refused a report on %s: %r", self.topic, error)

    def _undelivered(self, what: str) -> DeliveryFailedError:
        """The error for a flush that did not complete: whatever is not acknowledged by now
        counts as not delivered."""
        stats = self.stats
        with self._lock:
            first_error = self._first_error
        cause = f"; first error: {first_error!r}" if first_error is not None else ""
        return DeliveryFailedError(
            f"{stats.sent - stats.delivered} of {stats.sent} reports were not delivered to "
            f"{self.topic} ({what}{cause})",
            delivered=stats.delivered,
            failed=stats.sent - stats.delivered,
        )

    def _raise_if_failed(self) -> None:
        with self._lock:
            failed, delivered, sent = self._failed, self._delivered, self._sent
            first_error = self._first_error
        if failed:
            raise DeliveryFailedError(
                f"{failed} of {sent} reports were not delivered to {self.topic} "
                f"(first error: {first_error!r})",
                delivered=delivered,
                failed=failed,
            )
