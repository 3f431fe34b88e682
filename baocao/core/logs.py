"""Logging set-up shared by every command: one line per event, time first, grep-friendly."""

from __future__ import annotations

import logging

__all__ = ["CLICKHOUSE_CONNECTION_LOGGER", "OneLineFailover", "configure_logging"]

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
#: Where clickhouse-driver logs each host it could not reach.
CLICKHOUSE_CONNECTION_LOGGER = "clickhouse_driver.connection"


class OneLineFailover(logging.Filter):
    """clickhouse-driver logs every host it fails to reach (each ``alt_hosts`` failover, see
    docs/clickhouse.md "Replicas") at WARNING with the whole traceback. With replicas a failover
    is expected: the record becomes one line, the driver's message (which names the host) and
    the error. The error itself still reaches the caller when no host answers."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            record.msg = f"{record.getMessage()}: {type(error).__name__}: {error}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


#: One instance, so configuring twice installs it once.
_ONE_LINE_FAILOVER = OneLineFailover()


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level.upper(), format=FORMAT)
    # kafka-python is very chatty at INFO about connections it opens and closes.
    logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLogger().level))
    # A logger's filter sees the records of that logger only (not its children's).
    logging.getLogger(CLICKHOUSE_CONNECTION_LOGGER).addFilter(_ONE_LINE_FAILOVER)
