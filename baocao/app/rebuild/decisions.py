"""The worker's decisions as its output topics record them, and their comparison.

Compared (the same inputs must give the same decisions, whatever the batches):

* **accepted**: ``(report_id, revision)`` of every record on ``commune-reports.accepted``;
* **refused**: per refused event (``rejection_id``, its source topic, partition and offset),
  the report id and the set of reason codes, from ``commune-reports.dead-letter``;
* **figures**: per province, period and indicator, the value and the communes counted of the
  record with the highest version on ``province-indicators`` (the final figure);
* **completeness**: per province, report type and period, the communes reported, on time and
  late of the highest version on ``province-completeness``;
* **warnings**: ``(report_id, revision, rule, indicator)`` on ``report-warnings``.

Not compared: the figure and completeness *versions* and every change record
(``province-indicator-changes``) count recomputations, one per batch that touched a
province's period, so they depend on batch boundaries; ``updated_at``, ``accepted_at``,
``rejected_at`` and ``raised_at`` are the worker's clock; ``reporting-periods`` and
``alerts.missing-reports`` come from the schedule's timer, i.e. from when it ran.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from baocao.core import kafka
from baocao.core.avro import DecodeError, codec_for
from baocao.core.settings import KafkaSettings
from baocao.core.topics import (
    ACCEPTED_REPORTS,
    DEAD_LETTER,
    PROVINCE_COMPLETENESS,
    PROVINCE_INDICATORS,
    REPORT_WARNINGS,
    Topics,
    TopicSpec,
)

__all__ = ["DECISIONS", "Decision", "DecisionComparison", "compare_decisions", "read_decisions"]

REL_TOL = 1e-9

Record = dict[str, Any]
Extract = Callable[[list[Record]], dict[Any, Any]]


def _accepted(records: list[Record]) -> dict[Any, Any]:
    return {(r["report_id"], r["revision"]): None for r in records}


def _refused(records: list[Record]) -> dict[Any, Any]:
    return {
        r["rejection_id"]: (r["report_id"], tuple(sorted({x["code"] for x in r["reasons"]})))
        for r in records
    }


def _latest(key: Callable[[Record], Any], value: Callable[[Record], Any]) -> Extract:
    def extract(records: list[Record]) -> dict[Any, Any]:
        newest: dict[Any, Record] = {}
        for record in records:
            k = key(record)
            if k not in newest or record["version"] >= newest[k]["version"]:
                newest[k] = record
        return {k: value(r) for k, r in newest.items()}

    return extract


def _warnings(records: list[Record]) -> dict[Any, Any]:
    return {
        (r["report_id"], r["revision"], r["rule_code"], r["indicator_code"]): None for r in records
    }


@dataclass(frozen=True, slots=True)
class Decision:
    """One kind of decision: the topic it is read from and what is compared of it."""

    name: str
    spec: TopicSpec
    extract: Extract


DECISIONS: tuple[Decision, ...] = (
    Decision("accepted", ACCEPTED_REPORTS, _accepted),
    Decision("refused", DEAD_LETTER, _refused),
    Decision(
        "figures",
        PROVINCE_INDICATORS,
        _latest(
            lambda r: (r["province_code"], r["period"], r["indicator_code"]),
            lambda r: (r["value"], r["communes_reported"]),
        ),
    ),
    Decision(
        "completeness",
        PROVINCE_COMPLETENESS,
        _latest(
            lambda r: (r["province_code"], r["report_type"], r["period"]),
            lambda r: (r["communes_reported"], r["communes_on_time"], r["communes_late"]),
        ),
    ),
    Decision("warnings", REPORT_WARNINGS, _warnings),
)


@dataclass(frozen=True, slots=True)
class DecisionComparison:
    name: str
    live: int
    rebuilt: int
    only_live: int
    only_rebuilt: int
    differing: int  # keys in both with another value

    @property
    def equal(self) -> bool:
        return not (self.only_live or self.only_rebuilt or self.differing)


def read_topic(settings: KafkaSettings, topic: str, spec: TopicSpec) -> list[Record]:
    """Every record of ``topic`` up to its current end, decoded (an undecodable one is a
    difference in itself: it is kept as ``{"undecodable": offset}``)."""
    codec = codec_for(spec.writes, *spec.accepts)
    consumer = KafkaConsumer(**kafka.client_options(settings), enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(topic, n) for n in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return []
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records: list[Record] = []
        for message in _until(consumer, ends):
            try:
                records.append(codec.decode(message.value))
            except DecodeError:
                records.append({"undecodable": (message.partition, message.offset)})
        return records
    finally:
        consumer.close()


def _until(consumer: KafkaConsumer, ends: Mapping[TopicPartition, int]) -> Iterator[Any]:
    while any(consumer.position(p) < end for p, end in ends.items()):
        for batch in consumer.poll(timeout_ms=500).values():
            for message in batch:
                if message.offset < ends[TopicPartition(message.topic, message.partition)]:
                    yield message


def read_decisions(settings: KafkaSettings, topics: Topics) -> dict[str, dict[Any, Any]]:
    """Each decision of :data:`DECISIONS` as written on ``topics``' outputs."""
    return {d.name: d.extract(read_topic(settings, topics.name(d.spec), d.spec)) for d in DECISIONS}


def compare_decisions(
    live: Mapping[str, Mapping[Any, Any]], rebuilt: Mapping[str, Mapping[Any, Any]]
) -> list[DecisionComparison]:
    results = []
    for decision in DECISIONS:
        left, right = live[decision.name], rebuilt[decision.name]
        both = left.keys() & right.keys()
        results.append(
            DecisionComparison(
                decision.name,
                len(left),
                len(right),
                len(left.keys() - right.keys()),
                len(right.keys() - left.keys()),
                sum(1 for k in both if not _same(left[k], right[k])),
            )
        )
    return results


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)
