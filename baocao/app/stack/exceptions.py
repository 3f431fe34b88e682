"""Errors of the local stack: each says what went wrong *and* what the operator can do."""

from __future__ import annotations

__all__ = [
    "JarFetchError",
    "MissingDependencyError",
    "PortInUseError",
    "ProcessStartError",
    "ProcessStopError",
    "StackError",
    "StartupTimeoutError",
]


class StackError(RuntimeError):
    """Root of every error ``baocao stack`` raises; the command prints it without a traceback."""


class MissingDependencyError(StackError):
    """A system program the stack needs (java, mvn, clickhouse-server) is not installed."""


class JarFetchError(StackError):
    """Maven could not download the Kafka jars."""


class PortInUseError(StackError):
    """A port of the stack is taken by a process the stack did not start."""


class ProcessStartError(StackError):
    """A managed process could not be started, or exited while it was starting."""


class ProcessStopError(StackError):
    """A managed process survived SIGTERM and SIGKILL."""


class StartupTimeoutError(StackError):
    """A server runs but did not answer its health check in time."""
