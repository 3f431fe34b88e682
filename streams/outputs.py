"""The records the worker publishes, built from its decisions: accepted reports, warnings,
dead letters, figures, figure changes and completeness.

Rule: every record goes through :meth:`~baocao.streams.records.OutputRecord.of` (topic,
schema and key from the spec), and a record assembled by hand (an accepted report's
indicators, a change's causes) is byte for byte what fastavro writes for its payload
(docs/worker.md, "Hand-built outputs").
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, overload

from baocao.core.avro import codec_for
from baocao.core.avro_binary import (
    AVRO_INT,
    NULL_BRANCH,
    SECOND_BRANCH,
    avro_double_map_items,
    avro_long,
    avro_optional_double,
    avro_string,
    encode_with_array,
    pack_double,
)
from baocao.core.catalogue import Catalogue, Indicator
from baocao.core.instants import from_millis
from baocao.core.models import CommuneReport
from baocao.core.periods import Period
from baocao.core.reasons import Reason
from baocao.core.soft_rules import RuleBreak
from baocao.core.topics import (
    ACCEPTED_REPORTS,
    DEAD_LETTER,
    PROVINCE_COMPLETENESS,
    PROVINCE_INDICATOR_CHANGES,
    PROVINCE_INDICATORS,
    REPORT_WARNINGS,
    Topics,
)
from baocao.streams.dead_letters import (
    DeadLetterLimits,
    bounded_identity,
    bounded_raw,
    bounded_reasons,
)
from baocao.streams.records import OutputRecord, SourceRecord
from baocao.streams.rollup import LatestReport, ProvinceFigure

__all__ = ["Cause", "Move", "Outputs", "moved_by"]


@dataclass(frozen=True, slots=True)
class Cause:
    """An accepted revision of the batch, with the revision it replaced (for history and
    for the province's aggregate)."""

    commune_code: str
    report_id: str
    revision: int
    previous: Mapping[str, float]
    current: Mapping[str, float]
    before: LatestReport | None
    after: LatestReport
    #: The first three fields of its ``ChangeCause`` item, the same in every change it causes.
    identity: bytes

    @classmethod
    def of(cls, commune_code: str, before: LatestReport | None, after: LatestReport) -> Cause:
        return cls(
            commune_code,
            after.report_id,
            after.revision,
            before.indicators if before is not None else {},
            after.indicators,
            before,
            after,
            avro_string(commune_code) + avro_string(after.report_id) + avro_long(after.revision),
        )


#: One cause of one figure change: the revision, the commune's value before and in it, and
#: the encoded ``ChangeCause`` item.
Move = tuple[Cause, float | None, float | None, bytes]


class Outputs:
    """Builds the worker's output records on ``topics``."""

    def __init__(self, topics: Topics, dead_letters: DeadLetterLimits) -> None:
        self._topics = topics
        self._dead_letters = dead_letters
        self._accepted_codec = codec_for(ACCEPTED_REPORTS.writes)
        self._change_codec = codec_for(PROVINCE_INDICATOR_CHANGES.writes)

    def accepted(
        self, report: CommuneReport, period: Period, latest: LatestReport, due_ms: int
    ) -> OutputRecord:
        head = {
            **_report_fields(report, period),
            "submitted_at": latest.submitted_at_ms,
            "first_submitted_at": latest.first_submitted_at_ms,
            "accepted_at": latest.accepted_at_ms,
            "deadline": due_ms,
            "on_time": latest.first_submitted_at_ms <= due_ms,
            "amended": latest.amended,
            "indicators": {},
        }
        # The indicators (the last field) are spliced in.
        encoded = encode_with_array(
            self._accepted_codec.encode(head), avro_double_map_items(report.indicators)
        )
        payload = {**head, "indicators": dict(report.indicators)}
        return OutputRecord.of(self._topics, ACCEPTED_REPORTS, payload, value=encoded)

    def warning(
        self, report: CommuneReport, period: Period, rule: RuleBreak, event_ms: int
    ) -> OutputRecord:
        payload = {
            "warning_id": f"{report.report_id}:{rule.rule_code}:{rule.indicator_code or ''}",
            **_report_fields(report, period),
            "rule_code": rule.rule_code,
            "indicator_code": rule.indicator_code,
            "value": rule.value,
            "reference_value": rule.reference_value,
            "message_en": rule.message_en,
            "message_vi": rule.message_vi,
            # Event time: a replay raises the very same record.
            "raised_at": from_millis(event_ms),
        }
        return OutputRecord.of(self._topics, REPORT_WARNINGS, payload)

    def rejected(
        self,
        record: SourceRecord,
        data: Mapping[str, Any] | None,
        reasons: Sequence[Reason],
        *,
        rejected_at: datetime,
    ) -> OutputRecord:
        """A dead letter with every reason and as much of the report as could be read."""
        payload = {
            "rejection_id": record.rejection_id,
            **bounded_identity(dict(_identity(data or {}))),
            "reasons": bounded_reasons(reasons, self._dead_letters),
            **bounded_raw(record.value or b"", self._dead_letters),
            "source_topic": record.topic,
            "source_partition": record.partition,
            "source_offset": record.offset,
            "rejected_at": rejected_at,
        }
        return OutputRecord.of(self._topics, DEAD_LETTER, payload)

    def figure(
        self, figure: ProvinceFigure, period: Period, due_ms: int, version: int, updated_at: int
    ) -> OutputRecord:
        payload = {
            "province_code": figure.province_code,
            "period": period.text,
            "indicator_code": figure.indicator_code,
            "value": figure.value,
            "numerator": figure.numerator,
            "denominator": figure.denominator,
            "communes_reported": figure.communes_reported,
            "version": version,
            "updated_at": updated_at,
            "report_type": str(period.report_type),
            "deadline": due_ms,
            "communes_with_warnings": figure.communes_with_warnings,
            "communes_amended": figure.communes_amended,
        }
        return OutputRecord.of(self._topics, PROVINCE_INDICATORS, payload)

    def change(
        self,
        figure: ProvinceFigure,
        period: Period,
        version: int,
        previous: float | None,
        known_at: int,
        moves: Sequence[Move],
    ) -> OutputRecord:
        """A figure's new value, with the batch's revisions that moved the commune's share
        (``moves``: those that changed the indicator, or a part of it for a ratio)."""
        head = {
            "province_code": figure.province_code,
            "report_type": str(period.report_type),
            "period": period.text,
            "indicator_code": figure.indicator_code,
            "version": version,
            "value": figure.value,
            "previous_value": previous,
            "known_at": known_at,
            "causes": [],
        }
        encoded = encode_with_array(self._change_codec.encode(head), [m[3] for m in moves])
        payload = {**head, "causes": _CauseItems(moves)}
        return OutputRecord.of(self._topics, PROVINCE_INDICATOR_CHANGES, payload, value=encoded)

    def completeness(
        self,
        province: str,
        period: Period,
        *,
        due_ms: int,
        expected: int,
        reported: int,
        on_time: int,
        version: int,
        updated_at: int,
    ) -> OutputRecord:
        payload = {
            "province_code": province,
            "report_type": str(period.report_type),
            "period": period.text,
            "deadline": due_ms,
            "communes_expected": expected,
            "communes_reported": reported,
            "communes_on_time": on_time,
            "communes_late": reported - on_time,
            "version": version,
            "updated_at": updated_at,
        }
        return OutputRecord.of(self._topics, PROVINCE_COMPLETENESS, payload)


class _CauseItems(Sequence[dict[str, Any]]):
    """The ``causes`` of a change payload, made into dicts only if someone reads them (the
    published bytes are assembled without them)."""

    def __init__(self, moves: Sequence[Move]) -> None:
        self._moves = moves

    def __len__(self) -> int:
        return len(self._moves)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(list(self))

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        cause, before, after, _ = self._moves[index]
        return {
            "commune_code": cause.commune_code,
            "report_id": cause.report_id,
            "revision": cause.revision,
            "previous_value": before,
            "value": after,
        }


def moved_by(causes: Sequence[Cause], catalogue: Catalogue) -> dict[str, list[Move]]:
    """indicator code -> the causes that changed the commune's value of it (in batch order),
    each with its values and its encoded item: one pass over each cause's figures, not one
    per figure and cause. For a ratio, the causes that changed a part, with the commune's
    own ratio before and after. (The hottest loop of a batch: the item encoding of
    :func:`~baocao.core.avro_binary.avro_optional_double` is inlined.)"""
    moved: dict[str, list[Move]] = {}
    ratios = [(r, str(r.numerator), str(r.denominator)) for r in catalogue.ratios]
    pack = pack_double
    for cause in causes:
        before, after = cause.previous, cause.current
        identity = cause.identity
        if not before:  # a first revision (most of them) moves every value it has
            first = identity + NULL_BRANCH + SECOND_BRANCH
            for code, new in after.items():
                move = (cause, None, new, first + pack(new))
                found = moved.get(code)
                if found is None:
                    moved[code] = [move]
                else:
                    found.append(move)
            changed: Collection[str] = after.keys()
        else:
            changed = _changed_moves(cause, moved, pack)
        for ratio, numerator, denominator in ratios:
            if numerator in changed or denominator in changed:
                old_ratio, new_ratio = _ratio_of(before, ratio), _ratio_of(after, ratio)
                item = identity + avro_optional_double(old_ratio) + avro_optional_double(new_ratio)
                moved.setdefault(ratio.code, []).append((cause, old_ratio, new_ratio, item))
    return moved


def _changed_moves(
    cause: Cause, moved: dict[str, list[Move]], pack: Callable[..., bytes]
) -> set[str]:
    """Add the moves of a correction (values changed, added or dropped); the codes moved."""
    before, after, identity = cause.previous, cause.current, cause.identity
    null, value_follows = NULL_BRANCH, SECOND_BRANCH
    changed: set[str] = set()
    for code, new in after.items():
        old = before.get(code)
        if old != new:
            changed.add(code)
            was = null if old is None else value_follows + pack(old)
            item = identity + was + value_follows + pack(new)
            moved.setdefault(code, []).append((cause, old, new, item))
    for code, old in before.items():
        if code not in after:  # dropped by the revision
            changed.add(code)
            item = identity + value_follows + pack(old) + null
            moved.setdefault(code, []).append((cause, old, None, item))
    return changed


def _ratio_of(values: Mapping[str, float], indicator: Indicator) -> float | None:
    """One commune's own value of a ratio indicator, ``None`` if it lacks a part (or its
    denominator is zero)."""
    numerator = values.get(str(indicator.numerator))
    denominator = values.get(str(indicator.denominator))
    if numerator is None or denominator is None or not denominator:
        return None
    return numerator / denominator


def _report_fields(report: CommuneReport, period: Period) -> dict[str, Any]:
    """The fields that name a report in the records about it (accepted copy, warnings)."""
    return {
        "report_id": report.report_id,
        "commune_code": report.commune_code,
        "province_code": report.province_code,
        "report_type": str(period.report_type),
        "period": report.period,
        "revision": report.revision,
    }


def _identity(data: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """The identifying fields of a (possibly broken) report, where they have the right type."""
    report_id = data.get("report_id")
    yield "report_id", str(report_id) if isinstance(report_id, str | uuid.UUID) else None
    for name in ("commune_code", "province_code", "period"):
        value = data.get(name)
        yield name, value if isinstance(value, str) else None
    revision = data.get("revision")
    valid = isinstance(revision, int) and not isinstance(revision, bool) and revision in AVRO_INT
    yield "revision", revision if valid else None
