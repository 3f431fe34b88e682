"""Attacks on the Kafka side of the pipeline (issue 9), as a local attacker would try them,
against the real stack.

Each test is the attack: an anonymous kafka-python client, a stolen principal writing where
it may not, a commune backdating its report, a browser reading the worker's tables, a local
user reading the stack's files, a commune squatting another's report id. Every one of them
succeeded on the code before issue 9.
"""

from __future__ import annotations

import socket
import stat
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAuthorizationFailedError
from support.gateway import drop_topics, running_gateway
from support.net import free_ports
from support.settings import as_principal
from support.worker import Worker

from baocao.core.avro import codec_for
from baocao.core.clickhouse import connect
from baocao.core.kafka import (
    admin_client,
    client_options,
    ensure_topics,
    producer,
    producer_timed_topics,
)
from baocao.core.models import LOCAL_TIMEZONE, CommuneReport
from baocao.core.periods import period_containing
from baocao.core.principals import Principal
from baocao.core.reference import load_reference
from baocao.core.settings import Settings
from baocao.core.topics import Topics
from baocao.producers.obligations import obligation, publish_obligation
from baocao.producers.publisher import encode_report
from baocao.producers.spreadsheet.reader import REPORT_ID_NAMESPACE
from baocao.sinks.clickhouse.migrate import migrate

REFERENCE = load_reference()
PROVINCE = "01"
A, B = REFERENCE.communes_by_province[PROVINCE][:2]
REPORTS_VALUE = codec_for("commune_report.v2")


def _report(commune: str, *, period: str, submitted_at: datetime) -> CommuneReport:
    return CommuneReport(
        report_id=str(uuid.uuid4()),
        commune_code=commune,
        province_code=REFERENCE.communes[commune].province_code,
        period=period,
        revision=1,
        submitted_at=submitted_at,
        indicators={"tthc_received": 7.0},
    )


def _end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    reader = KafkaConsumer(**client_options(settings.kafka), enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in range(settings.kafka.partitions)]
        return {tp.partition: offset for tp, offset in reader.end_offsets(partitions).items()}
    finally:
        reader.close()


# -- who may connect, and write where ---------------------------------------------------------


def test_an_anonymous_client_cannot_produce_to_commune_reports(
    test_settings: Settings, kafka_access: list[Any]
) -> None:
    topic = Topics(test_settings.kafka.topic_prefix).commune_reports
    before = _end_offsets(test_settings, topic)
    report = _report(A, period="2025-09", submitted_at=datetime.now(UTC).replace(microsecond=0))

    with pytest.raises(KafkaError):
        attacker = KafkaProducer(
            bootstrap_servers=test_settings.kafka.bootstrap_servers,
            max_block_ms=5000,
            request_timeout_ms=5000,
        )
        try:
            attacker.send(topic, key=PROVINCE.encode(), value=encode_report(report)).get(10)
        finally:
            attacker.close(timeout=1)

    assert _end_offsets(test_settings, topic) == before


@pytest.mark.parametrize(
    ("principal", "target"),
    [
        (Principal.GATEWAY, "province_indicators"),  # bypass the worker's roll-up
        (Principal.GATEWAY, "approvals"),  # lock any province's period
        (Principal.GATEWAY, "historic_reports"),  # pick its own timeliness
        (Principal.PUBLISHER, "accepted_reports"),
        (Principal.APPROVER, "commune_reports"),
        (Principal.GATEWAY, "reporting_obligations"),  # excuse its own commune
        (Principal.PUBLISHER, "reporting_obligations"),
        (Principal.SINK, "province_indicators"),
        (Principal.HISTORIC_LOADER, "dead_letter"),
    ],
)
def test_a_principal_cannot_write_a_topic_it_has_no_grant_for(
    test_settings: Settings, kafka_access: list[Any], principal: Principal, target: str
) -> None:
    topic = getattr(Topics(test_settings.kafka.topic_prefix), target)
    stolen = as_principal(test_settings, principal).kafka
    assert stolen.sasl_username == principal.value
    attacker = producer(stolen, max_block_ms=10_000)
    try:
        # TopicAuthorizationFailed; a principal that may write no topic at all is already
        # refused its idempotent producer id (ClusterAuthorizationFailed).
        with pytest.raises(KafkaError, match=r"(Topic|Cluster)AuthorizationFailed"):
            attacker.send(topic, key=PROVINCE.encode(), value=b"forged").get(timeout=15)
    finally:
        attacker.close(timeout=1)
    assert sum(_end_offsets(test_settings, topic).values()) == 0


