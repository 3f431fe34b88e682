"""The approval state of one province's period, and the worker's decision on each step.

A period is ``open``, ``approved`` or ``accepted`` (national acceptance, "tiếp nhận": final).
Steps: ``approve`` (open -> approved), ``return`` (send a commune's report back with a note,
while open), ``unapprove`` (approved -> open, with a reason), ``accept`` (approved ->
accepted). The history of applied steps is kept, and each step and each report is judged at
its own time: a report is locked when the period was approved or accepted at the report's
time; a step is refused when the period changed after the moment it was taken (a stale page,
or two officers at once), or when it names a version the officer saw that is no longer the
current one. Refusals carry their reason in English and Vietnamese.

Pure: the state is a JSON-able dict the worker keeps in its ``approvals`` table (an entry
written by workers before these steps, the earliest approval alone, is read as a history of
that one approval).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from baocao.core.instants import from_millis
from baocao.core.models import LOCAL_TIMEZONE

__all__ = [
    "ACTIONS",
    "Step",
    "StepDecision",
    "decide_step",
    "locking_step_at",
    "returned_communes",
]

ACTIONS = ("approve", "return", "unapprove", "accept")
_STATE_AFTER = {"approve": "approved", "unapprove": "open", "accept": "accepted"}


@dataclass(frozen=True, slots=True)
class Step:
    """One officer's step as the approval event carries it."""

    approval_id: str
    action: str
    actor: str
    at_ms: int
    note: str | None = None
    commune: str | None = None
    based_on_version: int | None = None
    report_type: str = ""


@dataclass(frozen=True, slots=True)
class StepDecision:
    """Applied (``reason_code`` None) with the state after it, or refused with a reason."""

    state: dict[str, Any]
    reason_code: str | None = None
    reason_en: str | None = None
    reason_vi: str | None = None

    @property
    def applied(self) -> bool:
        return self.reason_code is None

    @property
    def current(self) -> str:
        return str(self.state["state"])

    @property
    def version(self) -> int:
        return int(self.state["version"])


def _when(at_ms: int) -> str:
    return from_millis(at_ms).astimezone(LOCAL_TIMEZONE).isoformat(timespec="seconds")


def _normalised(held: Mapping[str, Any] | None) -> dict[str, Any]:
    """A state of this module's shape (an entry of an earlier worker: its one approval)."""
    if held is None:
        return {"state": "open", "version": 0, "history": [], "returned": {}}
    if "history" in held:
        return {
            "state": held["state"],
            "version": int(held["version"]),
            "history": [dict(h) for h in held["history"]],
            "returned": {c: dict(r) for c, r in held.get("returned", {}).items()},
            **{k: held[k] for k in ("report_type",) if k in held},
        }
    first = {
        "id": str(held["approval_id"]),
        "action": "approve",
        "by": held["approved_by"],
        "at_ms": int(held["approved_at_ms"]),
        "state": "approved",
    }
    return {
        "state": "approved",
        "version": 1,
        "history": [first],
        "returned": {},
        "report_type": held.get("report_type", ""),
    }


def _state_at(state: Mapping[str, Any], at_ms: int) -> tuple[str, Mapping[str, Any] | None]:
    """The period's state at ``at_ms`` and the step that made it (None: open from the start)."""
    made: Mapping[str, Any] | None = None
    for step in state["history"]:
        if int(step["at_ms"]) <= at_ms and step["action"] != "return":
            made = step
    return ("open", None) if made is None else (str(made["state"]), made)


def locking_step_at(held: Mapping[str, Any] | None, at_ms: int) -> Mapping[str, Any] | None:
    """The approve or accept step that locks the period at ``at_ms``, if one does."""
    if held is None:
        return None
    current, made = _state_at(_normalised(held), at_ms)
    return made if current in ("approved", "accepted") else None


