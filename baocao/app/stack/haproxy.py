"""A TCP proxy (Debian's haproxy) in front of the ClickHouse replicas, for the BI tools that
take one host: ``clickhouse_proxy_port`` forwards the native protocol, the next port HTTP,
each to the first replica that answers its check. Runs only with replicas > 1; the stack's
own clients fail over without it (``alt_hosts``).
"""

from __future__ import annotations

import urllib.error
import urllib.request

from baocao.app.stack.clickhouse import ClickHouseServer
from baocao.app.stack.component import Health
from baocao.app.stack.process import ManagedProcess, logs_dir
from baocao.app.stack.templates import render, write_if_changed
from baocao.core.settings import StackSettings

__all__ = ["ClickHouseProxy"]


class ClickHouseProxy:
    """The stack's haproxy (see the module docstring)."""

    name = "clickhouse-proxy"

    def __init__(self, settings: StackSettings, replicas: list[ClickHouseServer]) -> None:
        self.settings = settings
        self.replicas = replicas
        home = settings.home.absolute()
        self.data_dir = home / "clickhouse-proxy"
        self.config_file = self.data_dir / "haproxy.cfg"
        self.log_file = logs_dir(home) / "clickhouse-proxy.log"
        self.process = ManagedProcess(
            self.name,
            # -db: stay in the foreground (the stack watches the process itself)
            [str(settings.haproxy_binary), "-db", "-f", str(self.config_file)],
            home=home,
            cwd=self.data_dir,
            log_file=self.log_file,
            stop_timeout=10.0,
        )

    @property
    def native_port(self) -> int:
        return self.settings.clickhouse_proxy_port

    @property
    def http_port(self) -> int:
        return self.settings.clickhouse_proxy_port + 1

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.native_port, self.http_port)

    def prepare(self) -> None:
        """Write haproxy.cfg with one server line per replica."""
        check = "check inter 1s fall 2 rise 2"
        write_if_changed(
            self.config_file,
            render(
                "haproxy.cfg",
                native_port=self.native_port,
                http_port=self.http_port,
                native_servers="\n".join(
                    f"    server {r.name} 127.0.0.1:{r.tcp_port} {check}" for r in self.replicas
                ),
                http_servers="\n".join(
                    f"    server {r.name} 127.0.0.1:{r.http_port} {check}" for r in self.replicas
                ),
            ),
            mode=0o600,
        )

    def probe(self, *, timeout: float) -> Health:
        """ClickHouse's ``/ping`` through the proxy's HTTP port."""
        url = f"http://127.0.0.1:{self.http_port}/ping"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as answer:
                body = answer.read().decode("utf-8", "replace").strip()
        except (urllib.error.URLError, OSError) as exc:
            return Health(ok=False, detail=f"GET /ping through the proxy failed: {exc}")
        if body != "Ok.":
            return Health(ok=False, detail=f"/ping answered {body[:40]!r}")
        return Health(ok=True, detail=f"to {len(self.replicas)} replicas")
