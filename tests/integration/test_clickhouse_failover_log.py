"""A client whose first host is down fails over to the real server (``alt_hosts``, as with
replicas) and the log holds one warning line for the host it skipped, not a traceback."""

from __future__ import annotations

import logging

import pytest
from support.net import free_ports

from baocao.core.clickhouse import connect
from baocao.core.logs import CLICKHOUSE_CONNECTION_LOGGER, FORMAT
from baocao.core.settings import Settings


def test_a_failover_to_the_next_host_is_one_warning_line(
    configured_logging: None, servers: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    (down,) = free_ports(1)
    real = servers.clickhouse
    settings = real.model_copy(
        update={"host": "127.0.0.1", "port": down, "alt_hosts": f"{real.host}:{real.port}"}
    )
    client = connect(settings, use_database=False)
    try:
        with caplog.at_level(logging.WARNING):
            assert client.execute("SELECT 1") == [(1,)]
    finally:
        client.disconnect()
    lines = [
        logging.Formatter(FORMAT).format(r)
        for r in caplog.records
        if r.name == CLICKHOUSE_CONNECTION_LOGGER
    ]
    assert len(lines) == 1, lines
    assert "\n" not in lines[0]
    assert lines[0].endswith(
        f"Failed to connect to 127.0.0.1:{down}: "
        "ConnectionRefusedError: [Errno 111] Connection refused"
    )
