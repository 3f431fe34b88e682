"""Two ClickHouse replicas coordinated by ZooKeeper, on a stack of the test's own.

``baocao stack up`` with ``BAOCAO_STACK_CLICKHOUSE_REPLICAS=2`` in a temporary home, on ports
of its own (28100-28116), never the shared servers'. The tests run in file order on the one
stack the module fixture starts and stops: the stack, the migrations, replication, the
refusal of anonymous ZooKeeper clients, a replica SIGKILLed under a running sink, and
ZooKeeper stopped for 30 s.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from clickhouse_driver import Client
from clickhouse_driver.errors import ServerException
from kafka.errors import KafkaError
from kazoo.client import KazooClient
from kazoo.exceptions import AuthFailedError, NoAuthError, SessionClosedRequireSaslError
from support import records
from support.net import free_ports
from support.sink import all_committed, committed, publish, running_sink
from support.wait import eventually

from baocao.app.bi.access import AccessPlan, province_user
from baocao.app.bi.apply import apply_access
from baocao.app.bi.credentials import credentials_path, read_credentials
from baocao.core import kafka
from baocao.core.clickhouse import connect, replicas
from baocao.core.principals import Principal, with_principal
from baocao.core.reference import load_reference
from baocao.core.settings import (
    ClickHouseSettings,
    KafkaSettings,
    Settings,
    SinkSettings,
    StackSettings,
)
from baocao.core.topics import Topics
from baocao.sinks.clickhouse.migrate import migrate

BAOCAO = str(Path(sys.executable).with_name("baocao"))
PERIOD = "2025-09"
ZOOKEEPER_DOWN_SECONDS = 30.0
ZOOKEEPER_PERIOD = "2025-10"
INSERT_POISON = (
    "INSERT INTO sink_poison_messages (source_topic, source_partition, source_offset, error) VALUES"
)


def _stack(settings: StackSettings, *args: str, check: bool = True) -> str:
    env = {**os.environ}
    for name, value in settings.model_dump().items():
        env[f"BAOCAO_STACK_{name.upper()}"] = str(value)
    done = subprocess.run(
        [BAOCAO, "stack", *args], env=env, capture_output=True, text=True, timeout=240
    )
    if check:
        assert done.returncode == 0, f"baocao stack {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def _status(settings: StackSettings) -> dict[str, dict[str, Any]]:
    return {row["component"]: row for row in json.loads(_stack(settings, "status", "--json"))}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackSettings]:
    kafka_port, controller = free_ports(2)
    settings = StackSettings(
        home=tmp_path_factory.mktemp("replicas") / "home",
        kafka_port=kafka_port,
        kafka_controller_port=controller,
        clickhouse_replicas=2,
        clickhouse_tcp_port=28100,
        clickhouse_http_port=28101,
        clickhouse_interserver_port=28102,
        zookeeper_port=28103,
        clickhouse_proxy_port=28106,
        startup_timeout_seconds=120,
    )
    try:
        _stack(settings, "up")
        yield settings
    finally:
        _stack(settings, "down", check=False)


@pytest.fixture(scope="module")
def pipeline(stack: StackSettings) -> Settings:
    """Settings of a test pipeline (its own topics and database) as the stack's admin, with
    both replicas: migrated on each."""
    name = f"r{uuid.uuid4().hex[:10]}"
    # The stack's own BI users read `baocao` (its default): the test's database is that one.
    settings = with_principal(
        Settings(
            kafka=KafkaSettings(
                bootstrap_servers=f"127.0.0.1:{stack.kafka_port}", topic_prefix=name
            ),
            clickhouse=ClickHouseSettings(
                port=stack.clickhouse_tcp_port,
                alt_hosts=f"127.0.0.1:{stack.clickhouse_tcp_port + 10}",
                database="baocao",
                connect_timeout=2.0,
            ),
            sink=SinkSettings(
                group_id=f"{name}-sink",
                batch_rows=200,
                flush_interval_seconds=0.3,
                retry_initial_seconds=0.2,
                retry_max_seconds=1.0,
            ),
            stack=stack,
        ).with_clickhouse_login("admin"),
        Principal.ADMIN,
    )
    migrate(settings.clickhouse)
    kafka.ensure_topics(settings.kafka)
    return settings


def _each(settings: Settings, query: str) -> list[list[tuple[Any, ...]]]:
    """``query``'s rows from each replica, in replica order."""
    answers = []
    for replica in replicas(settings.clickhouse):
        client = connect(replica)
        try:
            answers.append(client.execute(query))
        finally:
            client.disconnect()
    return answers


