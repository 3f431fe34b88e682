"""The pure parts of the sink loop: backoff, offsets to commit, stats and metrics."""

from __future__ import annotations

from collections import namedtuple
from datetime import UTC, datetime

from clickhouse_driver.errors import ServerException
from kafka.structs import OffsetAndMetadata, TopicPartition
from prometheus_client import generate_latest

from baocao.core.clickhouse import describe_error
from baocao.sinks.clickhouse.rows.tables import PROVINCE_COMPLETENESS_VALUES
from baocao.sinks.clickhouse.sink import commit_offsets, retry_delay
from baocao.sinks.clickhouse.writer import columnar
from baocao.sinks.metrics import SinkMetrics, SinkStats

Record = namedtuple("Record", "topic partition offset leader_epoch")


def test_retry_delay_doubles_up_to_the_maximum() -> None:
    delays = [retry_delay(n, initial=0.5, maximum=30.0) for n in range(9)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert retry_delay(10_000, initial=0.5, maximum=30.0) == 30.0


def test_commit_offsets_are_one_past_the_highest_offset_per_partition() -> None:
    records = [
        Record("a", 0, 5, 1),
        Record("a", 0, 7, 1),
        Record("a", 0, 6, 1),
        Record("a", 2, 0, 3),
        Record("b", 0, 41, -1),
    ]
    assert commit_offsets(records) == {
        TopicPartition("a", 0): OffsetAndMetadata(8, "", 1),
        TopicPartition("a", 2): OffsetAndMetadata(1, "", 3),
        TopicPartition("b", 0): OffsetAndMetadata(42, "", -1),
    }
    assert commit_offsets([]) == {}


def test_stats_count_and_mirror_to_prometheus() -> None:
    metrics = SinkMetrics()
    stats = SinkStats(metrics=metrics)
    stats.record_consumed("t", 5)
    stats.record_poison()
    stats.record_retry()
    stats.record_retry()
    stats.record_batch({"commune_reports": 4, "sink_poison_messages": 1}, 0.2)
    stats.record_batch({"commune_reports": 2}, 0.1)
    stats.record_freshness([1.5, 7200.0])
    stats.record_freshness([])
    stats.record_freshness([-3.0])  # a submission stamped ahead of the sink's clock
    assert stats.snapshot() == {
        "records": 5,
        "rows_written": {"commune_reports": 6, "sink_poison_messages": 1},
        "batches": 2,
        "retries": 2,
        "poison": 1,
        "commit_failures": 0,
        "fresh_reports": 3,
        "max_freshness_seconds": 7200.0,
    }
    exposition = generate_latest(metrics.registry).decode()
    assert 'baocao_sink_rows_written_total{table="commune_reports"} 6.0' in exposition
    assert "baocao_sink_insert_retries_total 2.0" in exposition
    assert "baocao_sink_flush_seconds_count 2.0" in exposition
    assert 'baocao_sink_records_consumed_total{topic="t"} 5.0' in exposition
    assert "baocao_report_freshness_seconds_count 3.0" in exposition
    assert "baocao_report_freshness_seconds_sum 7201.5" in exposition
    assert 'baocao_report_freshness_seconds_bucket{le="0.5"} 1.0' in exposition
    assert 'baocao_report_freshness_seconds_bucket{le="2.0"} 2.0' in exposition
    assert 'baocao_report_freshness_seconds_bucket{le="3600.0"} 2.0' in exposition
    assert 'baocao_report_freshness_seconds_bucket{le="21600.0"} 3.0' in exposition


def test_two_metric_sets_do_not_collide() -> None:
    SinkMetrics()
    SinkMetrics()  # a global registry would raise "Duplicated timeseries"


def test_describe_error_drops_the_server_stack_trace() -> None:
    error = ServerException(
        "DB::Exception: Table db.t doesn't exist.. Stack trace:\n\n0. libclickhouse.so", code=60
    )
    assert describe_error(error) == "ClickHouse error 60: DB::Exception: Table db.t doesn't exist.."
    assert describe_error(EOFError()) == "EOFError"
    assert describe_error(OSError("refused\nmore")) == "refused"


def test_columnar_insert_sends_datetimes_as_the_seconds_clickhouse_stores() -> None:
    moment = datetime(2025, 9, 5, 16, 59, 59, 999000, tzinfo=UTC)
    rows = [
        ("01", "monthly", "2025-08", moment, 126, 100, 90, 10, 4, moment),
        ("02", "monthly", "2025-08", moment, 1, 1, 1, 0, 5, moment),
    ]
    columns = columnar(PROVINCE_COMPLETENESS_VALUES, rows)
    assert columns[0] == ["01", "02"] and columns[8] == [4, 5]
    # What clickhouse-driver itself would send for the datetime: whole seconds, truncated.
    assert columns[3] == columns[9] == [int(moment.timestamp())] * 2 == [1757091599] * 2
