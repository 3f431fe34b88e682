"""The ClickHouse sink against the real Kafka and ClickHouse.

Records are encoded with the project's Avro codecs (current and older schemas, see
``support.records``) and published with kafka-python to the test's own topics; the sink runs in
a thread (or as the `baocao sink` command) and the test reads the BI views. Offsets are read
back from the broker to check they are committed only after ClickHouse has the rows.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from clickhouse_driver import Client
from kafka import TopicPartition
from support import records
from support.net import free_port
from support.records import Message, due
from support.settings import environment
from support.sink import all_committed, committed, fast, publish, running_sink
from support.wait import eventually

from baocao.core import kafka
from baocao.core.avro import codec_for
from baocao.core.clickhouse import connect
from baocao.core.reference import load_reference
from baocao.core.settings import Settings
from baocao.core.topics import Topics
from baocao.sinks.clickhouse.migrate import migrate
from baocao.sinks.clickhouse.sink import sink_consumer

T0 = datetime(2025, 9, 1, 8, 0, tzinfo=UTC)
PERIOD = "2025-08"

# -- helpers ------------------------------------------------------------------------------


def report_message(
    topics: Topics, commune: str, revision: int, values: dict[str, float]
) -> Message:
    """An accepted report as an older worker wrote it (``commune_report.v1``)."""
    record = {
        "report_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{commune}/{PERIOD}/{revision}")),
        "commune_code": commune,
        "province_code": load_reference().communes[commune].province_code,
        "period": PERIOD,
        "revision": revision,
        "submitted_at": T0.replace(day=revision),
        "indicators": values,
    }
    key = f"{commune}|{PERIOD}".encode()
    return topics.accepted_reports, key, codec_for("commune_report.v1").encode(record)


def figure_message(
    topics: Topics, province: str, indicator: str, version: int, value: float | None, reported: int
) -> Message:
    """A figure as an older worker wrote it (``province_indicator.v1``)."""
    record = {
        "province_code": province,
        "period": PERIOD,
        "indicator_code": indicator,
        "value": value,
        "numerator": None,
        "denominator": None,
        "communes_reported": reported,
        "version": version,
        "updated_at": T0.replace(minute=version),
    }
    key = f"{province}|{PERIOD}|{indicator}".encode()
    return topics.province_indicators, key, codec_for("province_indicator.v1").encode(record)


def rejection_message(topics: Topics, offset: int) -> Message:
    raw = b"\xc3\x01 not really a report"
    record = {
        "rejection_id": f"{topics.commune_reports}:0:{offset}",
        "report_id": None,
        "commune_code": "99999",
        "province_code": "01",
        "period": PERIOD,
        "revision": 1,
        "reasons": [
            {
                "code": "unknown_commune",
                "field": "commune_code",
                "message_en": "Unknown commune code 99999",
                "message_vi": "Mã xã 99999 không tồn tại",
            },
            {
                "code": "empty_report",
                "field": None,
                "message_en": "The report has no indicator values",
                "message_vi": "Báo cáo không có số liệu chỉ tiêu nào",
            },
        ],
        "raw_payload": raw,
        "source_topic": topics.commune_reports,
        "source_partition": 0,
        "source_offset": offset,
        "rejected_at": T0,
    }
    return topics.dead_letter, b"99999", codec_for("rejected_report.v1").encode(record)


def communes_of(province: str, count: int) -> list[str]:
    return list(load_reference().communes_by_province[province][:count])


@pytest.fixture
def prepared(test_settings: Settings, clickhouse_db: str) -> Iterator[Client]:
    """A migrated database and the test's topics; yields a client of that database."""
    migrate(test_settings.clickhouse)
    kafka.ensure_topics(test_settings.kafka)
    client = connect(test_settings.clickhouse)
    yield client
    client.disconnect()


