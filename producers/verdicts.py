"""The verdict on one submitted report, whatever it arrived in: a JSON line, an HTTP body, a
spreadsheet row.

Every way into the pipeline judges a report with the same three steps, so a commune gets the
same answer (and the same reason codes) from ``baocao publish``, ``baocao import`` and the HTTP
gateway as from the stream: the bytes must be UTF-8 JSON, the document must have the report's
shape (:func:`baocao.core.models.parse_report`) and the report must meet the semantic rules
(:func:`baocao.core.validation.validate_report`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from baocao.core.catalogue import Catalogue
from baocao.core.models import CommuneReport, parse_report
from baocao.core.reasons import Reason, ReasonCode, reason
from baocao.core.reference import ReferenceData
from baocao.core.validation import validate_report

__all__ = ["Verdict", "decode_text", "judge_document", "parse_json"]

logger = logging.getLogger(__name__)

_BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class Verdict:
    """A report and what is wrong with it."""

    #: ``None`` when the document does not even have the shape of a report.
    report: CommuneReport | None
    #: Structural problems (``report`` is ``None``) or semantic ones (the report breaks rules).
    reasons: tuple[Reason, ...] = ()

    @property
    def valid(self) -> bool:
        return self.report is not None and not self.reasons


def decode_text(data: bytes, *, strip_bom: bool) -> tuple[str, Reason | None]:
    """The bytes as text, or the undecodable bytes shown with replacement characters and the
    reason (``malformed_event``). A leading byte-order mark is dropped with ``strip_bom``
    (spreadsheet software writes one at the start of a file)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        shown = data.decode("utf-8", errors="replace")
        return shown, reason(ReasonCode.MALFORMED_EVENT, f"not UTF-8 text ({exc})")
    return (text.removeprefix(_BOM) if strip_bom else text), None


def parse_json(text: str) -> tuple[Any, Reason | None]:
    """The JSON document, or ``None`` and the reason (``malformed_event``); never raises,
    also not on nesting too deep for the parser or numbers too long to convert."""
    try:
        return json.loads(text), None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        return None, reason(ReasonCode.MALFORMED_EVENT, f"not valid JSON ({exc})")


def judge_document(document: object, *, reference: ReferenceData, catalogue: Catalogue) -> Verdict:
    """Shape first (a document that is not a report has no semantics to check), then every
    semantic rule, each failure a reason."""
    report, problems = parse_report(document)
    if report is None:
        return Verdict(report=None, reasons=tuple(problems))
    return Verdict(report=report, reasons=tuple(validate_report(report, reference, catalogue)))
