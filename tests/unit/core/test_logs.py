"""``configure_logging``: a ClickHouse failover (clickhouse-driver's ``alt_hosts``) is one
warning line naming the host and the error, not a traceback. The driver itself connects here,
to loopback ports nobody listens on (no server needed)."""

from __future__ import annotations

import logging

import pytest
from clickhouse_driver import Client, errors
from support.net import free_ports

from baocao.core.logs import CLICKHOUSE_CONNECTION_LOGGER, FORMAT, configure_logging


def failed_connections(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == CLICKHOUSE_CONNECTION_LOGGER]


def test_each_host_that_fails_is_one_warning_line_with_its_error(
    configured_logging: None, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = free_ports(2)
    client = Client("127.0.0.1", port=first, alt_hosts=f"127.0.0.1:{second}", connect_timeout=2)
    with caplog.at_level(logging.WARNING), pytest.raises(errors.NetworkError):
        client.execute("SELECT 1")  # no host answers: the caller still gets the error
    configure_logging("INFO")  # again, as tests and commands may: still one filter
    records = failed_connections(caplog)
    assert [r.levelno for r in records] == [logging.WARNING, logging.WARNING]
    lines = [logging.Formatter(FORMAT).format(r) for r in records]
    for line, port in zip(lines, (first, second), strict=True):
        assert "\n" not in line and "Traceback" not in line
        assert line.endswith(
            f"clickhouse_driver.connection: Failed to connect to 127.0.0.1:{port}: "
            "ConnectionRefusedError: [Errno 111] Connection refused"
        )
    assert len(logging.getLogger(CLICKHOUSE_CONNECTION_LOGGER).filters) == 1


def test_without_it_the_driver_logs_a_traceback(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the filter is for: the driver's own record carries the exception."""
    # Not installed (an earlier test's command may have configured logging in this process).
    monkeypatch.setattr(logging.getLogger(CLICKHOUSE_CONNECTION_LOGGER), "filters", [])
    (port,) = free_ports(1)
    with caplog.at_level(logging.WARNING), pytest.raises(errors.NetworkError):
        Client("127.0.0.1", port=port, connect_timeout=2).execute("SELECT 1")
    (record,) = failed_connections(caplog)
    assert "Traceback" in logging.Formatter(FORMAT).format(record)