def views(client: Client) -> dict[str, list[tuple[Any, ...]]]:
    """Every BI view, sorted (missing_reports counted: 3,321 communes per period)."""
    queries = {
        "province_indicators": "SELECT * FROM province_indicators"
        " ORDER BY province_code, indicator_code",
        "commune_indicators": "SELECT * FROM commune_indicators"
        " ORDER BY commune_code, indicator_code",
        "rejected_reports": "SELECT * FROM rejected_reports ORDER BY rejection_id, reason_code",
        "province_completeness": "SELECT * FROM province_completeness"
        " ORDER BY report_type, period, province_code",
        "national_completeness": "SELECT * FROM national_completeness ORDER BY period",
        "national_indicators": "SELECT * FROM national_indicators ORDER BY indicator_code",
        "province_indicator_history": "SELECT * FROM province_indicator_history"
        " ORDER BY province_code, indicator_code, version",
        "report_warnings": "SELECT * FROM report_warnings ORDER BY warning_id",
        "period_approvals": "SELECT * FROM period_approvals ORDER BY province_code",
        "missing_reports": "SELECT period, province_code, count(), sum(overdue)"
        " FROM missing_reports GROUP BY period, province_code ORDER BY period, province_code",
        "missing_report_alerts": "SELECT alert_id, phase, commune_codes"
        " FROM missing_report_alerts FINAL ORDER BY alert_id",
    }
    return {name: client.execute(query) for name, query in queries.items()}


# -- tests --------------------------------------------------------------------------------


