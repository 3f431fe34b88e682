"""The Faust app is configured from settings, without touching the network."""

from __future__ import annotations

import json
import re
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import faust
from faust.types.enums import ProcessingGuarantee

from baocao.core.settings import KafkaSettings, Settings, WorkerSettings
from baocao.streams.app import TABLE_CODEC, create_app, worker_clock


def settings(tmp_path: Path, *, web_port: int) -> Settings:
    return Settings(
        kafka=KafkaSettings(bootstrap_servers="k1:9092,k2:9092", topic_prefix="pre", partitions=6),
        worker=WorkerSettings(app_id="pre-rollup", data_dir=tmp_path / "state", web_port=web_port),
    )


def test_the_app_follows_the_settings(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path, web_port=0))

    conf = app.conf
    assert conf.id == "pre-rollup"
    assert [str(url) for url in conf.broker] == ["kafka://k1:9092", "kafka://k2:9092"]
    assert str(conf.store) == "rocksdb:"
    assert Path(conf.datadir) == tmp_path / "state"
    assert conf.topic_partitions == 6
    assert conf.web_enabled is False
    assert conf.stream_publish_on_commit is False
    assert conf.consumer_auto_offset_reset == "earliest"
    # delivery.store_writes persists changelog offsets at once, which holds for at-least-once only.
    assert conf.processing_guarantee is ProcessingGuarantee.AT_LEAST_ONCE


def test_a_web_port_enables_faust_s_web_server_on_it(tmp_path: Path) -> None:
    conf = create_app(settings(tmp_path, web_port=16099)).conf

    assert (conf.web_enabled, conf.web_port) == (True, 16099)


def test_tables_have_changelogs_named_after_the_app(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path, web_port=0))

    assert set(app.tables) == {
        "latest",
        "versions",
        "approvals",
        "figures",
        "aggregates",
        "obligations",
    }
    for name, table in app.tables.items():
        assert isinstance(table, faust.Table)
        assert table.key_serializer == table.value_serializer == TABLE_CODEC
        assert table.changelog_topic.get_topic_name() == f"pre-rollup-{name}-changelog"
        assert table.partitions == 6


def test_the_agent_consumes_reports_approvals_and_obligations_together(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path, web_port=0))

    [agent] = app.agents.values()
    assert agent.channel.topics == (
        "pre.commune-reports",
        "pre.commune-reports.historic",
        "pre.approvals",
        "pre.reporting-obligations",
    )
    assert agent.channel.partitions == 6  # co-partitioned: same keys, same partition count


def test_the_worker_clock_is_shifted_by_the_offset() -> None:
    shifted = worker_clock(-86_400)()
    now = datetime.now(UTC)

    assert abs((now - shifted) - timedelta(days=1)) < timedelta(seconds=5)
    assert abs(worker_clock(0)() - now) < timedelta(seconds=5)


def test_two_apps_can_live_in_one_process(tmp_path: Path) -> None:
    one = create_app(settings(tmp_path, web_port=0))
    two = create_app(settings(tmp_path, web_port=0))

    assert one is not two and one.tables["latest"] is not two.tables["latest"]


def test_tables_read_state_written_by_the_json_codec_of_earlier_releases(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path, web_port=0))
    table = cast(faust.Table, app.tables["latest"])
    stored = {"report_id": "r", "indicators": {"tthc_received": 0.1 + 0.2}, "warned": ["x"]}
    # What Faust's "json" codec wrote for keys and values before TABLE_CODEC.
    old_key = app.serializers.dumps_key(str, "00070|2025-08", serializer="json")
    old_value = app.serializers.dumps_value(None, stored, serializer="json")

    assert table.key_serializer == table.value_serializer == TABLE_CODEC
    assert app.serializers.dumps_key(str, "00070|2025-08", serializer=TABLE_CODEC) == old_key
    assert app.serializers.loads_value(None, old_value, serializer=TABLE_CODEC) == stored
    assert (
        json.loads(app.serializers.dumps_value(None, stored, serializer=TABLE_CODEC) or b"")
        == stored
    )


def test_a_worker_joins_as_a_static_member_named_after_its_host_and_data_folder(
    tmp_path: Path,
) -> None:
    conf = create_app(settings(tmp_path, web_port=0)).conf
    again = create_app(settings(tmp_path, web_port=0)).conf
    other = Settings(worker=WorkerSettings(data_dir=tmp_path / "other", web_port=0))
    name = conf.consumer_group_instance_id

    assert name == again.consumer_group_instance_id  # a restart rejoins as the same member
    assert name != create_app(other).conf.consumer_group_instance_id
    assert name.startswith(socket.gethostname()[:20].replace(":", "_"))
    assert re.fullmatch(r"[a-zA-Z0-9._-]{1,249}", name)  # Kafka's rule for such names
    dynamic = Settings(worker=WorkerSettings(data_dir=tmp_path, static_membership=False))
    assert create_app(dynamic).conf.consumer_group_instance_id is None


def test_the_group_drops_a_vanished_member_within_the_session_timeout(tmp_path: Path) -> None:
    conf = create_app(settings(tmp_path, web_port=0)).conf

    # Faust's default (60 s) kept a restarted worker without partitions for a minute.
    assert (conf.broker_session_timeout, conf.broker_heartbeat_interval) == (10.0, 3.0)
    assert conf.stream_wait_empty is False  # stopping never waits for a crashed agent