def returned_communes(held: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Commune -> the send-back still open on its report (note, by, at_ms)."""
    return {} if held is None else dict(_normalised(held)["returned"])


def _refused(state: dict[str, Any], code: str, en: str, vi: str) -> StepDecision:
    return StepDecision(state, code, en, vi)


def decide_step(held: Mapping[str, Any] | None, step: Step) -> StepDecision:
    """The decision on ``step`` given the period's state ``held``; the new state when applied."""
    state = _normalised(held)
    if step.action not in ACTIONS:
        return _refused(
            state,
            "unknown_action",
            f"unknown step {step.action!r}; one of {', '.join(ACTIONS)}",
            f"bước không hợp lệ {step.action!r}",
        )
    if step.based_on_version is not None and step.based_on_version != state["version"]:
        last = state["history"][-1] if state["history"] else None
        who = f" by {last['by']} at {_when(int(last['at_ms']))}" if last else ""
        who_vi = f" bởi {last['by']} lúc {_when(int(last['at_ms']))}" if last else ""
        return _refused(
            state,
            "concurrent_change",
            f"the period changed{who} since this page was loaded (now {state['state']});"
            " reload and try again",
            f"kỳ báo cáo đã thay đổi{who_vi} sau khi trang được mở; hãy tải lại và thử lại",
        )
    later = [h for h in state["history"] if int(h["at_ms"]) > step.at_ms]
    if later:
        newest = later[-1]
        return _refused(
            state,
            "stale_step",
            f"the period changed later ({newest['action']} by {newest['by']} at"
            f" {_when(int(newest['at_ms']))}) than this step was taken",
            f"kỳ báo cáo đã thay đổi sau bước này ({newest['by']} lúc"
            f" {_when(int(newest['at_ms']))})",
        )
    current = str(state["state"])
    refusal = _transition_refusal(current, step, state)
    if refusal is not None:
        return _refused(state, *refusal)
    entry: dict[str, Any] = {
        "id": step.approval_id,
        "action": step.action,
        "by": step.actor,
        "at_ms": step.at_ms,
        "state": _STATE_AFTER.get(step.action, current),
        "note": step.note,
        "commune": step.commune,
    }
    new_state = {
        **state,
        "state": entry["state"],
        "version": int(state["version"]) + 1,
        "history": [*state["history"], entry],
        "returned": dict(state["returned"]),
    }
    if step.report_type:
        new_state["report_type"] = step.report_type
    if step.action == "return" and step.commune is not None:
        new_state["returned"][step.commune] = {
            "note": step.note,
            "by": step.actor,
            "at_ms": step.at_ms,
        }
    if step.action == "approve":
        # Compatibility with the views and readers of an approval: who approved, and when.
        new_state.update(
            approval_id=step.approval_id, approved_by=step.actor, approved_at_ms=step.at_ms
        )
    return StepDecision(new_state)


def _transition_refusal(
    current: str, step: Step, state: Mapping[str, Any]
) -> tuple[str, str, str] | None:
    last = state["history"][-1] if state["history"] else None
    since = f" by {last['by']} at {_when(int(last['at_ms']))}" if last else ""
    since_vi = f" bởi {last['by']} lúc {_when(int(last['at_ms']))}" if last else ""
    if current == "accepted":
        return (
            "period_accepted",
            f"the period was accepted nationally{since}: it is final",
            f"kỳ báo cáo đã được tiếp nhận{since_vi}: không thể thay đổi",
        )
    if step.action == "approve" and current == "approved":
        return (
            "already_approved",
            f"the period is already approved{since}",
            f"kỳ báo cáo đã được phê duyệt{since_vi}",
        )
    if step.action == "return":
        if current == "approved":
            return (
                "period_approved",
                f"the period is approved{since}; unapprove it before sending a report back",
                f"kỳ báo cáo đã được phê duyệt{since_vi}; hãy huỷ phê duyệt trước khi trả lại",
            )
        if not step.commune or not (step.note or "").strip():
            return (
                "note_required",
                "sending a report back needs the commune and a note",
                "trả lại báo cáo cần có xã và ghi chú",
            )
    if step.action == "unapprove":
        if current != "approved":
            return (
                "not_approved",
                "the period is not approved: nothing to unapprove",
                "kỳ báo cáo chưa được phê duyệt",
            )
        if not (step.note or "").strip():
            return (
                "reason_required",
                "unapproving needs a reason",
                "huỷ phê duyệt cần có lý do",
            )
    if step.action == "accept" and current != "approved":
        return (
            "not_approved",
            "only an approved period can be accepted nationally",
            "chỉ tiếp nhận được kỳ báo cáo đã phê duyệt",
        )
    return None


def correction_closes_return(held: Mapping[str, Any], commune: str) -> dict[str, Any]:
    """The state once ``commune``'s new revision arrived: its send-back is answered."""
    state = _normalised(held)
    state["returned"].pop(commune, None)
    return state