def test_sink_writes_every_topic_old_and_new_schemas_and_a_replay_changes_nothing(
    test_settings: Settings, prepared: Client
) -> None:
    topics = Topics(test_settings.kafka.topic_prefix)
    reference = load_reference()
    c1, c2, c3 = communes_of("01", 3)
    (c4,) = communes_of("79", 1)
    august_due = due(PERIOD).replace(microsecond=0)  # DateTime keeps whole seconds
    corrected = records.accepted_report(
        c1,
        PERIOD,
        2,
        submitted_at=T0.replace(day=2),
        first_submitted_at=T0,
        accepted_at=T0.replace(day=2),
        indicators={"tthc_received": 5.0},
    )
    late = records.accepted_report(c3, PERIOD, 1, on_time=False, indicators={"tthc_received": 3.0})
    messages = [
        # An older worker's accepted reports (commune_report.v1) ...
        report_message(topics, c1, 1, {"tthc_received": 1.0, "tthc_pending": 4.0}),
        report_message(topics, c2, 1, {"tthc_received": 2.0}),
        # ... and a new worker's (accepted_report.v1), one of them a correction of c1.
        records.message(topics, "accepted_reports", f"{c3}|{PERIOD}", late),
        records.message(
            topics,
            "accepted_reports",
            f"{c4}|{PERIOD}",
            records.accepted_report(c4, PERIOD, 1, indicators={"tthc_received": 9.0}),
        ),
        records.message(topics, "accepted_reports", f"{c1}|{PERIOD}", corrected),
        # Figures: an older worker's (v1) and a new one's (v2, flagged).
        figure_message(topics, "01", "tthc_received", 1, 6.0, 3),
        records.message(
            topics,
            "province_indicators",
            f"01|{PERIOD}|tthc_received",
            records.figure(
                "01",
                PERIOD,
                "tthc_received",
                2,
                10.0,
                communes_reported=3,
                communes_with_warnings=1,
                updated_at=T0.replace(minute=2),
            ),
        ),
        figure_message(topics, "79", "tthc_received", 1, 9.0, 1),
        records.message(
            topics,
            "province_completeness",
            f"01|monthly|{PERIOD}",
            records.completeness("01", PERIOD, 2, reported=3, on_time=2),
        ),
        records.message(
            topics,
            "province_indicator_changes",
            f"01|{PERIOD}|tthc_received",
            records.change(
                "01",
                PERIOD,
                "tthc_received",
                2,
                10.0,
                6.0,
                T0.replace(hour=9),
                [
                    {
                        "commune_code": c1,
                        "report_id": corrected["report_id"],
                        "revision": 2,
                        "previous_value": 1.0,
                        "value": 5.0,
                    }
                ],
            ),
        ),
        records.message(
            topics,
            "report_warnings",
            c1,
            records.warning(corrected, "far_from_history", "tthc_received"),
        ),
        records.message(
            topics,
            "reporting_periods",
            f"monthly|{PERIOD}",
            records.reporting_period(PERIOD, T0),
        ),
        records.message(
            topics,
            "missing_report_alerts",
            "01",
            records.alert(
                "01", PERIOD, "overdue", list(reference.communes_by_province["01"][3:]), T0
            ),
        ),
        records.message(
            topics, "approvals", "79", records.approval("79", PERIOD, T0.replace(day=10))
        ),
        rejection_message(topics, 17),
    ]
    publish(test_settings, messages)
    settings = fast(test_settings)

    with running_sink(settings) as (stats, _):
        eventually(lambda: stats.records == len(messages), what="the sink to consume every record")
        eventually(lambda: all_committed(settings), what="the offsets to be committed")
    assert stats.poison == 0 and stats.retries == 0
    assert stats.rows_written == {
        "commune_reports": 5,
        "province_indicator_values": 3,
        "province_completeness_values": 1,
        "province_indicator_changes": 1,
        "report_warnings_log": 1,
        "reporting_periods": 1,
        "missing_report_alerts": 1,
        "approvals": 1,
        "rejections": 1,
    }
    assert stats.fresh_reports == 5  # one freshness observation per accepted report stored
    # One insert per table per batch: never more parts than batches (merges only lower it).
    parts = prepared.execute(
        "SELECT table, count() FROM system.parts WHERE database = currentDatabase()"
        " AND active AND table IN ('commune_reports', 'province_indicator_values')"
        " GROUP BY table"
    )
    assert all(count <= stats.batches for _, count in parts), (parts, stats.batches)

    seen = views(prepared)
    name = {code: reference.communes[code].name for code in (c1, c2, c3, c4)}
    assert seen["commune_indicators"] == [
        (c1, name[c1], "01", PERIOD, "tthc_received", 5.0, 2, T0.replace(day=2), "monthly", 1, 0),
        # the older worker's report: on time judged from its period's deadline by the sink
        (c2, name[c2], "01", PERIOD, "tthc_received", 2.0, 1, T0, "monthly", 1, 0),
        (
            c3,
            name[c3],
            "01",
            PERIOD,
            "tthc_received",
            3.0,
            1,
            late["submitted_at"],
            "monthly",
            0,
            0,
        ),
        (
            c4,
            name[c4],
            "79",
            PERIOD,
            "tthc_received",
            9.0,
            1,
            august_due - timedelta(days=1),
            "monthly",
            1,
            0,
        ),
    ]
    expected_01 = reference.communes_expected("01")
    expected_79 = reference.communes_expected("79")
    assert seen["province_indicators"] == [
        (
            "01",
            reference.provinces["01"].name,
            PERIOD,
            "tthc_received",
            10.0,
            3,
            expected_01,
            T0.replace(minute=2),
            "monthly",
            august_due,
            "final",
            1,
            0,
        ),
        # the older worker's figure: its deadline filled in from the period by the sink
        (
            "79",
            reference.provinces["79"].name,
            PERIOD,
            "tthc_received",
            9.0,
            1,
            expected_79,
            T0.replace(minute=1),
            "monthly",
            august_due,
            "approved",
            0,
            0,
        ),
    ]
    assert [(r[0], r[2], r[6], r[7]) for r in seen["rejected_reports"]] == [
        (f"{topics.commune_reports}:0:17", "99999", "empty_report", None),
        (f"{topics.commune_reports}:0:17", "99999", "unknown_commune", "commune_code"),
    ]
    completeness = {row[0]: row for row in seen["province_completeness"]}
    assert len(completeness) == 34
    assert completeness["01"][:11] == (
        "01",
        "monthly",
        PERIOD,
        expected_01,
        3,
        2,
        1,
        expected_01 - 3,
        round(300 / expected_01, 1),
        round(200 / expected_01, 1),
        august_due,
    )
    assert completeness["79"][3:8] == (expected_79, 0, 0, 0, expected_79)
    assert completeness["79"][-1] == "approved" and completeness["01"][-1] == "final"
    # The nation expects every unit but Đặc khu Hoàng Sa (no administration on site).
    assert seen["national_completeness"][0][:7] == ("monthly", PERIOD, 3320, 3, 2, 1, 3317)
    assert seen["national_indicators"] == [
        (PERIOD, "tthc_received", 19.0, 2, 4, 3321, "monthly", august_due, "final")
    ]
    assert [row[5:10] for row in seen["province_indicator_history"]] == [
        (2, 10.0, 6.0, 4.0, T0.replace(hour=9))
    ]
    assert [(row[2], row[7], row[8]) for row in seen["report_warnings"]] == [
        (c1, 2, "far_from_history")
    ]
    assert [row[:5] for row in seen["period_approvals"]] == [
        ("79", "monthly", PERIOD, "so-noi-vu-79", T0.replace(day=10))
    ]
    # Every commune of the announced period that has no accepted report, all overdue.
    missing = {row[1]: row[2:] for row in seen["missing_reports"]}
    assert missing["01"] == (expected_01 - 3, expected_01 - 3)
    assert missing["79"] == (expected_79 - 1, expected_79 - 1)
    # Less Đặc khu Hoàng Sa, which owes no report (no administration on site).
    assert sum(count for count, _ in missing.values()) == 3321 - 4 - 1
    assert seen["missing_report_alerts"] == [
        (f"01|monthly|{PERIOD}|overdue", "overdue", list(reference.communes_by_province["01"][3:]))
    ]

    # Replay everything with a new consumer group: rows are written again, views unchanged.
    replay = fast(test_settings, group_id=f"{test_settings.sink.group_id}-replay")
    with running_sink(replay, max_idle_seconds=3) as (again, thread):
        thread.join(timeout=60)
        assert not thread.is_alive(), "--max-idle-seconds did not stop the sink"
    assert again.records == len(messages)
    assert again.rows_written == stats.rows_written
    assert prepared.execute("SELECT count() FROM commune_reports FINAL") == [(4,)]
    assert views(prepared) == seen


