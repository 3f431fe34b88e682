"""Bring the local stack up, take it down, say how it is: what ``baocao stack`` does.

``stack_up`` is idempotent: a server whose process already runs is only checked, so running it
twice starts nothing the second time. ``stack_down`` stops every process registered under the
stack home (the worker and sink that ``baocao demo`` starts too, clients first), so it leaves
nothing running. Both hold ``<home>/run/stack.lock`` so two commands never race on one stack.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from pathlib import Path

from kafka.errors import KafkaError

from baocao.app.stack.clickhouse import ClickHouseServer, clickhouse_replicas
from baocao.app.stack.clickhouse_access import BiAccess
from baocao.app.stack.component import Component, Health
from baocao.app.stack.exceptions import (
    MissingDependencyError,
    PortInUseError,
    ProcessStartError,
    ProcessStopError,
    StackError,
    StartupTimeoutError,
)
from baocao.app.stack.haproxy import ClickHouseProxy
from baocao.app.stack.jars import fetch_kafka_jars, kafka_jars_present
from baocao.app.stack.kafka import KafkaServer, kafka_nodes
from baocao.app.stack.kafka_access import PipelineNames, apply_kafka_access
from baocao.app.stack.locks import file_lock
from baocao.app.stack.preflight import check_tools
from baocao.app.stack.process import (
    ManagedProcess,
    private_dir,
    private_umask,
    run_dir,
    tail_file,
)
from baocao.app.stack.status import ComponentState, ComponentStatus
from baocao.app.stack.zookeeper import ZooKeeperServer
from baocao.core.principals import CLIENT_PRINCIPALS, ensure_credentials
from baocao.core.settings import StackSettings

__all__ = ["servers", "stack_down", "stack_status", "stack_up"]

logger = logging.getLogger(__name__)

#: Longest a single health request of ``stack status`` may take.
STATUS_PROBE_SECONDS = 3.0


def servers(
    settings: StackSettings, *, java: str = "java", database: str = "baocao"
) -> list[Component]:
    """The stack's servers in start order (Kafka first: it takes longest to be ready).

    Kafka is ``kafka_brokers`` nodes, or as many as the stack home already holds; ClickHouse
    is one server, or ``clickhouse_replicas`` behind a ZooKeeper (started before them) and
    a TCP proxy for the BI tools (after them).
    """
    nodes = kafka_nodes(settings)
    kafka: list[Component] = [
        KafkaServer(settings, java=java, node=node, nodes=nodes) for node in range(1, nodes + 1)
    ]
    replicas = clickhouse_replicas(settings)
    if replicas == 1:
        return [*kafka, ClickHouseServer(settings, database=database)]
    zookeeper = ZooKeeperServer(settings, java=java)
    clickhouse = [
        ClickHouseServer(settings, database=database, replica=replica, zookeeper=zookeeper)
        for replica in range(1, replicas + 1)
    ]
    return [*kafka, zookeeper, *clickhouse, ClickHouseProxy(settings, clickhouse)]


def _check_replicas_fixed(settings: StackSettings) -> None:
    """Refuse replicas for a stack home whose ClickHouse was first started as one server:
    its tables are not replicated, and no restart makes them so."""
    home = settings.home.absolute()
    single = (home / "clickhouse" / "data").exists() and not (home / "zookeeper").exists()
    if settings.clickhouse_replicas > 1 and single:
        raise StackError(
            f"{home} holds a single ClickHouse server (first started without replicas): its"
            " tables are not replicated. Start replicas in a new stack home"
            " (BAOCAO_STACK_HOME) and reload it there (docs/clickhouse.md, 'Replicas')."
        )
    if clickhouse_replicas(settings) > 1:
        programs = [*settings.zookeeper_jars.split(":"), str(settings.haproxy_binary)]
        missing = [program for program in programs if not Path(program).is_file()]
        if missing:
            raise MissingDependencyError(
                f"ClickHouse replicas need ZooKeeper and haproxy, but {', '.join(missing)} is"
                " missing: run scripts/install-system-deps.sh (Debian's packages)"
            )


def stack_up(
    settings: StackSettings,
    *,
    timeout: float | None = None,
    bi_access: BiAccess | None = None,
    pipeline: PipelineNames | None = None,
) -> list[ComponentStatus]:
    """Start whichever server is not running, then wait until every one answers.

    With ``bi_access``, ClickHouse's BI users are (re)written first, also when it already runs
    (it reloads them live). With ``pipeline``, Kafka's SCRAM users, that pipeline's topics and
    its per-principal ACLs are applied once Kafka answers (as the admin; idempotent).

    Raises:
        StackError: a program is missing, a port is taken, a server failed or timed out.
    """
    home = settings.home.absolute()
    _check_replicas_fixed(settings)
    tools = check_tools(
        clickhouse_server=settings.clickhouse_binary,
        need_maven=not kafka_jars_present(
            cache_dir=settings.cache_dir, kafka_version=settings.kafka_version
        ),
    )
    wait = settings.startup_timeout_seconds if timeout is None else timeout
    private_dir(home)
    with private_umask(), file_lock(run_dir(home) / "stack.lock"):
        fetch_kafka_jars(
            cache_dir=settings.cache_dir,
            kafka_version=settings.kafka_version,
            mvn=tools.mvn or "mvn",
        )
        database = bi_access.plan.database if bi_access is not None else "baocao"
        components = servers(settings, java=tools.java, database=database)
        to_start = [component for component in components if not component.process.is_running()]
        for component in components:
            if component not in to_start:
                logger.info("%s already running", component.name)
        for component in to_start:  # all ports first: fail before starting anything
            _check_ports_free(component)
        for component in components:
            if isinstance(component, ClickHouseServer):
                # Also for a running server: it reloads users.xml and users.d live.
                component.write_logins()
                if bi_access is not None:
                    component.write_bi_access(bi_access)
        deadline = time.monotonic() + wait
        for component in to_start:
            component.prepare()
            component.process.start()
            if isinstance(component, ZooKeeperServer):
                # ClickHouse 18.16 refuses to start when it cannot reach the ZooKeeper of
                # replicated tables it already holds: the replicas start once it answers.
                _wait_healthy(component, deadline=deadline, timeout=wait)
        for component in components:
            health = _wait_healthy(component, deadline=deadline, timeout=wait)
            logger.info("%s is healthy: %s", component.name, health.detail)
            # Once every node answers: topics with three replicas need all three brokers.
            if (
                pipeline is not None
                and isinstance(component, KafkaServer)
                and component.node == component.nodes
            ):
                _apply_kafka_access(component, pipeline)
    return stack_status(settings)


def stack_down(
    settings: StackSettings, *, timeout: float | None = None
) -> tuple[list[str], list[ComponentStatus]]:
    """Stop every managed process of the stack home; return the names stopped and the status.

    Clients (worker, sink, ...) stop first so they do not spend their last seconds retrying
    against servers that are already gone.
    """
    home = settings.home.absolute()
    stopped: list[str] = []
    failed: list[str] = []
    with file_lock(run_dir(home) / "stack.lock"):
        components = servers(settings)
        names = {component.name for component in components}
        others = [proc for proc in ManagedProcess.registered(home) if proc.name not in names]
        for process in [*others, *(component.process for component in components)]:
            try:
                if process.stop(timeout=timeout):
                    stopped.append(process.name)
            except ProcessStopError as exc:  # go on: stop all the others anyway
                failed.append(str(exc))
    if failed:
        raise ProcessStopError("; ".join(failed))
    return stopped, stack_status(settings)


def stack_status(settings: StackSettings) -> list[ComponentStatus]:
    """One row per server, then one per other registered process (worker, sink, ...)."""
    home = settings.home.absolute()
    components = servers(settings)
    rows = [_server_status(component) for component in components]
    names = {component.name for component in components}
    for process in ManagedProcess.registered(home):
        if process.name in names:
            continue
        current = process.status()
        rows.append(
            ComponentStatus(
                component=process.name,
                state=ComponentState.RUNNING if current.running else ComponentState.STOPPED,
                pid=current.pid,
                ports=(),
                data_dir=None,
                log_file=current.log_file,
                health="" if current.running else "exited (see its log)",
            )
        )
    return rows


def _server_status(component: Component) -> ComponentStatus:
    current = component.process.status()
    if current.running:
        health = component.probe(timeout=STATUS_PROBE_SECONDS)
        state = ComponentState.RUNNING if health.ok else ComponentState.UNHEALTHY
        detail = health.detail
    else:
        state = ComponentState.STOPPED
        busy = [port for port in component.ports if _port_in_use(port)]
        detail = (
            f"port {', '.join(map(str, busy))} taken by a process this stack did not start"
            if busy
            else ""
        )
    return ComponentStatus(
        component=component.name,
        state=state,
        pid=current.pid,
        ports=component.ports,
        data_dir=component.data_dir,
        log_file=component.log_file,
        health=detail,
    )


def _wait_healthy(component: Component, *, deadline: float, timeout: float) -> Health:
    """Ask the server until it answers; fail at once if its process exits meanwhile."""
    while True:
        if not component.process.is_running():
            raise ProcessStartError(
                f"{component.name} exited while starting.\n"
                f"{component.process.log_file}:\n{component.process.log_tail()}\n"
                f"{component.log_file}:\n{tail_file(component.log_file)}"
            )
        remaining = deadline - time.monotonic()
        health = component.probe(timeout=max(0.5, min(3.0, remaining)))
        if health.ok:
            return health
        if time.monotonic() >= deadline:
            raise StartupTimeoutError(
                f"{component.name} runs (pid {component.process.status().pid}) but did not answer"
                f" within {timeout:.0f}s: {health.detail}. See {component.log_file}; if its"
                " settings changed since it started, run `baocao stack down` first."
            )
        time.sleep(0.25)


def _apply_kafka_access(server: KafkaServer, pipeline: PipelineNames) -> None:
    if server.runs_without_authentication():
        raise ProcessStartError(
            "Kafka runs with its configuration from before authentication: run "
            "`baocao stack down` and `baocao stack up` to restart it with SASL and ACLs "
            "(its data is kept)"
        )
    try:
        apply_kafka_access(
            server.admin_settings(),
            pipeline,
            credentials=ensure_credentials(server.settings, CLIENT_PRINCIPALS),
        )
    except (KafkaError, OSError) as exc:
        raise ProcessStartError(f"cannot set up Kafka's users, topics and ACLs: {exc}") from exc


def _port_in_use(port: int) -> bool:
    """Whether something listens on ``127.0.0.1:port`` (a bind of our own would fail)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def _check_ports_free(component: Component) -> None:
    busy = [port for port in component.ports if _port_in_use(port)]
    if busy:
        raise PortInUseError(
            f"cannot start {component.name}: port {', '.join(map(str, busy))} is taken by a"
            " process this stack did not start (another stack home, or a system server?)."
            " Stop it, or give this stack other ports (BAOCAO_STACK_*_PORT)."
        )
