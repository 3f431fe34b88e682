"""The officers' approval steps from the dashboard: approve, send a commune's report back,
unapprove, accept nationally. Each is published as an ``approval.v2`` event (as the
``approver`` principal) and decided by the worker, never here: the web app only checks who
may ask (their scope, national acceptance for national officers) and the input, then shows
the worker's decision when the views have it (``approval_audit``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import HTTPException
from pydantic import BaseModel, Field

from baocao.app.dashboard.officers import Officer
from baocao.core.instants import whole_millis
from baocao.core.reference import load_reference
from baocao.producers.approve import ApprovalError, approval

__all__ = ["StepPublisher", "StepRequest", "step_record"]

#: Publishes an approval record and waits for Kafka's acknowledgement (raises PublishError).
StepPublisher = Callable[[Mapping[str, Any]], Any]


class StepRequest(BaseModel):
    action: Literal["approve", "return", "unapprove", "accept"]
    report_type: str = Field(max_length=16)
    period: str = Field(max_length=16)
    commune: str | None = Field(default=None, pattern=r"^\d{5}$")
    note: str | None = Field(default=None, max_length=1000)
    #: The version of the period's state the page showed: a step on another is refused.
    based_on_version: int = Field(ge=0)
    #: Approving a period with missing communes needs this, after the page named them.
    confirm_missing: bool = False


def step_record(officer: Officer, province: str, step: StepRequest) -> dict[str, Any]:
    """The approval event of ``step`` by ``officer``; 403 for a step above their level, 422
    for input the worker could not apply."""
    if step.action == "accept" and officer.province is not None:
        raise HTTPException(
            403,
            {
                "error": "national_only",
                "message_vi": "Chỉ cán bộ trung ương được tiếp nhận.",
                "message_en": "Only a national officer accepts a period.",
            },
        )
    try:
        return approval(
            province=province,
            period=step.period,
            report_type=step.report_type,
            approved_by=officer.login_id,
            note=step.note,
            approved_at=whole_millis(datetime.now(UTC)),
            reference=load_reference(),
            action=step.action,
            commune=step.commune,
            based_on_version=step.based_on_version,
        )
    except ApprovalError as exc:
        raise HTTPException(
            422,
            {
                "error": "bad_step",
                "message_en": str(exc),
                "message_vi": f"Yêu cầu không hợp lệ: {exc}",
            },
        ) from exc