def test_poison_messages_are_kept_and_the_sink_goes_on(
    test_settings: Settings, prepared: Client
) -> None:
    topics = Topics(test_settings.kafka.topic_prefix)
    (commune,) = communes_of("01", 1)
    valid = report_message(topics, commune, 1, {"births": 4.0})
    negative = report_message(topics, commune, 1, {"births": 4.0})
    negative_record = codec_for("commune_report.v1").decode(negative[2] or b"")
    negative_record["revision"] = -1  # Avro can carry it; the UInt32 column cannot
    single = 0
    messages: list[Message] = [
        (topics.accepted_reports, b"k", b"\x00 not avro"),
        (topics.province_indicators, b"k", None),
        (topics.accepted_reports, b"k", codec_for("commune_report.v1").encode(negative_record)),
        valid,
    ]
    settings = fast(test_settings)
    # All on one partition, so the valid record is consumed after the poison ones.
    producer = kafka.producer(settings.kafka)
    try:
        for topic, key, value in messages:
            producer.send(topic, key=key, value=value, partition=single)
        producer.flush(timeout=30)
    finally:
        producer.close()

    with running_sink(settings) as (stats, _):
        eventually(lambda: stats.records == len(messages), what="the sink to consume every record")
        eventually(lambda: all_committed(settings), what="the offsets to be committed")
    assert stats.poison == 3
    poison = prepared.execute(
        "SELECT source_topic, source_partition, source_offset, message_key, hex(raw_payload),"
        " error"
        " FROM sink_poison_messages FINAL ORDER BY source_topic, source_offset"
    )
    assert [row[:4] for row in poison] == [
        (topics.accepted_reports, 0, 0, "k"),
        (topics.accepted_reports, 0, 1, "k"),
        (topics.province_indicators, 0, 0, "k"),
    ]
    assert bytes.fromhex(poison[0][4]) == b"\x00 not avro"
    assert poison[0][5].startswith("DecodeError: not Avro single-object encoding")
    assert poison[1][5] == "RowError: revision -1 is outside the column's range 0..4294967295"
    assert poison[2][4] == "" and "tombstone" in poison[2][5]
    assert prepared.execute(
        "SELECT commune_code, indicator_code, value FROM commune_indicators"
    ) == [(commune, "births", 4.0)]