def test_obligations_are_written_by_the_approver_and_read_by_the_worker_and_the_sink(
    test_settings: Settings, kafka_access: list[Any]
) -> None:
    topic = Topics(test_settings.kafka.topic_prefix).reporting_obligations
    record = obligation(
        action="exempt",
        commune=A,
        report_type="monthly",
        starts_on=None,
        ends_on=None,
        reason="test",
        recorded_by="o01-1",
        recorded_at=datetime.now(UTC).replace(microsecond=0),
        reference=REFERENCE,
    )
    partition = publish_obligation(as_principal(test_settings, Principal.APPROVER).kafka, record)
    for principal in (Principal.WORKER, Principal.SINK):
        reader = KafkaConsumer(
            **client_options(as_principal(test_settings, principal).kafka),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        try:
            reader.assign([TopicPartition(topic, partition)])
            seen: list[Any] = []
            for _ in range(20):
                seen += [m for batch in reader.poll(timeout_ms=500).values() for m in batch]
                if seen:
                    break
            assert [m.key for m in seen] == [PROVINCE.encode()], principal
        finally:
            reader.close()


def test_the_gateway_cannot_read_the_reports_of_every_commune(
    test_settings: Settings, kafka_access: list[Any]
) -> None:
    topic = Topics(test_settings.kafka.topic_prefix).commune_reports
    reader = KafkaConsumer(
        **client_options(as_principal(test_settings, Principal.GATEWAY).kafka),
        enable_auto_commit=False,
    )
    try:
        reader.assign([TopicPartition(topic, 0)])
        with pytest.raises(TopicAuthorizationFailedError):
            for _ in range(20):
                reader.poll(timeout_ms=500)
    finally:
        reader.close()


# -- timeliness a commune cannot fake, and the worker's pages ----------------------------------


def _listening_addresses(port: int) -> set[str]:
    """The local addresses a TCP socket listens on for ``port`` (from /proc/net/tcp)."""
    found: set[str] = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                if width == 8:
                    found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1]))
                else:
                    found.add(address)
    return found


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: picks the outgoing interface
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


def _poll(topic: str, schema: str, settings: Settings) -> Callable[[], list[dict[str, Any]]]:
    codec = codec_for(schema)
    reader = KafkaConsumer(**client_options(settings.kafka), enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in range(settings.kafka.partitions)]
    reader.assign(partitions)
    reader.seek_to_beginning(*partitions)
    seen: list[dict[str, Any]] = []

    def poll() -> list[dict[str, Any]]:
        for batch in reader.poll(timeout_ms=300).values():
            seen.extend(codec.decode(message.value) for message in batch)
        return seen

    poll.close = reader.close  # type: ignore[attr-defined]
    return poll


@pytest.fixture
def worker(
    test_settings: Settings, kafka_access: list[Any], tmp_path: Path
) -> Iterator[tuple[Worker, int, int]]:
    """``baocao worker`` as the worker principal, with its web server and metrics port, and
    deadlines that make last month due already (deadline at its end) and locked only in a
    year: a report received now is late but not locked."""
    web_port, metrics_port = free_ports(2)
    settings = as_principal(test_settings, Principal.WORKER)
    settings = settings.model_copy(
        update={
            "worker": settings.worker.model_copy(update={"web_port": web_port}),
            "deadlines": settings.deadlines.model_copy(
                update={"monthly_days": 0, "lock_days": 400}
            ),
        }
    )
    running = Worker(settings, tmp_path / "worker.log", "--metrics-port", str(metrics_port))
    running.start()
    try:
        yield running, web_port, metrics_port
    finally:
        if running.process is not None and running.process.poll() is None:
            running.stop()


def test_a_report_sent_now_claiming_last_month_counts_as_late_and_warns(
    test_settings: Settings,
    worker: tuple[Worker, int, int],
) -> None:
    running, web_port, metrics_port = worker
    settings = running.settings
    last_month = period_containing("monthly", datetime.now(LOCAL_TIMEZONE)).previous()
    claimed = (last_month.ends_at - timedelta(days=2)).astimezone(UTC)  # "before the deadline"
    backdated = _report(A, period=last_month.text, submitted_at=claimed)
    sender = producer(as_principal(test_settings, Principal.PUBLISHER).kafka)
    try:
        # The attacker also sets the record's timestamp: the broker replaces it.
        sender.send(
            Topics(test_settings.kafka.topic_prefix).commune_reports,
            key=PROVINCE.encode(),
            value=encode_report(backdated),
            timestamp_ms=int(claimed.timestamp() * 1000),
        ).get(timeout=15)
    finally:
        sender.close()
    sent_at = datetime.now(UTC)

    topics = Topics(test_settings.kafka.topic_prefix)
    sink = as_principal(test_settings, Principal.SINK)
    accepted = _poll(topics.accepted_reports, "accepted_report.v1", sink)
    warnings = _poll(topics.report_warnings, "report_warning.v1", sink)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (accepted() and warnings()):
            running.assert_running()
        assert accepted() and warnings(), f"no output; worker log:\n{running.tail()}"
        [record] = accepted()
        [warning] = warnings()
    finally:
        accepted.close()  # type: ignore[attr-defined]
        warnings.close()  # type: ignore[attr-defined]

    assert record["submitted_at"] == claimed  # the claim is kept ...
    assert record["on_time"] is False  # ... but does not decide
    assert abs(record["first_submitted_at"] - sent_at) < timedelta(seconds=30)
    assert record["first_submitted_at"] > record["deadline"]
    assert (warning["report_id"], warning["rule_code"]) == (
        backdated.report_id,
        "submitted_at_far_from_receipt",
    )
    assert warning["value"] < -86_400  # claimed days before it arrived

    # The worker's pages: loopback only, and no table views.
    assert _listening_addresses(web_port) == {"127.0.0.1"}
    assert _listening_addresses(metrics_port) == {"127.0.0.1"}
    key = f"{A}|{last_month.text}"
    for path in (f"/table/latest/{key}/", "/table/", "/router/"):
        answer = httpx.get(f"http://127.0.0.1:{web_port}{path}", timeout=10)
        assert answer.status_code == 404, (path, answer.text[:200])
        assert "tthc_received" not in answer.text
    outside = _non_loopback_address()
    if outside is not None:  # a machine with a network interface: nothing answers there
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://{outside}:{web_port}/table/latest/{key}/", timeout=5)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://{outside}:{metrics_port}/healthz", timeout=5)

    # Its RocksDB state is the user's alone.
    data_dir = settings.worker.data_dir
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for state in data_dir.rglob("*"):
        assert not stat.S_IMODE(state.stat().st_mode) & 0o077, state


# -- files ---------------------------------------------------------------------------------


