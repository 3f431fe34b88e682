"""Dead letters are bounded whatever arrived: payload, reasons, messages and identity."""

from __future__ import annotations

import hashlib

import pytest

from baocao.core.reasons import ReasonCode, reason
from baocao.streams.dead_letters import (
    MAX_FIELD_CHARS,
    MAX_MESSAGE_CHARS,
    DeadLetterLimits,
    bounded_identity,
    bounded_raw,
    bounded_reasons,
)

LIMITS = DeadLetterLimits(max_payload_bytes=100, max_reasons=3)


def test_a_payload_over_the_limit_is_cut_with_its_full_size_and_hash() -> None:
    raw = bytes(range(256)) * 4

    kept = bounded_raw(raw, LIMITS)

    assert kept == {
        "raw_payload": raw[:100],
        "raw_size": 1024,
        "raw_sha256": hashlib.sha256(raw).hexdigest(),
        "raw_truncated": True,
    }


@pytest.mark.parametrize("raw", [b"", b"x" * 100])
def test_a_payload_within_the_limit_is_kept_whole(raw: bytes) -> None:
    kept = bounded_raw(raw, LIMITS)

    assert (kept["raw_payload"], kept["raw_size"], kept["raw_truncated"]) == (raw, len(raw), False)
    assert kept["raw_sha256"] == hashlib.sha256(raw).hexdigest()


def test_reasons_over_the_limit_end_with_a_count_of_the_others_by_code() -> None:
    reasons = [reason(ReasonCode.UNKNOWN_INDICATOR, f"x{i}") for i in range(5)]
    reasons.append(reason(ReasonCode.VALUE_NOT_FINITE, "y"))

    kept = bounded_reasons(reasons, LIMITS)

    assert [r["code"] for r in kept] == ["unknown_indicator", "unknown_indicator", "more_reasons"]
    assert kept[-1]["message_en"] == (
        "4 more reasons not listed (unknown_indicator ×3, value_not_finite ×1)"
    )
    assert kept[-1]["message_vi"].startswith("Còn 4 lý do khác")


def test_reasons_within_the_limit_are_kept_as_they_are() -> None:
    reasons = [reason(ReasonCode.UNKNOWN_COMMUNE, "'1'", field="commune_code")] * 3

    assert bounded_reasons(reasons, LIMITS) == [r.as_json() for r in reasons]


def test_long_messages_and_identity_fields_are_cut() -> None:
    huge = "9" * 1_000_000
    [kept] = bounded_reasons([reason(ReasonCode.UNKNOWN_COMMUNE, huge, field=huge)], LIMITS)
    identity = bounded_identity({"commune_code": huge, "revision": 3, "period": None})

    assert len(kept["message_en"]) == len(kept["message_vi"]) == MAX_MESSAGE_CHARS
    assert kept["message_en"].endswith("…")
    assert len(kept["field"]) == MAX_FIELD_CHARS
    assert identity == {
        "commune_code": "9" * (MAX_FIELD_CHARS - 1) + "…",
        "revision": 3,
        "period": None,
    }


def test_limits_must_keep_at_least_one_reason() -> None:
    with pytest.raises(ValueError):
        DeadLetterLimits(max_reasons=0)