def test_clickhouse_outage_is_retried_and_offsets_wait_for_success(
    test_settings: Settings, prepared: Client
) -> None:
    topics = Topics(test_settings.kafka.topic_prefix)
    c1, c2 = communes_of("01", 2)
    settings = fast(test_settings)
    first = [
        report_message(topics, c1, 1, {"births": 1.0}),
        figure_message(topics, "01", "births", 1, 1.0, 1),
    ]
    second = [
        report_message(topics, c2, 1, {"births": 2.0}),
        figure_message(topics, "01", "births", 2, 3.0, 2),
    ]

    def figures_of(offsets: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        return {tp: at for tp, at in offsets.items() if tp.topic == topics.province_indicators}

    with running_sink(settings) as (stats, _):
        publish(settings, first)
        eventually(lambda: stats.batches >= 1 and all_committed(settings), what="the first batch")
        before = committed(settings)

        prepared.execute("DETACH TABLE province_indicator_values")
        try:
            publish(settings, second)
            eventually(lambda: stats.retries >= 3, what="the sink to retry the refused insert")
            # The figure's offset waits for its insert. (The report may have come in a batch
            # of its own, drained before the figure was fetched: written, then committed.)
            assert figures_of(committed(settings)) == figures_of(before), (
                "offsets were committed before the insert"
            )
            # The table that did accept its rows keeps them; only the failed one is retried.
            assert prepared.execute(
                "SELECT count() FROM commune_reports WHERE commune_code = %(c)s", {"c": c2}
            ) == [(1,)]
        finally:
            prepared.execute("ATTACH TABLE province_indicator_values")

        eventually(lambda: all_committed(settings), what="the batch to be written and committed")
        assert committed(settings) != before
    assert stats.poison == 0
    assert stats.rows_written == {"commune_reports": 2, "province_indicator_values": 2}
    assert prepared.execute("SELECT count() FROM commune_reports") == [(2,)]  # no duplicate
    assert prepared.execute(
        "SELECT province_code, indicator_code, value, communes_reported FROM province_indicators"
    ) == [("01", "births", 3.0, 2)]


def test_a_lone_record_is_written_when_the_input_is_drained_not_when_the_window_ends(
    test_settings: Settings, prepared: Client
) -> None:
    # A 30-second flush interval: a sink that waits for it to end would hold the row 30 s.
    topics = Topics(test_settings.kafka.topic_prefix)
    settings = fast(test_settings, flush_interval_seconds=30.0)
    c1, c2 = communes_of("01", 2)

    def stored(commune: str) -> bool:
        return prepared.execute(
            "SELECT count() FROM commune_reports WHERE commune_code = %(c)s", {"c": commune}
        ) == [(1,)]

    with running_sink(settings) as (stats, _):
        publish(settings, [report_message(topics, c1, 1, {"births": 1.0})])
        eventually(lambda: stored(c1), what="the first row (the sink has joined its group)")
        eventually(lambda: all_committed(settings), what="the first row's offset")

        sent = time.monotonic()
        publish(settings, [report_message(topics, c2, 1, {"births": 2.0})])
        eventually(lambda: stored(c2), what="the second row", timeout=30, interval=0.05)
        assert time.monotonic() - sent < 5.0
        eventually(lambda: all_committed(settings), what="the second row's offset")
    assert stats.batches == 2


def test_inserts_start_no_closer_than_the_minimum_interval(
    test_settings: Settings, prepared: Client
) -> None:
    """A trickle of records, each drained on its own, is written in a few inserts when they
    must start a second apart: what comes meanwhile joins the waiting batch, and nothing is
    lost or written twice (without the interval: one insert per record)."""
    topics = Topics(test_settings.kafka.topic_prefix)
    settings = fast(test_settings, flush_interval_seconds=30.0, min_insert_interval_seconds=1.0)
    first, *trickle = communes_of("01", 13)
    writer = kafka.producer(settings.kafka)
    with running_sink(settings) as (stats, _):
        publish(settings, [report_message(topics, first, 1, {"births": 1.0})])
        eventually(
            lambda: prepared.execute("SELECT count() FROM commune_reports") == [(1,)],
            what="the first row (the sink has joined its group)",
        )
        sent = time.monotonic()
        for commune in trickle:  # 12 records over 1.2 s, each alone in its fetch
            topic, key, value = report_message(topics, commune, 1, {"births": 1.0})
            writer.send(topic, key=key, value=value)
            writer.flush()
            time.sleep(0.1)
        writer.close()
        eventually(
            lambda: prepared.execute("SELECT count() FROM commune_reports") == [(13,)],
            what="the trickle's rows",
            timeout=30,
            interval=0.05,
        )
        landed = time.monotonic() - sent
        eventually(lambda: all_committed(settings), what="the trickle's offsets")
    # 1.2 s of trickle after an insert: at most 3 more inserts a second apart (4 if the
    # machine stalled the producer), not 12.
    assert 2 <= stats.batches <= 5, stats.snapshot()
    assert landed < 5.0
    stored = prepared.execute("SELECT uniqExact(commune_code), count() FROM commune_reports")
    assert stored == [(13, 13)]  # every record, once


def test_the_broker_holds_an_empty_fetch_of_the_sink_briefly(test_settings: Settings) -> None:
    """kafka-python leaves out of a fetch the partitions whose last answer is not handed over
    yet: their new records wait until that fetch returns, at most the broker's hold (Kafka's
    default, 0.5 s, was the freshness p99 at 200 reports/s; docs/clickhouse.md)."""
    for settings, held_ms in (
        (test_settings, 50),
        (fast(test_settings, fetch_max_wait_seconds=0.2), 200),
    ):
        consumer = sink_consumer(settings)
        try:
            assert consumer.config["fetch_max_wait_ms"] == held_ms
            assert consumer.config["group_id"] == settings.sink.group_id
        finally:
            consumer.close()


def test_sink_command_stops_when_idle_and_on_sigterm(
    test_settings: Settings, prepared: Client
) -> None:
    topics = Topics(test_settings.kafka.topic_prefix)
    settings = fast(test_settings)
    env = environment(settings)
    baocao = str(Path(sys.executable).with_name("baocao"))
    c1, c2 = communes_of("01", 2)
    publish(settings, [report_message(topics, c1, 1, {"births": 1.0})])

    idle = subprocess.run(
        [baocao, "sink", "--max-idle-seconds", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert idle.returncode == 0, idle.stderr
    assert "flushed 1 records" in idle.stderr
    assert "no message for" in idle.stderr
    assert all_committed(settings)

    port = free_port()
    process = subprocess.Popen(
        [baocao, "sink", "--metrics-port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Submitted just now: the freshness metric observes a few seconds at most.
        now = datetime.now(UTC)
        fresh = records.accepted_report(c2, "2025-08", 1, submitted_at=now)
        publish(settings, [records.message(topics, "accepted_reports", f"{c2}|2025-08", fresh)])
        eventually(
            lambda: prepared.execute("SELECT count() FROM commune_indicators") == [(2,)],
            what="the running command to write the second report",
        )

        def metric_written() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    text = r.read().decode()
            except OSError:
                return False
            lags = [
                line
                for line in text.splitlines()
                if line.startswith("baocao_sink_consumer_lag{") and "accepted" in line
            ]
            return (
                'baocao_sink_rows_written_total{table="commune_reports"} 1.0' in text
                and 'baocao_report_freshness_seconds_bucket{le="60.0"} 1.0' in text
                # consumed up to the end of the accepted reports' partitions
                and bool(lags)
                and all(line.endswith(" 0.0") for line in lags)
            )

        eventually(metric_written, what="the metrics endpoint to count the row")
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "SIGTERM received" in stderr
    assert "sink stopped" in stderr
    assert all_committed(settings)


def test_stopping_during_an_outage_commits_nothing_and_the_next_run_writes_the_batch(
    test_settings: Settings, prepared: Client
) -> None:
    topics = Topics(test_settings.kafka.topic_prefix)
    (commune,) = communes_of("01", 1)
    settings = fast(test_settings)
    prepared.execute("DETACH TABLE commune_reports")
    try:
        publish(settings, [report_message(topics, commune, 1, {"births": 7.0})])
        with running_sink(settings) as (stats, _):
            eventually(lambda: stats.retries >= 2, what="the sink to retry the refused insert")
        assert stats.batches == 0
        assert committed(settings) == {}, "offsets were committed without the rows"
    finally:
        prepared.execute("ATTACH TABLE commune_reports")

    with running_sink(settings, max_idle_seconds=2) as (again, thread):
        thread.join(timeout=60)
    assert again.records == 1 and again.retries == 0
    assert all_committed(settings)
    assert prepared.execute(
        "SELECT commune_code, indicator_code, value FROM commune_indicators"
    ) == [(commune, "births", 7.0)]
