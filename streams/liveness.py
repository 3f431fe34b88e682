"""A worker that cannot go on says so, then exits: it never idles as a live process.

:class:`WorkerState` holds what ``/healthz`` reports beyond Kafka (the fatal error the worker
is about to exit with, a schema-registry wait); :func:`arm_exit_watchdog` ends the process
with a non-zero code if a clean shutdown has not finished in time, so a supervisor restarts
it (docs/worker.md, "No record stops the worker").
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field

__all__ = ["EXIT_FATAL", "WorkerState", "arm_exit_watchdog"]

logger = logging.getLogger(__name__)

#: The exit code of a worker ended by the watchdog (EX_SOFTWARE: an internal software error).
EXIT_FATAL = 70


@dataclass
class WorkerState:
    """Shared between the event loop (writes) and the health server's thread (reads)."""

    fatal: str | None = None
    registry_waiting: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def set_fatal(self, why: str) -> None:
        with self._lock:
            if self.fatal is None:
                self.fatal = why

    def set_registry_waiting(self, why: str | None) -> None:
        with self._lock:
            self.registry_waiting = why

    def check_running(self) -> str:
        """A ``/healthz`` check: raises with the fatal error once there is one."""
        with self._lock:
            fatal = self.fatal
        if fatal is not None:
            raise RuntimeError(f"the worker is stopping: {fatal}")
        return "running"

    def check_registry(self) -> str:
        """A ``/healthz`` check: raises while batches wait for the schema registry."""
        with self._lock:
            waiting = self.registry_waiting
        if waiting is not None:
            raise RuntimeError(f"waiting for the schema registry: {waiting}")
        return "ok"


def arm_exit_watchdog(seconds: float, *, code: int = EXIT_FATAL) -> threading.Timer:
    """End the process with ``code`` after ``seconds`` unless it exited by itself first.

    A daemon thread, so a clean exit before the deadline is not held up by it.
    """

    def fire() -> None:
        logger.critical(
            "the worker did not finish stopping within %.0fs; exiting with code %d",
            seconds,
            code,
        )
        logging.shutdown()
        os._exit(code)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    return timer
