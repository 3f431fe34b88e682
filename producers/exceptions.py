"""Errors of the producers: one family, so a command can tell a Kafka outage from bad input.

Third-party errors (kafka-python, fastavro, the file system) are wrapped with the context an
operator needs (which broker, which file, how many reports were affected).
"""

from __future__ import annotations

__all__ = [
    "DeliveryFailedError",
    "KafkaUnreachableError",
    "ProducerError",
    "PublishError",
    "ReportEncodeError",
    "ReportFileError",
    "SchemaRegistryUnavailableError",
    "SimulationError",
]


class ProducerError(Exception):
    """Root of every error the producers raise."""


class ReportFileError(ProducerError):
    """A reports, output or rejects file cannot be opened (a bad *line* is not an error but
    a rejection)."""


class ReportEncodeError(ProducerError):
    """A report passed the structural checks but the Avro schema still cannot hold it
    (for example a revision beyond a 32-bit int); the line is rejected, not published."""


class PublishError(ProducerError):
    """Kafka did not take the reports: the command exits with code 2."""


class KafkaUnreachableError(PublishError):
    """No broker answered, or the topics could not be created."""


class SchemaRegistryUnavailableError(PublishError):
    """The configured schema registry did not register the report schema (unreachable, or
    it refused the schema as incompatible)."""


class DeliveryFailedError(PublishError):
    """Some sends were not acknowledged by the broker."""

    def __init__(self, message: str, *, delivered: int, failed: int) -> None:
        super().__init__(message)
        self.delivered = delivered
        self.failed = failed


class SimulationError(ProducerError):
    """The simulator was asked for something it cannot produce (for example an indicator of
    the catalogue it has no model for)."""