def test_status_shows_each_replica_and_zookeeper(stack: StackSettings) -> None:
    rows = _status(stack)
    for component in ("zookeeper", "clickhouse", "clickhouse-2", "clickhouse-proxy"):
        assert rows[component]["healthy"], rows[component]
    assert rows["zookeeper"]["health"].startswith("ZooKeeper 3.8")
    assert rows["clickhouse"]["ports"] == [28100, 28101, 28102]
    assert rows["clickhouse-2"]["ports"] == [28110, 28111, 28112]
    assert rows["zookeeper"]["ports"] == [28103]
    assert rows["clickhouse-proxy"]["ports"] == [28106, 28107]


def test_zookeeper_and_replica_files_are_private(stack: StackSettings) -> None:
    home = stack.home.absolute()
    for folder in (home / "zookeeper", home / "zookeeper" / "data"):
        assert folder.stat().st_mode & 0o777 == 0o700, folder
    for path in (
        home / "zookeeper" / "zoo.cfg",
        home / "secrets" / "zookeeper.json",
        home / "clickhouse" / "config.d" / "replication.xml",
        home / "clickhouse-2" / "config.d" / "replication.xml",
    ):
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert (
        "<replica>clickhouse-2</replica>"
        in (home / "clickhouse-2" / "config.d" / "replication.xml").read_text()
    )


def test_zookeeper_refuses_an_anonymous_client_and_hides_clickhouse_from_other_logins(
    stack: StackSettings, pipeline: Settings
) -> None:
    hosts = f"127.0.0.1:{stack.zookeeper_port}"
    anonymous = KazooClient(hosts=hosts, timeout=3, connection_retry={"max_tries": 0})
    with pytest.raises((SessionClosedRequireSaslError, AuthFailedError)):
        try:
            anonymous.start(timeout=5)
            anonymous.get_children("/")
        finally:
            anonymous.stop()
            anonymous.close()
    # A digest login of its own gets a session, but ClickHouse's znodes carry the ACL of
    # ClickHouse's login: not even their names can be read.
    stranger = KazooClient(hosts=hosts, timeout=3, auth_data=[("digest", "stranger:guess")])
    stranger.start(timeout=5)
    try:
        with pytest.raises(NoAuthError):
            stranger.get_children(f"/clickhouse/tables/01/{pipeline.clickhouse.database}")
        with pytest.raises(NoAuthError):
            stranger.create(f"/clickhouse/tables/01/{pipeline.clickhouse.database}/x")
    finally:
        stranger.stop()
        stranger.close()


def test_migrations_make_the_sinks_tables_replicated_on_both_replicas(
    pipeline: Settings,
) -> None:
    engines = _each(
        pipeline,
        "SELECT name, engine FROM system.tables WHERE database = currentDatabase()"
        " AND engine LIKE '%MergeTree' ORDER BY name",
    )
    assert engines[0] == engines[1]
    by_name = dict(engines[0])
    assert by_name["commune_reports"] == "ReplicatedReplacingMergeTree"
    assert by_name["province_indicator_values"] == "ReplicatedReplacingMergeTree"
    # reference tables and the ledger are each replica's own, loaded by migrate on each
    assert by_name["provinces"] == "MergeTree"
    assert by_name["schema_migrations"] == "MergeTree"
    ledgers = _each(pipeline, "SELECT version, checksum FROM schema_migrations ORDER BY version")
    assert ledgers[0] == ledgers[1]
    assert len(ledgers[0]) >= 20
    # the columns an ALTER added reached both replicas once
    columns = _each(
        pipeline,
        "SELECT name FROM system.columns WHERE database = currentDatabase()"
        " AND table = 'commune_reports' ORDER BY name",
    )
    assert columns[0] == columns[1]
    # migrating again changes nothing on either
    assert migrate(pipeline.clickhouse).applied == []


