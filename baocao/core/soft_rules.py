"""Soft rules: figures that look wrong but are not refused.

Rule: a break never refuses a report; it becomes a ``report_warning.v1`` record and flags the
indicators involved. The rules and why they are soft: docs/worker.md, "Soft rules".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from baocao.core.catalogue import Catalogue

__all__ = [
    "FAR_FROM_HISTORY",
    "HISTORY_FACTOR",
    "HISTORY_MINIMUM",
    "RESOLVED_EXCEEDS_RECEIVED",
    "RESOLVED_PARTS_MISMATCH",
    "SUBMITTED_AT_FAR_FROM_RECEIPT",
    "RuleBreak",
    "soft_rule_breaks",
    "timing_break",
]

RESOLVED_EXCEEDS_RECEIVED = "resolved_exceeds_received"
RESOLVED_PARTS_MISMATCH = "resolved_parts_mismatch"
FAR_FROM_HISTORY = "far_from_history"
SUBMITTED_AT_FAR_FROM_RECEIPT = "submitted_at_far_from_receipt"
#: ``far_from_history``: how many times larger (or smaller) is far, and the smallest values
#: compared.
HISTORY_FACTOR = 10.0
HISTORY_MINIMUM = 10.0

_RECEIVED = "tthc_received"
_RESOLVED = "tthc_resolved"
_ON_TIME = "tthc_resolved_on_time"
_LATE = "tthc_resolved_late"


@dataclass(frozen=True, slots=True)
class RuleBreak:
    """One soft rule one report breaks."""

    rule_code: str
    #: The indicator the rule compares (``value`` is its value, or the sum compared);
    #: ``None`` for a rule on the report itself (its ``submitted_at``).
    indicator_code: str | None
    value: float
    reference_value: float
    #: Every indicator the break casts doubt on: these are flagged in the figures.
    involved: frozenset[str]
    message_en: str
    message_vi: str


def _fmt(value: float) -> str:
    return f"{value:g}"


def _differs(a: float, b: float) -> bool:
    return not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def _dossier_breaks(values: Mapping[str, float]) -> list[RuleBreak]:
    breaks: list[RuleBreak] = []
    parts = [values[code] for code in (_ON_TIME, _LATE) if code in values]
    if _RECEIVED in values and parts:
        resolved = math.fsum(parts)
        received = values[_RECEIVED]
        if resolved > received and _differs(resolved, received):
            breaks.append(
                RuleBreak(
                    RESOLVED_EXCEEDS_RECEIVED,
                    _RECEIVED,
                    resolved,
                    received,
                    frozenset({_RECEIVED, _ON_TIME, _LATE} & values.keys()),
                    f"Dossiers resolved on time and late ({_fmt(resolved)}) exceed the "
                    f"dossiers received ({_fmt(received)})",
                    f"Số hồ sơ giải quyết đúng hạn và quá hạn ({_fmt(resolved)}) lớn hơn số hồ "
                    f"sơ tiếp nhận ({_fmt(received)})",
                )
            )
    if _RESOLVED in values and _ON_TIME in values and _LATE in values:
        both = values[_ON_TIME] + values[_LATE]
        if _differs(values[_RESOLVED], both):
            breaks.append(
                RuleBreak(
                    RESOLVED_PARTS_MISMATCH,
                    _RESOLVED,
                    values[_RESOLVED],
                    both,
                    frozenset({_RESOLVED, _ON_TIME, _LATE}),
                    f"Dossiers resolved ({_fmt(values[_RESOLVED])}) differ from those resolved "
                    f"on time plus late ({_fmt(both)})",
                    f"Tổng số hồ sơ đã giải quyết ({_fmt(values[_RESOLVED])}) khác số hồ sơ "
                    f"giải quyết đúng hạn cộng quá hạn ({_fmt(both)})",
                )
            )
    return breaks


def _history_breaks(
    values: Mapping[str, float], previous: Mapping[str, float], previous_period: str
) -> list[RuleBreak]:
    breaks: list[RuleBreak] = []
    for code in sorted(values.keys() & previous.keys()):
        value, before = values[code], previous[code]
        if value < HISTORY_MINIMUM or before < HISTORY_MINIMUM:
            continue
        if value > HISTORY_FACTOR * before or value * HISTORY_FACTOR < before:
            breaks.append(
                RuleBreak(
                    FAR_FROM_HISTORY,
                    code,
                    value,
                    before,
                    frozenset({code}),
                    f"{code} = {_fmt(value)} is far from the commune's {_fmt(before)} in "
                    f"{previous_period} (more than {HISTORY_FACTOR:g} times apart)",
                    f"{code} = {_fmt(value)} chênh lệch lớn so với {_fmt(before)} của xã trong "
                    f"kỳ {previous_period} (gấp hơn {HISTORY_FACTOR:g} lần)",
                )
            )
    return breaks


def soft_rule_breaks(
    indicators: Mapping[str, float],
    *,
    previous: Mapping[str, float] | None,
    previous_period: str,
    catalogue: Catalogue,
) -> list[RuleBreak]:
    """Every soft rule ``indicators`` break; ``previous`` is the commune's latest revision of
    ``previous_period`` (the period before, same report type), if any."""
    breaks = _dossier_breaks(indicators)
    if previous:
        reported = {code: v for code, v in indicators.items() if code in catalogue}
        breaks.extend(_history_breaks(reported, previous, previous_period))
    return breaks


def timing_break(
    submitted_at_ms: int, received_ms: int, *, tolerance_seconds: float
) -> RuleBreak | None:
    """``submitted_at_far_from_receipt`` when the claimed submission time is more than
    ``tolerance_seconds`` from the receive time: ``value`` is the claim minus the receive
    time in seconds, ``reference_value`` the tolerance."""
    offset = (submitted_at_ms - received_ms) / 1000
    if abs(offset) <= tolerance_seconds:
        return None
    return RuleBreak(
        SUBMITTED_AT_FAR_FROM_RECEIPT,
        None,
        offset,
        tolerance_seconds,
        frozenset(),
        f"submitted_at is {_fmt(offset)} s from the time the report was received (more than "
        f"{_fmt(tolerance_seconds)} s); timeliness is judged on the receive time",
        f"thời điểm gửi khai báo lệch {_fmt(offset)} giây so với lúc hệ thống nhận báo cáo "
        f"(quá {_fmt(tolerance_seconds)} giây); đúng hạn được tính theo lúc nhận",
    )
