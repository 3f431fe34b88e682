"""The chaos suite's own stack and pipeline: servers, worker and sink, publishing, lag, views.

Everything runs under a stack home of its own (``.baocao-chaos`` in the checkout) on ports of
its own, so the faults (SIGKILL, SIGSTOP) never reach a stack anyone else uses. Signals only
ever go to processes this harness started or to servers whose pid files live in that home
(checked against ``/proc/<pid>/cmdline`` before every signal).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from kafka.admin import OffsetSpec
from support.cli import Background, run, start
from support.recompute import (
    Line,
    expected_commune_rows,
    expected_latest,
    expected_national_rows,
    expected_province_rows,
    expected_reporting_communes,
    stale_report_ids,
)

from baocao.core.clickhouse import connect
from baocao.core.kafka import admin_client, client_options
from baocao.core.principals import Principal, resolve_kafka
from baocao.core.settings import (
    ClickHouseSettings,
    KafkaSettings,
    StackSettings,
    clickhouse_logins_path,
)

REPO = Path(__file__).resolve().parents[2]
#: Kafka nodes of the chaos stack: one can be lost while topics keep 3 replicas, 2 in sync.
BROKERS = 3


@dataclass(frozen=True)
class ChaosStack:
    """Where the chaos stack lives: its home and its ports (node k of Kafka: + 10 * (k-1))."""

    home: Path
    port_base: int
    #: The run's ClickHouse database: `stack up` gives the sink's and the readers' logins
    #: access to this one database only.
    database: str
    #: ClickHouse servers (2: replicas with ZooKeeper; replica 2 on the ports + 10).
    clickhouse_replicas: int = 1

    @property
    def kafka_port(self) -> int:
        return self.port_base + 92

    @property
    def clickhouse_tcp_port(self) -> int:
        return self.port_base

    def clickhouse_ports(self) -> list[int]:
        """Each replica's native port (one for a single server)."""
        return [self.clickhouse_tcp_port + 10 * k for k in range(self.clickhouse_replicas)]

    def replica_env(self) -> dict[str, str]:
        """With replicas: their count, ZooKeeper's, the interserver and the proxy's ports
        (+81, +9, +60 of the base), and every client's failover host."""
        if self.clickhouse_replicas == 1:
            return {}
        return {
            "BAOCAO_STACK_CLICKHOUSE_REPLICAS": str(self.clickhouse_replicas),
            "BAOCAO_STACK_ZOOKEEPER_PORT": str(self.port_base + 81),
            "BAOCAO_STACK_CLICKHOUSE_INTERSERVER_PORT": str(self.port_base + 9),
            "BAOCAO_STACK_CLICKHOUSE_PROXY_PORT": str(self.port_base + 60),
            "BAOCAO_CLICKHOUSE_ALT_HOSTS": ",".join(
                f"127.0.0.1:{port}" for port in self.clickhouse_ports()[1:]
            ),
        }

    def kafka_ports(self) -> list[int]:
        return [self.kafka_port + 10 * node for node in range(BROKERS)]

    def stack_env(self) -> dict[str, str]:
        return {
            "BAOCAO_STACK_HOME": str(self.home),
            "BAOCAO_STACK_KAFKA_BROKERS": str(BROKERS),
            "BAOCAO_STACK_KAFKA_PORT": str(self.kafka_port),
            "BAOCAO_STACK_KAFKA_CONTROLLER_PORT": str(self.kafka_port + 1),
            "BAOCAO_STACK_CLICKHOUSE_TCP_PORT": str(self.clickhouse_tcp_port),
            "BAOCAO_STACK_CLICKHOUSE_HTTP_PORT": str(self.port_base + 123),
            "BAOCAO_STACK_KAFKA_HEAP": "512m",
            # Clients of the stack commands (`up` probes) reach the stack's own Kafka.
            "BAOCAO_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "BAOCAO_CLICKHOUSE_PORT": str(self.clickhouse_tcp_port),
            "BAOCAO_CLICKHOUSE_DATABASE": self.database,
            # `stack up` creates the run's topics and grants each principal its ACLs on them
            # (only the stack's admin creates topics).
            "BAOCAO_KAFKA_TOPIC_PREFIX": self.database,
            "BAOCAO_WORKER_APP_ID": f"{self.database}-rollup",
            "BAOCAO_SINK_GROUP_ID": f"{self.database}-sink",
            "BAOCAO_KAFKA_REPLICATION_FACTOR": str(BROKERS),
            **self.replica_env(),
        }

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.kafka_ports())

    def baocao(self, *args: str, timeout: float = 300) -> str:
        return _checked(*args, env={**os.environ, **self.stack_env()}, timeout=timeout)

    def up(self) -> None:
        self.baocao("stack", "up", "--brokers", str(BROKERS))

    def down(self) -> None:
        self.baocao("stack", "down")

    def server_pid(self, name: str) -> int:
        """The pid of one of this stack's servers, checked to be ours before it is signalled."""
        pid = int((self.home / "run" / f"{name}.pid").read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        if str(self.home) not in cmdline:
            raise RuntimeError(f"pid {pid} ({cmdline[:120]}) is not {name} of {self.home}")
        return pid


@dataclass
class Pipeline:
    """One run's topics, database, worker and sink, all named after ``name``."""

    stack: ChaosStack
    name: str
    logs: Path
    processes: dict[str, Background] = field(default_factory=dict)
    starts: dict[str, int] = field(default_factory=dict)
    #: Group members SIGKILLed: caught up means they are gone from their group.
    killed_members: set[str] = field(default_factory=set)
    published: list[Line] = field(default_factory=list)
    refused_ids: set[str] = field(default_factory=set)
    #: Poison records: (partition, offset) -> what it was; each needs a dead letter.
    poison: dict[tuple[int, int], str] = field(default_factory=dict)
    #: Reports (valid bodies, wrong framing) that must be refused, never counted.
    must_refuse: set[str] = field(default_factory=set)

    @property
    def topic_prefix(self) -> str:
        return self.name

    @property
    def commune_reports(self) -> str:
        return f"{self.name}.commune-reports"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            **self.stack.stack_env(),
            "BAOCAO_KAFKA_REPLICATION_FACTOR": str(BROKERS),
            "BAOCAO_KAFKA_TOPIC_PREFIX": self.name,
            "BAOCAO_CLICKHOUSE_DATABASE": self.name,
            "BAOCAO_WORKER_APP_ID": f"{self.name}-rollup",
            "BAOCAO_WORKER_DATA_DIR": str(self.logs / "worker-state"),
            "BAOCAO_WORKER_WEB_PORT": "0",
            "BAOCAO_SINK_GROUP_ID": f"{self.name}-sink",
            "BAOCAO_LOG_LEVEL": "INFO",
        }

    # ------------------------------------------------------------ processes

    def run(self, *args: str, timeout: float = 300) -> str:
        return _checked(*args, env=self.env(), timeout=timeout)

    def start(self, role: str) -> None:
        """Start (or restart) ``worker`` or ``sink``; each start logs to a file of its own
        (``worker-1.log``, ``worker-2.log``, ...)."""
        self.starts[role] = self.starts.get(role, 0) + 1
        log_path = self.logs / f"{role}-{self.starts[role]}.log"
        self.processes[role] = start(role, env=self.env(), log_path=log_path)

    def kill(self, role: str) -> None:
        """SIGKILL a process this harness started, and reap it; its group member (taken
        just before) must leave the group before the pipeline counts as caught up."""
        group = f"{self.name}-rollup" if role == "worker" else f"{self.name}-sink"
        admin = self.admin()
        try:
            described = admin.describe_groups([group])
            self.killed_members |= {m["member_id"] for m in described[group]["members"]}
        finally:
            admin.close()
        process = self.processes[role].process
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    def alive(self, role: str) -> bool:
        return self.processes[role].process.poll() is None

    def stop_all(self) -> None:
        running = [b.process for b in self.processes.values() if b.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        for process in running:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    # ------------------------------------------------------------ input

    def publish(self, lines: list[Line], refused: Iterable[str]) -> None:
        """Publish ``lines`` in order with ``baocao publish --skip-validation`` (so the
        invalid ones reach the worker, which must refuse them)."""
        if not lines:
            return
        source = self.logs / f"chunk-{uuid.uuid4().hex[:8]}.jsonl"
        source.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
        self.run("publish", "--file", str(source), "--skip-validation")
        self.published.extend(lines)
        self.refused_ids |= set(refused)

    def send_raw(self, records: Sequence[tuple[str, bytes | None, bytes | None]]) -> list[str]:
        """Write raw records to the report topic; record each one's position as poison.
        A record the broker refuses (too large for the topic) is reported, not recorded.

        One producer per record: after a refused record, kafka-python 3.0 refuses every
        later one of the same producer as too large as well."""
        refused_by_broker: list[str] = []
        for what, key, value in records:
            # Not the project's producer: no idempotence or batching, and a size limit above
            # the topic's, so the broker is the one that judges the size.
            producer = KafkaProducer(
                **client_options(self.kafka_settings()),
                acks="all",
                max_request_size=4 * 1024 * 1024,
            )
            try:
                meta = producer.send(self.commune_reports, key=key, value=value).get(60)
            except Exception as exc:  # the broker's size limit, say: it never gets in
                refused_by_broker.append(f"{what}: {type(exc).__name__}")
                continue
            finally:
                producer.close()
            self.poison[(meta.partition, meta.offset)] = what
        return refused_by_broker

    # ------------------------------------------------------------ measuring

    def admin(self) -> KafkaAdminClient:
        return admin_client(self.kafka_settings(), request_timeout_ms=10000)

    def kafka_settings(self) -> KafkaSettings:
        """How this harness's own Kafka clients reach the stack: the project's options, as
        the stack's admin principal (credentials from the stack home)."""
        base = KafkaSettings(bootstrap_servers=self.stack.bootstrap_servers, topic_prefix=self.name)
        return resolve_kafka(base, StackSettings(home=self.stack.home), Principal.ADMIN)

    def lag(self, admin: KafkaAdminClient) -> int:
        """Records the worker and the sink have not committed yet, summed over the topics
        each group reads (the worker: reports and approvals; the sink: every topic of the
        run but the reports). The worker is read first, so whatever it wrote before committing is
        already on the sink's topics when their end offsets are read."""
        names = set(admin.list_topics())
        worker_topics = [t for t in (self.commune_reports, f"{self.name}.approvals") if t in names]
        # The worker's changelogs are named after its app id, outside the prefix.
        sink_topics = [
            t for t in names if t.startswith(f"{self.name}.") and t != self.commune_reports
        ]
        return self._group_lag(admin, f"{self.name}-rollup", worker_topics) + self._group_lag(
            admin, f"{self.name}-sink", sink_topics
        )

    def groups_stable(self, admin: KafkaAdminClient) -> bool:
        """Both groups have members, none of them a killed one, and no rebalance under way.
        A SIGKILLed member stays in its group until its session times out, and only then
        does the group settle with the restarted process: lag 0 alone would also hold for a
        pipeline that had finished its work just before the kill."""
        groups = admin.describe_groups([f"{self.name}-rollup", f"{self.name}-sink"])
        return all(
            group["group_state"] == "Stable"
            and group["members"]
            and not {m["member_id"] for m in group["members"]} & self.killed_members
            for group in groups.values()
        )

    def _group_lag(self, admin: KafkaAdminClient, group: str, topics: list[str]) -> int:
        partitions = [
            TopicPartition(t["name"], p["partition_index"])
            for t in admin.describe_topics(topics)
            for p in t["partitions"]
        ]
        if not partitions:
            return 0
        answer = admin.list_group_offsets(group)
        # kafka-python 3 answers {group: {partition: offset}}; older ones {partition: offset}.
        committed = answer.get(group, answer) if isinstance(answer, dict) else {}
        ends = admin.list_partition_offsets(dict.fromkeys(partitions, OffsetSpec.LATEST))
        starts = admin.list_partition_offsets(dict.fromkeys(partitions, OffsetSpec.EARLIEST))
        lag = 0
        for partition in partitions:
            done = committed.get(partition)
            position = done.offset if done is not None and done.offset >= 0 else None
            lag += ends[partition].offset - (
                position if position is not None else starts[partition].offset
            )
        return lag

    def wait_caught_up(self, *, since: float, timeout: float) -> float | None:
        """Seconds from ``since`` until both groups are stable with lag 0 (polled every 0.5 s),
        or None if that did not happen within ``timeout``."""
        deadline = time.monotonic() + timeout
        admin: KafkaAdminClient | None = None
        try:
            while time.monotonic() < deadline:
                try:
                    admin = admin or self.admin()
                    if self.lag(admin) == 0 and self.groups_stable(admin):
                        return time.monotonic() - since
                except Exception:  # a broker just killed or restarting: ask again
                    if admin is not None:
                        admin.close()
                    admin = None
                time.sleep(0.5)
            return None
        finally:
            if admin is not None:
                admin.close()

    def wait_full_isr(self, *, timeout: float) -> float | None:
        """The monotonic time every partition of the run's topics had all its replicas in
        sync again (a restarted broker caught up), or None after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            admin = self.admin()
            try:
                topics = [t for t in admin.list_topics() if t.startswith(self.name)]
                partitions = [p for t in admin.describe_topics(topics) for p in t["partitions"]]
                if all(len(p["isr_nodes"]) == len(p["replica_nodes"]) for p in partitions):
                    return time.monotonic()
            except Exception:  # the broker is still joining: ask again
                pass
            finally:
                admin.close()
            time.sleep(0.5)
        return None

    # ------------------------------------------------------------ the views

    def query(self, sql: str, *, port: int | None = None) -> list[tuple[Any, ...]]:
        """``sql``'s rows from one server (replica 1 unless ``port`` names another)."""
        # As the stack's administrator, whose password `stack up` generated into its home.
        settings = ClickHouseSettings(
            port=port or self.stack.clickhouse_tcp_port,
            alt_hosts="",
            database=self.name,
            logins_file=clickhouse_logins_path(self.stack.home),
        )
        client = connect(settings, send_receive_timeout=60)
        try:
            return list(client.execute(sql))
        finally:
            client.disconnect()

    def differences(self) -> list[str]:
        """How the views of every replica differ from a recomputation of everything
        published so far (empty: every row equal, exactly, on each)."""
        ports = self.stack.clickhouse_ports()
        if len(ports) == 1:
            return self.differences_on(ports[0])
        return [
            f"replica {number}: {problem}"
            for number, port in enumerate(ports, start=1)
            for problem in self.differences_on(port)
        ]

    def differences_on(self, port: int) -> list[str]:
        """How one server's views differ from the recomputation."""
        query = partial(self.query, port=port)
        counted = [
            line
            for line in self.published
            if line["report_id"] not in self.refused_ids
            and line["report_id"] not in self.must_refuse
        ]
        latest = expected_latest(counted)
        # Each view: its expected rows, the query of its key columns then its value columns.
        checks: list[tuple[str, dict[Any, Any], str, int]] = [
            (
                "province_indicators",
                expected_province_rows(latest),
                "province_code, period, indicator_code, value, communes_reported",
                3,
            ),
            (
                "commune_indicators",
                expected_commune_rows(latest),
                "commune_code, period, indicator_code, value, revision",
                3,
            ),
            (
                "national_indicators",
                expected_national_rows(latest),
                "period, indicator_code, value, provinces_reported, communes_reported",
                2,
            ),
            (
                "province_completeness",
                {key: (n,) for key, n in expected_reporting_communes(latest).items()},
                "province_code, period, communes_reported",
                2,
            ),
        ]
        problems: list[str] = []
        for view, expected, columns, keys in checks:
            # Completeness also lists announced periods nobody reported for: not a figure.
            where = " WHERE communes_reported > 0" if view == "province_completeness" else ""
            rows = query(f"SELECT {columns} FROM {view}{where}")
            problems += _compare(view, expected, {row[:keys]: row[keys:] for row in rows})
        refused = self.refused_ids | stale_report_ids(counted) | self.must_refuse
        rejected_rows = query(
            "SELECT report_id, source_partition, source_offset FROM rejected_reports"
            f" WHERE source_topic = '{self.commune_reports}'"
        )
        rejected_ids = {report_id for report_id, _, _ in rejected_rows if report_id}
        if rejected_ids != refused:
            missing = sorted(refused - rejected_ids)[:3]
            extra = sorted(rejected_ids - refused)[:3]
            problems.append(
                f"rejected_reports: {len(rejected_ids)} report ids, expected {len(refused)}"
                f" (missing e.g. {missing}, unexpected e.g. {extra})"
            )
        positions = {(partition, offset) for _, partition, offset in rejected_rows}
        lost = [what for position, what in self.poison.items() if position not in positions]
        if lost:
            problems.append(f"no dead letter for poison records: {', '.join(lost)}")
        return problems

    def wait_views_match(self, *, timeout: float) -> list[str]:
        """Poll the views until they equal the recomputation; the last differences if not."""
        deadline = time.monotonic() + timeout
        problems = self.differences()
        while problems and time.monotonic() < deadline:
            time.sleep(1.0)
            problems = self.differences()
        return problems


def _same(a: Any, b: Any) -> bool:
    """Equal, field by field; floats to the last 12 digits. ClickHouse sums a national figure
    over the provinces in its own order, so a sum of decimals (budget figures) may differ
    from the correctly rounded sum here in its last bit; a count never may."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)
    return bool(a == b)


def _compare(view: str, expected: dict[Any, Any], actual: dict[Any, Any]) -> list[str]:
    """Equality of two keyed row sets (see :func:`_same`), described in one line if not."""
    missing = [key for key in expected if key not in actual]
    extra = [key for key in actual if key not in expected]
    wrong = [key for key in expected if key in actual and not _same(actual[key], expected[key])]
    if not (missing or extra or wrong):
        return []
    example = (
        f"; e.g. {wrong[0]}: {actual[wrong[0]]} != {expected[wrong[0]]}"
        if wrong
        else f"; e.g. missing {missing[:1]} extra {extra[:1]}"
    )
    return [
        f"{view}: {len(actual)} rows for {len(expected)} expected, {len(missing)} missing,"
        f" {len(extra)} unexpected, {len(wrong)} different{example}"
    ]


def _checked(*args: str, env: dict[str, str], timeout: float) -> str:
    """``baocao *args`` to its end; its output, or an error with it when it failed."""
    done = run(*args, env=env, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"baocao {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout
