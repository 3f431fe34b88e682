"""``baocao gateway --workers 2`` against the real Kafka: two worker processes on one socket,
sharing the SQLite submission log. Each connection is traced to the process that accepted it
(through ``/proc``), so the test knows both processes took submissions; every accepted report
must be on the topic exactly once, and a report id sent to both processes, one after the other
and at the same time, is published once."""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from support import cli
from support.gateway import (
    RunningGateway,
    drop_topics,
    read_reports_topic,
    report_document,
    running_gateway,
)
from support.net import free_port
from support.settings import environment

from baocao.core.avro import codec_for
from baocao.core.models import parse_report
from baocao.core.reference import load_reference
from baocao.core.settings import Settings

#: Connections opened at most until both processes have accepted one.
_MAX_CONNECTIONS = 200


@pytest.fixture
def gateway(test_settings: Settings, tmp_path: Path) -> Iterator[RunningGateway]:
    with running_gateway(test_settings, tmp_path, workers=2, rate_limit_per_second=0) as running:
        yield running
    drop_topics(test_settings)


def descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def serving_process(connection: http.client.HTTPConnection, candidates: set[int]) -> int:
    """The process holding the server end of ``connection`` (loopback IPv4)."""
    assert connection.sock is not None
    client_port = connection.sock.getsockname()[1]
    server_port = connection.sock.getpeername()[1]
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == (
            client_port
        ):
            inodes.add(f"socket:[{fields[9]}]")
    for pid in candidates:
        try:
            links = {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
        except OSError:
            continue
        if links & inodes:
            return pid
    raise AssertionError(f"no gateway process holds the connection from port {client_port}")


def post(connection: http.client.HTTPConnection, token: str, document: dict[str, Any]) -> Any:
    body = json.dumps(document).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    connection.request("POST", "/v1/reports", body=body, headers=headers)
    answer = connection.getresponse()
    return answer.status, answer.getheader("Idempotent-Replayed"), json.loads(answer.read())


def test_two_worker_processes_accept_every_report_once(gateway: RunningGateway) -> None:
    workers = descendants(gateway.process.pid)
    port = int(gateway.url.rsplit(":", 1)[1])
    communes = sorted(load_reference().communes.values(), key=lambda c: c.code)
    by_process: dict[int, list[http.client.HTTPConnection]] = {}
    accepted: dict[str, int] = {}  # report id -> process that answered 202
    try:
        for commune in communes[:_MAX_CONNECTIONS]:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            token = gateway.issue(commune=commune.code)
            document = report_document(commune=commune.code, province=commune.province_code)
            status, replayed, body = post(connection, token, document)
            assert (status, replayed) == (202, None), body
            pid = serving_process(connection, workers)  # accepted by now: it answered
            by_process.setdefault(pid, []).append(connection)
            assert body["report_id"] == document["report_id"]
            accepted[document["report_id"]] = pid
            if len(by_process) == 2 and len(accepted) >= 20:
                break
        assert len(by_process) == 2, f"every connection went to {set(by_process)}"
        assert set(by_process) <= workers

        # One report id through both processes: first one after the other, then at once.
        first, second = (connections[0] for connections in by_process.values())
        token = gateway.issue(commune="00070")
        document = report_document()
        one = post(first, token, document)
        other = post(second, token, document)
        assert one[0] == other[0] == 202
        assert (one[1], other[1]) == (None, "true")
        assert other[2] == one[2]
        accepted[document["report_id"]] = 0

        together = report_document()
        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = list(pool.map(lambda c: post(c, token, together), (first, second)))
        assert [a[0] for a in answers] == [202, 202]
        assert sorted(str(a[1]) for a in answers) == ["None", "true"]
        assert answers[0][2] == answers[1][2]
        accepted[together["report_id"]] = 0
    finally:
        for connections in by_process.values():
            for connection in connections:
                connection.close()

    codec = codec_for("commune_report.v1")
    published = []
    for record in read_reports_topic(gateway.settings):
        report, reasons = parse_report(codec.decode(record.value))
        assert report is not None and reasons == []
        published.append(report.report_id)
    assert sorted(published) == sorted(accepted)


def test_workers_that_cannot_reach_kafka_fail_the_command(
    test_settings: Settings, tmp_path: Path
) -> None:
    """The supervisor checks Kafka and the database once before it spawns workers: exit 2
    with the reason, instead of workers dying one after the other."""
    env = environment(
        test_settings,
        BAOCAO_KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",  # nothing listens there
        BAOCAO_GATEWAY_DB_PATH=str(tmp_path / "gateway.db"),
        BAOCAO_GATEWAY_PORT=str(free_port()),
    )
    done = cli.run("gateway", "--workers", "2", env=env, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "the gateway cannot start" in done.stderr
    assert "Kafka" in done.stderr
