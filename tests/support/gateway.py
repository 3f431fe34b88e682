"""Helpers of the gateway tests: a real ``baocao gateway`` subprocess on a free loopback port,
tokens in its database, and the commune-reports topic read back."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from kafka.consumer.fetcher import ConsumerRecord

from baocao.core.kafka import admin_client
from baocao.core.settings import GatewaySettings, Settings
from baocao.core.topics import Topics
from baocao.producers.gateway.store import GatewayStore
from baocao.producers.gateway.tokens import Scope, TokenStore
from support import cli
from support.net import free_port
from support.settings import environment
from support.topics import read_topic
from support.wait import eventually


@dataclass
class RunningGateway:
    url: str
    settings: Settings
    process: subprocess.Popen[bytes]
    log_path: Path

    def issue(self, *, commune: str | None = None, province: str | None = None) -> str:
        store = GatewayStore(self.settings.gateway.db_path).open()
        try:
            scope = Scope.COMMUNE if commune is not None else Scope.PROVINCE
            issued = TokenStore(store).issue(scope=scope, code=commune or province or "")
        finally:
            store.close()
        return issued.token

    def revoke(self, token: str) -> None:
        store = GatewayStore(self.settings.gateway.db_path).open()
        try:
            TokenStore(store).revoke(token.split("_", 2)[1])
        finally:
            store.close()

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def running_gateway(
    settings: Settings,
    tmp_path: Path,
    *,
    workers: int = 1,
    port: int | None = None,
    **options: Any,
) -> Iterator[RunningGateway]:
    """``baocao gateway`` with ``settings`` (and gateway ``options``, ``--workers``), on
    ``port`` (default: a free one), ready when it yields; stopped with SIGTERM afterwards. Its
    log is printed when the test fails. The database is ``tmp_path/gateway.db``, so a gateway
    started again with the same ``tmp_path`` and port is the same gateway after a restart."""
    port = port or free_port()
    tmp_path.mkdir(parents=True, exist_ok=True)
    gateway = GatewaySettings(
        **{
            **settings.gateway.model_dump(),
            "host": "127.0.0.1",
            "port": port,
            "db_path": tmp_path / "gateway.db",
            **options,
        }
    )
    settings = settings.model_copy(update={"gateway": gateway})
    log_path = tmp_path / f"gateway-{port}.log"
    env = environment(settings, BAOCAO_LOG_LEVEL="INFO")
    args = ("gateway", "--workers", str(workers))
    with cli.running(*args, env=env, log_path=log_path) as background:
        running = RunningGateway(
            url=f"http://127.0.0.1:{port}",
            settings=settings,
            process=background.process,
            log_path=log_path,
        )
        _wait_ready(running)
        yield running


def _wait_ready(running: RunningGateway, timeout: float = 60.0) -> None:
    """Ready when it answers HTTP (the lifespan, which connects to Kafka, has completed)."""

    def alive() -> None:
        if running.process.poll() is not None:
            raise AssertionError(f"the gateway exited early:\n{running.log()}")

    eventually(
        lambda: httpx.get(f"{running.url}/openapi.json", timeout=1.0).raise_for_status(),
        what="the gateway to start",
        timeout=timeout,
        interval=0.1,
        ignoring=(httpx.HTTPError,),
        alive=alive,
        log=running.log,
    )


def report_document(
    *,
    commune: str = "00070",
    province: str = "01",
    period: str = "2025-08",
    revision: int = 1,
    report_id: str | None = None,
    **indicators: float,
) -> dict[str, Any]:
    return {
        "report_id": report_id or str(uuid.uuid4()),
        "commune_code": commune,
        "province_code": province,
        "period": period,
        "revision": revision,
        "submitted_at": "2025-09-02T09:30:00+07:00",
        "indicators": indicators or {"tthc_received": 120.0, "tthc_resolved_on_time": 101.0},
    }


def read_reports_topic(settings: Settings, *, timeout: float = 30.0) -> list[ConsumerRecord]:
    """Every record on the commune-reports topic, up to its end offsets (a 202 means the
    record was acknowledged, so the end offsets cover every accepted report)."""
    topic = Topics(settings.kafka.topic_prefix).commune_reports
    return read_topic(settings, topic, timeout=timeout).records


def drop_topics(settings: Settings, *, also: tuple[str, ...] = ()) -> None:
    """The broker is shared: leave no per-test topics behind (nor those starting with one of
    ``also``, e.g. a worker's changelogs)."""
    admin = admin_client(settings.kafka)
    try:
        owned = (f"{settings.kafka.topic_prefix}.", *also)
        created = [name for name in admin.list_topics() if name.startswith(owned)]
        if created:
            admin.delete_topics(created)
    finally:
        admin.close()


def add_clerk(gateway: RunningGateway, commune: str = "00070") -> tuple[str, str]:
    """A clerk's login for ``commune`` in the gateway's database: (login, password)."""
    from baocao.core.logins import LoginStore
    from baocao.producers.gateway.clerks import add_clerk as add

    store = GatewayStore(gateway.settings.gateway.db_path).open()
    try:
        login, password = add(LoginStore(store), commune, login_id=None, label="test")
    finally:
        store.close()
    return login.login_id, password


@contextmanager
def clerk_client(gateway: RunningGateway, login: str, password: str) -> Iterator[httpx.Client]:
    """A client signed in as the clerk, sending the app's own ``Origin`` like a browser."""
    with httpx.Client(
        base_url=gateway.url, headers={"Origin": gateway.url}, timeout=30.0
    ) as client:
        answer = client.post("/v1/session", json={"login": login, "password": password})
        assert answer.status_code == 200, answer.text
        yield client
