"""Dead letters that stay small whatever arrived.

Rule: every part of a dead letter has a bound (:class:`DeadLetterLimits`): the raw event up
to ``max_payload_bytes`` with its size and SHA-256, at most ``max_reasons`` reasons, every
message and identifying field cut. An unbounded one can exceed the producer's limit and stop
the worker on one record (docs/worker.md, "No record stops the worker").
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from baocao.core.reasons import Reason, ReasonCode

__all__ = ["DeadLetterLimits", "bounded_identity", "bounded_raw", "bounded_reasons"]

#: Characters kept of a reason's message and of an identifying field.
MAX_MESSAGE_CHARS = 500
MAX_FIELD_CHARS = 100
_CUT = "…"


@dataclass(frozen=True, slots=True)
class DeadLetterLimits:
    """How much of a refused event and of its reasons a dead letter keeps."""

    max_payload_bytes: int = 64 * 1024
    max_reasons: int = 20

    def __post_init__(self) -> None:
        if self.max_payload_bytes < 0 or self.max_reasons < 1:
            raise ValueError(f"invalid dead-letter limits {self!r}")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(_CUT)] + _CUT


def bounded_raw(raw: bytes, limits: DeadLetterLimits) -> dict[str, Any]:
    """The ``raw_*`` fields of a dead letter: the event's first bytes, its size and hash."""
    kept = raw[: limits.max_payload_bytes]
    return {
        "raw_payload": kept,
        "raw_size": len(raw),
        "raw_sha256": hashlib.sha256(raw).hexdigest(),
        "raw_truncated": len(kept) < len(raw),
    }


def bounded_reasons(reasons: Sequence[Reason], limits: DeadLetterLimits) -> list[dict[str, Any]]:
    """The reasons as Avro records, at most ``max_reasons``, each message cut to size."""
    kept = list(reasons)
    if len(kept) > limits.max_reasons:
        dropped = kept[limits.max_reasons - 1 :]
        kept = kept[: limits.max_reasons - 1]
        codes = ", ".join(f"{code} ×{n}" for code, n in Counter(r.code for r in dropped).items())
        kept.append(
            Reason(
                code=ReasonCode.MORE_REASONS,
                message_en=f"{len(dropped)} more reasons not listed ({codes})",
                message_vi=f"Còn {len(dropped)} lý do khác không được liệt kê ({codes})",
            )
        )
    return [
        {
            "code": str(r.code),
            "field": _cut(r.field, MAX_FIELD_CHARS) if r.field is not None else None,
            "message_en": _cut(r.message_en, MAX_MESSAGE_CHARS),
            "message_vi": _cut(r.message_vi, MAX_MESSAGE_CHARS),
        }
        for r in kept
    ]


def bounded_identity(identity: Mapping[str, Any]) -> dict[str, Any]:
    """The identifying fields of a refused report with every string cut to size."""
    return {
        name: _cut(value, MAX_FIELD_CHARS) if isinstance(value, str) else value
        for name, value in identity.items()
    }
