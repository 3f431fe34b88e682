"""Dead letters of ``rejected_report.v2`` keep the size and SHA-256 of the whole event and
whether its raw payload was cut; a v1 dead letter reads NULL, NULL, 0 for them."""

from __future__ import annotations

from datetime import UTC, datetime

from baocao.core.avro import codec_for
from baocao.core.settings import DeadlineSettings
from baocao.core.topics import Topics
from baocao.sinks.clickhouse.rows.routing import message_row, routes_for
from baocao.sinks.clickhouse.rows.tables import REJECTIONS

TOPICS = Topics("p")
AT = datetime(2025, 9, 2, 3, 0, tzinfo=UTC)
V1: dict[str, object] = {
    "rejection_id": "p.commune-reports:3:41",
    "report_id": None,
    "commune_code": None,
    "province_code": None,
    "period": None,
    "revision": None,
    "reasons": [
        {"code": "message_too_large", "field": None, "message_en": "big", "message_vi": "lớn"}
    ],
    "raw_payload": b"\x00" * 16,
    "source_topic": "p.commune-reports",
    "source_partition": 3,
    "source_offset": 41,
    "rejected_at": AT,
}


def _stored(schema: str, record: dict[str, object]) -> dict[str, object]:
    placed = message_row(
        routes_for(TOPICS, deadlines=DeadlineSettings()).get(TOPICS.dead_letter),
        topic=TOPICS.dead_letter,
        partition=0,
        offset=1,
        key=None,
        value=codec_for(schema).encode(record),
        received_at=AT,
    )
    assert placed.error is None and placed.table is REJECTIONS
    return dict(zip(REJECTIONS.columns, placed.row, strict=True))


def test_a_cut_dead_letter_keeps_the_size_and_digest_of_the_whole_event() -> None:
    digest = "ab" * 32
    row = _stored(
        "rejected_report.v2",
        {**V1, "raw_size": 1_000_010, "raw_sha256": digest, "raw_truncated": True},
    )
    assert (row["raw_payload"], row["raw_size"], row["raw_sha256"], row["raw_truncated"]) == (
        b"\x00" * 16,
        1_000_010,
        digest,
        1,
    )


def test_a_v1_dead_letter_reads_unknown_size_and_not_cut() -> None:
    row = _stored("rejected_report.v1", V1)
    assert (row["raw_size"], row["raw_sha256"], row["raw_truncated"]) == (None, None, 0)
    assert row["rejection_id"] == "p.commune-reports:3:41"