def test_a_replica_that_lost_its_tables_is_migrated_to_the_current_structure(
    pipeline: Settings,
) -> None:
    """A new (or emptied) replica replays the migrations, but ZooKeeper refuses a replicated
    table created with an older structure (error 122): migrate copies the structure of a
    replica that is ahead instead."""
    _, second = replicas(pipeline.clickhouse)
    client = connect(second)
    try:
        for (name,) in client.execute(
            "SELECT name FROM system.tables WHERE database = currentDatabase()"
        ):
            client.execute(f"DROP TABLE `{name}`")
    finally:
        client.disconnect()
    migrate(pipeline.clickhouse)
    columns = _each(
        pipeline,
        "SELECT table, name, type FROM system.columns WHERE database = currentDatabase()"
        " ORDER BY table, name",
    )
    assert columns[0] == columns[1]
    ledgers = _each(pipeline, "SELECT version, checksum FROM schema_migrations ORDER BY version")
    assert ledgers[0] == ledgers[1]


def test_a_row_inserted_on_one_replica_is_read_on_the_other(pipeline: Settings) -> None:
    first, second = replicas(pipeline.clickhouse)
    client = connect(first)
    try:
        client.execute(
            INSERT_POISON,
            [("replication-check", 0, 1, "a row for the other replica")],
        )
    finally:
        client.disconnect()
    other = connect(second)
    try:
        eventually(
            lambda: (
                other.execute(
                    "SELECT error FROM sink_poison_messages"
                    " WHERE source_topic = 'replication-check'"
                )
                == [("a row for the other replica",)]
            ),
            what="the row on the second replica",
            timeout=30,
        )
    finally:
        other.disconnect()


def test_bi_users_and_province_databases_exist_on_both_replicas(
    stack: StackSettings, pipeline: Settings
) -> None:
    plan = AccessPlan.for_reference("baocao", load_reference())
    credentials = read_credentials(credentials_path(stack))
    apply_access(pipeline.clickhouse, plan, credentials)
    province = plan.provinces[0]
    commune = next(
        c for c, info in load_reference().communes.items() if info.province_code == province
    )
    client = connect(pipeline.clickhouse)
    try:
        client.execute(
            "INSERT INTO commune_reports (report_id, commune_code, province_code, period,"
            " revision, submitted_at, indicator_codes, indicator_values) VALUES",
            [("bi-check", commune, province, "2025-08", 1, datetime.now(UTC), ["births"], [3.0])],
        )
    finally:
        client.disconnect()
    user = province_user(province)
    database = plan.province_database(province)
    # the province user, on each replica and through the proxy, reads the row an insert on
    # the first replica fed into its province's database (a replicated copy of its own)
    for port in (
        stack.clickhouse_tcp_port,
        stack.clickhouse_tcp_port + 10,
        stack.clickhouse_proxy_port,
    ):
        reader = Client(
            host="127.0.0.1",
            port=port,
            user=user,
            password=credentials.password(user),
            database=database,
        )
        try:
            eventually(
                lambda reader=reader: (
                    reader.execute(
                        "SELECT count() FROM commune_reports WHERE report_id = 'bi-check'"
                    )
                    == [(1,)]
                ),
                what=f"the province's row on port {port}",
                timeout=30,
                ignoring=(ServerException,),
            )
        finally:
            reader.disconnect()
    # applying again on both replicas changes nothing
    assert apply_access(pipeline.clickhouse, plan, credentials).statements == ()


