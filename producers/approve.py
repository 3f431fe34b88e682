"""``baocao approve``: a province approves its figures of one period (and the record of every
officer's step, which the dashboard publishes too: approve, return, unapprove, accept).

The step is an ``approval.v2`` event on ``Topics.approvals``, keyed by the province code
like the reports, so it lands in the same partition number as the province's reports and
the worker that owns the province sees both. From ``approved_at`` on, the worker refuses
submissions for that province and period with ``period_locked`` (or accepts them as flagged
amendments, by configuration), and the views show the period as ``approved``.

The record's Kafka timestamp is ``approved_at``: the worker decides on event time.

Exit codes: 0 published; 2 bad arguments or Kafka failure.
"""

from __future__ import annotations

import getpass
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Console

from baocao.core.instants import whole_millis
from baocao.core.models import LOCAL_TIMEZONE
from baocao.core.periods import PERIOD_FORMS, REPORT_TYPES, PeriodError, parse_period
from baocao.core.principals import Principal, with_principal
from baocao.core.reference import ReferenceData, load_reference
from baocao.core.settings import KafkaSettings, Settings
from baocao.core.topics import APPROVALS
from baocao.producers.exceptions import PublishError
from baocao.producers.single import publish_one

__all__ = [
    "APPROVAL_SCHEMA",
    "STEP_ACTIONS",
    "ApprovalError",
    "approval",
    "approve",
    "publish_approval",
]

logger = logging.getLogger(__name__)

APPROVAL_SCHEMA = APPROVALS.writes
#: The steps an officer takes on a period (the worker's state machine decides each).
STEP_ACTIONS = ("approve", "return", "unapprove", "accept")
EXIT_INVALID = 2
EXIT_KAFKA = 2


class ApprovalError(ValueError):
    """The arguments do not describe an approval the worker could apply."""

    def __init__(self, message: str, *, param: str) -> None:
        super().__init__(message)
        self.param = param


def approval(
    *,
    province: str,
    period: str,
    report_type: str | None,
    approved_by: str,
    note: str | None,
    approved_at: datetime,
    reference: ReferenceData,
    action: str = "approve",
    commune: str | None = None,
    based_on_version: int | None = None,
) -> dict[str, Any]:
    """The ``approval.v2`` record of a step, after checking every argument against the
    reference data and the period forms; raises :class:`ApprovalError` naming the bad option.
    Whether the step may be taken is the worker's decision, not this function's."""
    if province not in reference.provinces:
        known = ", ".join(sorted(reference.provinces))
        raise ApprovalError(
            f"unknown province code {province!r}; province codes are two digits: {known}",
            param="--province",
        )
    try:
        parsed = parse_period(period)
    except PeriodError as exc:
        raise ApprovalError(
            f"{period!r} is not a period; expected {PERIOD_FORMS}", param="--period"
        ) from exc
    if report_type is not None and report_type != parsed.report_type:
        if report_type not in REPORT_TYPES:
            message = f"unknown report type {report_type!r}; one of: " + ", ".join(REPORT_TYPES)
        else:
            message = (
                f"period {period} is a {parsed.report_type} period, not {report_type}; "
                f"a {report_type} period is written "
                + {
                    "daily": "YYYY-MM-DD",
                    "weekly": "YYYY-Www",
                    "monthly": "YYYY-MM",
                    "quarterly": "YYYY-Qn",
                    "yearly": "YYYY",
                }[report_type]
            )
        raise ApprovalError(message, param="--report-type")
    if not approved_by.strip():
        raise ApprovalError("the approver's name must not be empty", param="--by")
    if approved_at.tzinfo is None:
        raise ValueError("approved_at must be an aware datetime")
    if action not in STEP_ACTIONS:
        raise ApprovalError(
            f"unknown step {action!r}; one of {', '.join(STEP_ACTIONS)}", param="--action"
        )
    if action in ("return", "unapprove") and not (note or "").strip():
        raise ApprovalError(f"a {action} needs a note saying why", param="--note")
    if action == "return":
        held = reference.communes.get(commune or "")
        if held is None or held.province_code != province:
            raise ApprovalError(
                f"commune {commune!r} is not a commune of province {province}", param="--commune"
            )
    elif commune is not None:
        raise ApprovalError("only a return names a commune", param="--commune")
    return {
        "approval_id": str(uuid.uuid4()),
        "province_code": province,
        "report_type": str(parsed.report_type),
        "period": parsed.text,
        "approved_by": approved_by.strip(),
        "approved_at": approved_at,
        "note": note,
        "action": action,
        "commune_code": commune,
        "based_on_version": based_on_version,
    }


def publish_approval(kafka: KafkaSettings, record: Mapping[str, Any]) -> int:
    """Publish ``record`` keyed by its province with its ``approved_at`` as Kafka timestamp,
    and wait for the acknowledgement; the partition it landed in."""
    partition = publish_one(kafka, APPROVALS, record, at=record["approved_at"], what="approval")
    logger.info("approval %s published to partition %d", record["approval_id"], partition)
    return partition


def approve(
    province: str = typer.Option(..., "--province", help="Province code, e.g. 01."),
    period: str = typer.Option(..., "--period", help=f"The period approved: {PERIOD_FORMS}."),
    report_type: str | None = typer.Option(
        None,
        "--report-type",
        help="daily, weekly, monthly, quarterly or yearly; must match the period's form "
        "(default: the period's).",
    ),
    by: str | None = typer.Option(
        None, "--by", help="Who approves (default: the operating system user)."
    ),
    note: str | None = typer.Option(None, "--note", help="A note kept with the approval."),
) -> None:
    """Approve a province's figures of one period: from now on they are final.

    Later submissions for that province and period are refused with reason period_locked
    (or accepted as flagged amendments when BAOCAO_DEADLINES_AMENDMENTS_AFTER_LOCK=accept).

    Exit codes: 0 published; 2 bad arguments or Kafka failure.
    """
    settings = with_principal(Settings(), Principal.APPROVER)
    console = Console()
    try:
        record = approval(
            province=province,
            period=period,
            report_type=report_type,
            approved_by=by if by is not None else _user(),
            note=note,
            # Whole milliseconds: the Avro field and the Kafka timestamp hold the same instant.
            approved_at=whole_millis(datetime.now(UTC)),
            reference=load_reference(),
        )
    except ApprovalError as exc:
        raise typer.BadParameter(str(exc), param_hint=exc.param) from exc
    try:
        publish_approval(settings.kafka, record)
    except PublishError as exc:
        Console(stderr=True).print(f"error: {exc}", style="red", markup=False)
        raise typer.Exit(EXIT_KAFKA) from exc
    when = record["approved_at"].astimezone(LOCAL_TIMEZONE).isoformat(timespec="seconds")
    console.print(
        f"approved {record['report_type']} period {record['period']} of province "
        f"{record['province_code']} ({load_reference().provinces[province].name}) "
        f"by {record['approved_by']} at {when}; approval id {record['approval_id']}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
