"""The gateway's Kafka producer: aiokafka on the event loop, no thread.

The same records as :class:`~baocao.producers.publisher.ReportPublisher` writes (its
:func:`~baocao.producers.publisher.encode_report` and
:func:`~baocao.producers.publisher.report_key`, the same murmur2 partitioning by key, ``acks=all``,
idempotent), but sent by an asyncio client. Why not kafka-python here: its sender is a thread,
and every record that opens a batch wakes it through a socket; the event loop then waits for
the GIL while the sender runs (py-spy under ``bench/gateway.py``: ~10% of the loop's wall time
in ``NetworkSelector.wakeup`` alone, the SQLite commits waiting the same way). A batch publisher
(``baocao publish``) has no loop to stall and keeps kafka-python.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import anyio
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError as AIOKafkaError
from aiokafka.structs import RecordMetadata
from kafka.errors import KafkaError

from baocao.core.kafka import (
    KafkaUnavailableError,
    client_options,
    ensure_topics,
    ssl_context,
    wait_for_kafka,
)
from baocao.core.models import CommuneReport
from baocao.core.registry import SchemaRegistryClient, SchemaRegistryError, wire_codec
from baocao.core.settings import KafkaSettings
from baocao.core.topics import Topics
from baocao.producers.exceptions import (
    DeliveryFailedError,
    KafkaUnreachableError,
    SchemaRegistryUnavailableError,
)
from baocao.producers.publisher import REPORT_SCHEMA, encode_report, report_key

__all__ = ["AsyncReportPublisher"]

logger = logging.getLogger(__name__)

#: kafka-python option names that aiokafka spells the same way.
_SHARED_OPTIONS = (
    "bootstrap_servers",
    "client_id",
    "security_protocol",
    "sasl_mechanism",
    "sasl_plain_username",
    "sasl_plain_password",
)


def aiokafka_options(settings: KafkaSettings) -> dict[str, Any]:
    """The project's client options (security included) as aiokafka takes them."""
    options = {k: v for k, v in client_options(settings).items() if k in _SHARED_OPTIONS}
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    return options


class AsyncReportPublisher:
    """Sends reports to ``Topics(prefix).commune_reports`` from an asyncio server."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        linger_ms: int,
        connect_timeout: float = 15.0,
        registry: SchemaRegistryClient | None = None,
    ) -> None:
        self._settings = settings
        self._linger_ms = linger_ms
        self._connect_timeout = connect_timeout
        self.topic = Topics(settings.topic_prefix).commune_reports
        self._codec = wire_codec(REPORT_SCHEMA, topic=self.topic, registry=registry)
        self._producer: AIOKafkaProducer | None = None

    async def open(self) -> None:
        """Register the schema, wait for the broker, create missing topics (the blocking
        steps in a thread), then start the client; failures are
        :class:`KafkaUnreachableError` / :class:`SchemaRegistryUnavailableError`."""
        where = self._settings.bootstrap_servers
        try:
            await anyio.to_thread.run_sync(self._codec.schema_id)
        except SchemaRegistryError as exc:
            raise SchemaRegistryUnavailableError(
                f"cannot register {REPORT_SCHEMA} for {self.topic}: {exc}"
            ) from exc
        try:
            await anyio.to_thread.run_sync(self._prepare)
            producer = AIOKafkaProducer(
                **aiokafka_options(self._settings),
                acks="all",
                enable_idempotence=True,
                linger_ms=self._linger_ms,
                max_batch_size=256 * 1024,
            )
            await producer.start()
            await producer.partitions_for(self.topic)
        except KafkaUnavailableError as exc:
            raise KafkaUnreachableError(str(exc)) from exc
        except (AIOKafkaError, KafkaError, OSError) as exc:
            raise KafkaUnreachableError(f"cannot publish to Kafka at {where}: {exc!r}") from exc
        self._producer = producer
        logger.info("publishing reports to %s at %s (aiokafka)", self.topic, where)

    def _prepare(self) -> None:
        wait_for_kafka(self._settings, timeout=self._connect_timeout)
        ensure_topics(self._settings, [self.topic])  # its own topic only (its ACLs)

    async def send(self, report: CommuneReport) -> asyncio.Future[RecordMetadata]:
        """Queue one report; the future resolves when Kafka acknowledged it (``acks=all``).
        Raises :class:`~baocao.producers.exceptions.ReportEncodeError` for a report Avro
        cannot hold (nothing is sent), :class:`DeliveryFailedError` when the client refuses
        it at once."""
        value = encode_report(report, codec=self._codec)
        if self._producer is None:
            raise RuntimeError("AsyncReportPublisher is not open")
        try:
            future: asyncio.Future[RecordMetadata] = await self._producer.send(
                self.topic, value=value, key=report_key(report)
            )
        except AIOKafkaError as exc:
            raise DeliveryFailedError(
                f"Kafka did not take a report for {self.topic}: {exc!r}", delivered=0, failed=1
            ) from exc
        return future

    async def close(self, *, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the records in flight, then stop the client."""
        if self._producer is None:
            return
        producer, self._producer = self._producer, None
        try:
            await asyncio.wait_for(producer.flush(), timeout)
        except (TimeoutError, AIOKafkaError) as exc:
            logger.warning("records still unacknowledged at shutdown: %r", exc)
        try:
            await producer.stop()
        except AIOKafkaError as exc:  # closing must not hide why we are shutting down
            logger.warning("closing the Kafka producer failed: %r", exc)