def test_bi_credentials_list_every_replica_and_the_proxy(
    stack: StackSettings, pipeline: Settings
) -> None:
    env = {
        **os.environ,
        **{f"BAOCAO_STACK_{k.upper()}": str(v) for k, v in stack.model_dump().items()},
        "BAOCAO_CLICKHOUSE_PORT": str(stack.clickhouse_tcp_port),
        "BAOCAO_CLICKHOUSE_ALT_HOSTS": pipeline.clickhouse.alt_hosts,
    }
    done = subprocess.run(
        [BAOCAO, "bi", "credentials", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    info = json.loads(done.stdout)
    assert info["replicas"] == "127.0.0.1:28100,127.0.0.1:28110"
    assert (info["proxy_native_port"], info["proxy_http_port"]) == (28106, 28107)


def test_the_sink_continues_on_the_other_replica_when_one_is_killed(
    stack: StackSettings, pipeline: Settings
) -> None:
    topics = Topics(pipeline.kafka.topic_prefix)
    communes = list(load_reference().communes)[:600]

    def reports(chosen: list[str], revision: int) -> list[records.Message]:
        return [
            records.message(
                topics,
                "accepted_reports",
                f"{c}|{PERIOD}",
                records.accepted_report(c, PERIOD, revision, indicators={"births": revision}),
            )
            for c in chosen
        ]

    killed_pid = _status(stack)["clickhouse"]["pid"]
    proxy = f"http://127.0.0.1:{stack.clickhouse_proxy_port + 1}/ping"
    with running_sink(pipeline) as (stats, _):
        publish(pipeline, reports(communes[:300], 1))
        eventually(
            lambda: all_committed(pipeline), what="the first reports", ignoring=(KafkaError,)
        )
        os.kill(killed_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        eventually(lambda: _ping(proxy), what="the proxy to answer from the other replica")
        proxy_seconds = time.monotonic() - killed_at
        publish(pipeline, reports(communes[300:], 1) + reports(communes[:100], 2))
        eventually(
            lambda: all_committed(pipeline),
            what="the reports sent while a replica was down",
            timeout=60,
            ignoring=(KafkaError,),
        )
        failover_seconds = time.monotonic() - killed_at
        assert stats.poison == 0
    print(
        f"replica killed: the proxy answered after {proxy_seconds:.1f}s, the sink had"
        f" committed everything after {failover_seconds:.1f}s"
    )
    assert proxy_seconds < 10
    _stack(stack, "up")  # the killed replica comes back and fetches what it missed
    expected = sorted((c, 2 if c in communes[:100] else 1) for c in communes)

    def both_equal_expected() -> bool:
        stored = _each(
            pipeline,
            "SELECT commune_code, revision FROM commune_reports FINAL"
            f" WHERE period = '{PERIOD}' ORDER BY commune_code, revision",
        )
        return all(sorted(rows) == expected for rows in stored)

    eventually(both_equal_expected, what="both replicas to hold every report once", timeout=60)


def test_inserts_wait_while_zookeeper_is_stopped_and_readers_keep_reading(
    stack: StackSettings, pipeline: Settings
) -> None:
    """ZooKeeper SIGKILLed for 30 s while the sink runs: the replicated tables turn read-only,
    the sink holds its batch without committing, readers go on; once ZooKeeper is back the
    batch lands on both replicas, once."""
    topics = Topics(pipeline.kafka.topic_prefix)
    communes = list(load_reference().communes)[600:800]
    during = [
        records.message(
            topics,
            "accepted_reports",
            f"{c}|{ZOOKEEPER_PERIOD}",
            records.accepted_report(c, ZOOKEEPER_PERIOD, 1, indicators={"births": 1}),
        )
        for c in communes
    ]
    zookeeper = _status(stack)["zookeeper"]["pid"]
    client = connect(pipeline.clickhouse)
    refused = 0
    try:
        with running_sink(pipeline) as (stats, _):
            eventually(
                lambda: all_committed(pipeline), what="a caught-up sink", ignoring=(KafkaError,)
            )
            offsets_before = committed(pipeline)
            os.kill(zookeeper, signal.SIGKILL)
            stopped_at = time.monotonic()
            publish(pipeline, during)
            while time.monotonic() - stopped_at < ZOOKEEPER_DOWN_SECONDS:
                # readers keep reading
                assert client.execute("SELECT count() FROM commune_reports")[0][0] >= 600
                try:
                    client.execute(INSERT_POISON, [("zookeeper-check", 0, 1, "refused")])
                except Exception:
                    refused += 1
                else:
                    pytest.fail("an insert into a replicated table succeeded without ZooKeeper")
                assert committed(pipeline) == offsets_before, "committed before the insert"
                time.sleep(2.0)
            _stack(stack, "up")
            back_at = time.monotonic()
            eventually(
                lambda: all_committed(pipeline),
                what="the reports held while ZooKeeper was down",
                timeout=120,
                ignoring=(KafkaError,),
            )
            landed = time.monotonic() - back_at
            assert stats.poison == 0
    finally:
        client.disconnect()
    print(f"ZooKeeper back: the sink's held batch was committed {landed:.1f}s later")
    assert refused >= 5
    expected = sorted((c, 1) for c in communes)
    eventually(
        lambda: all(
            sorted(rows) == expected
            for rows in _each(
                pipeline,
                "SELECT commune_code, revision FROM commune_reports FINAL"
                f" WHERE period = '{ZOOKEEPER_PERIOD}'",
            )
        ),
        what="the reports of the outage on both replicas, once",
        timeout=60,
    )


def _ping(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.read() == b"Ok.\n")
    except OSError:
        return False
