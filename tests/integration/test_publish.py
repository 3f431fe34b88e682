"""``baocao publish`` and ``baocao simulate`` against the real Kafka: what the topic holds
afterwards is read back with kafka-python, decoded and compared with what was sent."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from kafka.admin import NewTopic
from kafka.consumer.fetcher import ConsumerRecord
from support.cli import invoke
from support.gateway import drop_topics, read_reports_topic
from support.settings import environment

from baocao.core.avro import codec_for
from baocao.core.catalogue import load_catalogue
from baocao.core.kafka import admin_client
from baocao.core.models import CommuneReport, parse_report
from baocao.core.reference import load_reference
from baocao.core.settings import KafkaSettings, Settings
from baocao.core.topics import Topics
from baocao.producers.jsonl import report_line
from baocao.producers.simulate import generate_reports

BAOCAO = str(Path(sys.executable).with_name("baocao"))


@pytest.fixture(autouse=True)
def _drop_topics_afterwards(test_settings: Settings) -> Iterator[None]:
    yield
    drop_topics(test_settings)


def simulated(*, communes: int, seed: int = 2025, revisions: float = 0.0) -> list[CommuneReport]:
    return list(
        generate_reports(
            load_reference(),
            load_catalogue(),
            period="2025-08",
            seed=seed,
            communes=communes,
            revisions=revisions,
        )
    )


def decode(records: Sequence[ConsumerRecord]) -> list[CommuneReport]:
    codec = codec_for("commune_report.v1")
    reports = []
    for record in records:
        report, reasons = parse_report(codec.decode(record.value))
        assert reasons == [] and report is not None
        assert record.key == report.province_code.encode()
        reports.append(report)
    return reports


def by_id(reports: Sequence[CommuneReport]) -> dict[str, CommuneReport]:
    return {r.report_id: r for r in reports}


def write_lines(path: Path, lines: Sequence[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_publish_sends_accepted_lines_and_rejects_the_rest(
    test_settings: Settings, tmp_path: Path
) -> None:
    reports = simulated(communes=30, revisions=0.2)
    assert len(reports) == 36
    good = [report_line(r) for r in reports]
    unknown_commune = json.dumps({**reports[0].to_json(), "commune_code": "99999"})
    missing_period = json.dumps({k: v for k, v in reports[1].to_json().items() if k != "period"})
    lines = [*good[:10], "", "not json", *good[10:20], missing_period, unknown_commune, *good[20:]]
    source = write_lines(tmp_path / "reports.jsonl", lines)
    rejects = tmp_path / "rejects.jsonl"

    result = invoke(
        "publish", "--file", str(source), "--rejects-file", str(rejects), settings=test_settings
    )

    assert result.exit_code == 0, result.output
    assert "published 36, rejected 3 (of 39 lines" in result.output
    records = read_reports_topic(test_settings)
    published = decode(records)
    assert by_id(published) == by_id(reports)
    assert len(published) == 36  # nothing twice, no rejected line
    # Each province's reports keep their order in the file (one key, one partition).
    for province in {r.province_code for r in reports}:
        assert [r.report_id for r in published if r.province_code == province] == [
            r.report_id for r in reports if r.province_code == province
        ]
    rejected = [json.loads(line) for line in rejects.read_text(encoding="utf-8").splitlines()]
    assert [(r["line"], [x["code"] for x in r["reasons"]]) for r in rejected] == [
        (12, ["malformed_event"]),
        (23, ["schema_error"]),
        (24, ["unknown_commune"]),
    ]
    assert rejected[2]["raw"] == unknown_commune
    assert "malformed_event" in result.output and "unknown_commune" in result.output


def test_strict_fails_on_rejected_lines_only(test_settings: Settings, tmp_path: Path) -> None:
    reports = simulated(communes=4)
    clean = write_lines(tmp_path / "clean.jsonl", [report_line(r) for r in reports])
    dirty = write_lines(tmp_path / "dirty.jsonl", [report_line(reports[0]), "{"])

    assert (
        invoke("publish", "--file", str(clean), "--strict", settings=test_settings).exit_code == 0
    )
    result = invoke("publish", "--file", str(dirty), "--strict", settings=test_settings)
    assert result.exit_code == 1
    assert "published 1, rejected 1" in result.output
    assert len(read_reports_topic(test_settings)) == 5  # the dirty file's good line was published


def test_skip_validation_publishes_structurally_valid_reports(
    test_settings: Settings, tmp_path: Path
) -> None:
    good, other = simulated(communes=2)
    unknown_line = json.dumps({**good.to_json(), "commune_code": "99999", "revision": 3})
    wrong_province_line = json.dumps({**other.to_json(), "province_code": "96"})
    lines = [report_line(good), unknown_line, wrong_province_line, '["not", "a report"]']
    source = write_lines(tmp_path / "invalid.jsonl", lines)

    result = invoke("publish", "--file", str(source), "--skip-validation", settings=test_settings)

    assert result.exit_code == 0, result.output
    assert "published 3, rejected 1" in result.output
    assert "2 invalid reports were published; the stream will dead-letter them" in result.output
    published = decode(read_reports_topic(test_settings))
    assert sorted((r.commune_code, r.province_code, r.revision) for r in published) == sorted(
        [
            (good.commune_code, good.province_code, 1),
            ("99999", good.province_code, 3),
            (other.commune_code, "96", 1),
        ]
    )


def test_simulate_to_a_file_then_publish_it(test_settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "simulated.jsonl"
    env = environment(test_settings)
    options = ["--communes", "50", "--revisions", "0.1", "--period", "2025-08"]
    simulate = subprocess.run(
        [BAOCAO, "simulate", *options, "--output", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert simulate.returncode == 0, simulate.stderr
    assert "wrote 55 reports (50 communes, 5 revisions)" in simulate.stdout
    publish = subprocess.run(
        [BAOCAO, "publish", "--file", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert publish.returncode == 0, publish.stderr
    assert "published 55, rejected 0" in publish.stdout

    expected = simulated(communes=50, revisions=0.1)
    assert out.read_text(encoding="utf-8").splitlines() == [report_line(r) for r in expected]
    assert by_id(decode(read_reports_topic(test_settings))) == by_id(expected)


def test_publish_reads_standard_input(test_settings: Settings) -> None:
    reports = simulated(communes=5, seed=3)
    stdin = "".join(report_line(r) + "\n" for r in reports)
    result = subprocess.run(
        [BAOCAO, "publish", "--file", "-"],
        input=stdin,
        env=environment(test_settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "published 5, rejected 0" in result.stdout
    assert by_id(decode(read_reports_topic(test_settings))) == by_id(reports)


def test_simulate_publishes_200_communes(test_settings: Settings) -> None:
    options = ["--communes", "200", "--seed", "9", "--period", "2025-08"]
    result = invoke("simulate", *options, settings=test_settings)

    assert result.exit_code == 0, result.output
    topic = Topics(test_settings.kafka.topic_prefix).commune_reports
    assert f"published 210 reports (200 communes, 10 revisions) for 2025-08 to {topic}" in (
        result.output
    )
    records = read_reports_topic(test_settings)
    expected = simulated(communes=200, seed=9, revisions=0.05)
    assert len(records) == 210
    assert by_id(decode(records)) == by_id(expected)
    assert {r.key.decode() for r in records} == {r.province_code for r in expected}


def test_an_unreachable_kafka_exits_2(test_settings: Settings, tmp_path: Path) -> None:
    source = write_lines(tmp_path / "one.jsonl", [report_line(simulated(communes=1)[0])])
    kafka = KafkaSettings(
        **{**test_settings.kafka.model_dump(), "bootstrap_servers": "127.0.0.1:1"}
    )
    nowhere = test_settings.model_copy(update={"kafka": kafka})
    result = invoke("publish", "--file", str(source), settings=nowhere)
    assert result.exit_code == 2
    assert "Kafka failure" in result.stderr
    assert "127.0.0.1:1" in result.stderr


def test_reports_the_broker_refuses_exit_2(test_settings: Settings, tmp_path: Path) -> None:
    # A topic that takes no record of a report's size: the broker refuses every batch.
    topic = Topics(test_settings.kafka.topic_prefix).commune_reports
    admin = admin_client(test_settings.kafka)
    try:
        admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"max.message.bytes": "300"})])
    finally:
        admin.close()
    source = write_lines(
        tmp_path / "reports.jsonl", [report_line(r) for r in simulated(communes=20)]
    )

    result = invoke("publish", "--file", str(source), settings=test_settings)

    assert result.exit_code == 2
    assert f"20 of 20 reports were not delivered to {topic}" in result.stderr
    assert "delivered 0, not delivered 20" in result.stderr
    assert "published" not in result.stdout
