"""Errors of the stream processors: one family, so ``baocao worker`` can tell them apart.

Bad *input* never raises: it becomes a dead-letter record. These errors are about the
worker's own environment (Kafka refusing writes, the broker unreachable at start-up), where
the only safe move is to stop without committing offsets and let a restart replay the batch.
"""

from __future__ import annotations

__all__ = ["DeliveryError", "StreamsError", "WorkerFatalError", "WorkerStartupError"]


class StreamsError(Exception):
    """Root of every error the stream processors raise."""


class WorkerStartupError(StreamsError):
    """The worker could not prepare what it needs before consuming (broker, topics)."""


class DeliveryError(StreamsError):
    """Kafka did not acknowledge a write of a batch (an output or a table's changelog).

    The batch's offsets are not committed, so the events are processed again after a
    restart; outputs are absolute, so the replay is harmless.
    """

    def __init__(self, message: str, *, failed: int, total: int) -> None:
        super().__init__(message)
        self.failed = failed
        self.total = total


class WorkerFatalError(StreamsError):
    """The worker cannot go on (e.g. every record fails with an internal error): it stops
    and the process exits non-zero, for a supervisor to restart it."""