def test_the_stack_home_and_kafka_s_files_are_the_user_s_alone(
    test_settings: Settings, kafka_access: list[Any]
) -> None:
    home = test_settings.stack.home.absolute()
    topic = Topics(test_settings.kafka.topic_prefix).commune_reports
    sender = producer(as_principal(test_settings, Principal.PUBLISHER).kafka)
    try:
        report = _report(A, period="2025-09", submitted_at=datetime.now(UTC).replace(microsecond=0))
        sender.send(topic, key=PROVINCE.encode(), value=encode_report(report)).get(timeout=15)
    finally:
        sender.close()

    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    segments = list((home / "kafka" / "data").glob(f"{topic}-*/*.log"))
    metadata = list((home / "kafka" / "data").glob("__cluster_metadata-*/*"))
    credentials = list((home / "kafka" / "credentials").iterdir())
    assert segments and metadata and credentials
    for path in [*segments, *metadata, *credentials, home / "kafka" / "server.properties"]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert not mode & 0o077, f"{path} is {oct(mode)}"
    for folder in (home / "kafka", home / "kafka" / "data", home / "kafka" / "credentials"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    # and no password of the stack is on any command line of this machine
    secrets = [
        p.read_text().split('"password": "')[1].split('"')[0] for p in credentials if p.is_file()
    ]
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().decode(errors="replace")
        except OSError:
            continue
        assert not any(secret in text for secret in secrets), cmdline


# -- report ids are each commune's own -----------------------------------------------------------


def test_a_commune_cannot_squat_another_commune_s_report_id(
    test_settings: Settings, clickhouse_db: str, tmp_path: Path
) -> None:
    migrate(test_settings.clickhouse)
    period = "2025-08"
    # what `baocao import` derives for A's first revision: predictable by anyone
    import_id = str(uuid.uuid5(REPORT_ID_NAMESPACE, f"{A}|{period}|1"))

    def document(commune: str, value: float) -> dict[str, Any]:
        return {
            "report_id": import_id,
            "commune_code": commune,
            "province_code": PROVINCE,
            "period": period,
            "revision": 1,
            "submitted_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
            "indicators": {"tthc_received": value},
        }

    with running_gateway(test_settings, tmp_path, rate_limit_per_second=0) as gateway:
        squatter, owner = gateway.issue(commune=B), gateway.issue(commune=A)
        with gateway.client(squatter) as client:
            first = client.post("/v1/reports", json=document(B, 666.0))
        with gateway.client(owner) as client:
            mine = client.post("/v1/reports", json=document(A, 12.0))
        # the stream refused the squatter's report (say): that rejection is B's, not A's
        connect(test_settings.clickhouse).execute(
            "INSERT INTO rejections (rejection_id, report_id, commune_code, province_code,"
            " period, revision, reason_codes, reason_fields, reason_messages_en,"
            " reason_messages_vi, raw_payload, source_topic, source_partition, source_offset,"
            " rejected_at) VALUES",
            [
                ("x:0:1", import_id, B, PROVINCE, period, 1, ["period_locked"], ["period"],
                 ["locked"], ["khoá"], "", "x", 0, 1, datetime.now(UTC).replace(tzinfo=None))
            ],
        )  # fmt: skip
        with gateway.client(squatter) as client:
            theirs = client.get(f"/v1/reports/{import_id}")
        with gateway.client(owner) as client:
            own = client.get(f"/v1/reports/{import_id}")

    assert first.status_code == 202, first.text
    assert mine.status_code == 202, mine.text  # not 409
    assert mine.json()["commune_code"] == A
    assert theirs.status_code == 200 and own.status_code == 200, (theirs.text, own.text)
    assert theirs.json()["commune_code"] == B and theirs.json()["state"] == "rejected"
    assert own.json()["commune_code"] == A
    assert own.json()["state"] == "pending", own.text  # B's rejection is not A's
    assert own.json()["reasons"] is None, own.text  # B's rejection is not mixed in
    assert [r["code"] for r in theirs.json()["reasons"]] == ["period_locked"]


def test_the_worker_names_input_topics_that_keep_the_producer_s_time(
    test_settings: Settings,
) -> None:
    topics = Topics(test_settings.kafka.topic_prefix)
    admin = admin_client(test_settings.kafka)
    try:  # created by hand, without the project's configuration
        admin.create_topics([NewTopic(topics.commune_reports, 1, 1)])
    finally:
        admin.close()
    ensure_topics(test_settings.kafka)  # creates the others with their configurations
    try:
        assert producer_timed_topics(test_settings.kafka) == [topics.commune_reports]
    finally:
        drop_topics(test_settings)
