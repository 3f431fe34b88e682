"""A pipeline of a test's own for the rebuild tests: Kafka topics under the test's prefix on
the shared broker, and a ClickHouse 18.16 of its own configured as ``baocao stack up`` does
(with the BI province logins, which the shared server only has for ``baocao``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import SecretStr

from baocao.app.bi.access import AccessPlan
from baocao.app.bi.credentials import credentials_path, read_credentials
from baocao.app.stack.clickhouse import ClickHouseServer
from baocao.app.stack.clickhouse_access import BiAccess
from baocao.core.reference import load_reference
from baocao.core.settings import Settings, StackSettings
from support.bi import ADMIN, DATABASE, BiServer, logs_in
from support.net import free_ports
from support.wait import eventually

__all__ = ["private_clickhouse"]


@contextmanager
def private_clickhouse(home: Path, settings: Settings) -> Iterator[tuple[BiServer, Settings]]:
    """Start an empty ClickHouse (database ``bitest``, not migrated) with the stack's logins
    and the BI users of ``bitest``; yield it and ``settings`` pointed at it as its admin."""
    tcp, http = free_ports(2)
    stack = StackSettings(home=home, clickhouse_tcp_port=tcp, clickhouse_http_port=http)
    plan = AccessPlan.for_reference(DATABASE, load_reference())
    clickhouse = ClickHouseServer(stack, database=DATABASE)
    clickhouse.prepare()
    assert clickhouse.write_bi_access(BiAccess(plan=plan))
    clickhouse.process.start()
    try:
        server = BiServer(stack, plan, read_credentials(credentials_path(stack)))
        eventually(lambda: logs_in(server, ADMIN), what="the test ClickHouse", timeout=60)
        pointed = settings.model_copy(
            update={
                "clickhouse": settings.clickhouse.model_copy(
                    update={
                        "host": "127.0.0.1",
                        "port": tcp,
                        "database": DATABASE,
                        "user": ADMIN,
                        "password": SecretStr(server.password(ADMIN)),
                    }
                ),
                "stack": settings.stack.model_copy(
                    update={"home": home, "clickhouse_tcp_port": tcp, "clickhouse_http_port": http}
                ),
            }
        )
        yield server, pointed
    finally:
        clickhouse.process.stop(timeout=30)
