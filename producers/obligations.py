"""``baocao obligations``: who must report what, from when (docs/legacy-units.md).

``set``, ``end`` and ``exempt`` publish a ``reporting_obligation.v1`` event on
``Topics.reporting_obligations``, keyed by the unit's province like its reports, so the worker
that counts the province's completeness applies it; the sink lands it and the views follow.
Each event replaces the unit's obligation of one report type (the default included), and the
latest ``recorded_at`` wins. Bad input is refused here with the reasons the worker would give
(:func:`baocao.core.obligations.event_reasons`), before anything is published. ``list`` reads
the obligations that differ from the default from ClickHouse (``unit_obligations``).

Exit codes: 0 done; 2 bad arguments, Kafka or ClickHouse failure.
"""

from __future__ import annotations

import getpass
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import typer
from rich.console import Console

from baocao.core.clickhouse import ClickHouseError, reading, select_rows
from baocao.core.listing import print_listing
from baocao.core.obligations import event_reasons
from baocao.core.principals import Principal, with_principal
from baocao.core.reference import ReferenceData, load_reference
from baocao.core.settings import KafkaSettings, Settings
from baocao.core.topics import REPORTING_OBLIGATIONS
from baocao.producers.exceptions import PublishError
from baocao.producers.single import publish_one

__all__ = [
    "ObligationError",
    "obligation",
    "obligations_app",
    "publish_obligation",
]

logger = logging.getLogger(__name__)

EXIT_FAILED = 2

obligations_app = typer.Typer(
    help="Who must report what, from when: list the obligations that differ from the default "
    "(every unit reports every report type, except units with no administration on site), "
    "and change one unit's obligation of one report type (set, end, exempt).",
    no_args_is_help=True,
    add_completion=False,
)


class ObligationError(ValueError):
    """The arguments do not describe an obligation the worker could apply: every reason."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def obligation(
    *,
    action: str,
    commune: str,
    report_type: str,
    starts_on: str | None,
    ends_on: str | None,
    reason: str,
    recorded_by: str,
    recorded_at: datetime,
    reference: ReferenceData,
) -> dict[str, Any]:
    """The ``reporting_obligation.v1`` record of a change, after the checks the worker makes;
    raises :class:`ObligationError` with every reason it is refused."""
    problems: list[str] = []
    days: dict[str, date | None] = {}
    for name, text in (("starts_on", starts_on), ("ends_on", ends_on)):
        try:
            days[name] = None if text is None else date.fromisoformat(text)
        except ValueError:
            days[name] = None
            problems.append(f"{name}: {text!r} is not a date (YYYY-MM-DD)")
    if not reason.strip():
        problems.append("reason: say why (a decision's number, a note)")
    known = reference.communes.get(commune)
    record: dict[str, Any] = {
        "obligation_id": str(uuid.uuid4()),
        "commune_code": commune,
        "province_code": known.province_code if known is not None else "",
        "report_type": report_type,
        "action": action,
        "starts_on": days["starts_on"],
        "ends_on": days["ends_on"],
        "reason": reason.strip(),
        "recorded_by": recorded_by,
        "recorded_at": recorded_at,
    }
    problems += [f"{r.code}: {r.message_en}" for r in event_reasons(record, reference)]
    if problems:
        raise ObligationError(problems)
    return record


def publish_obligation(kafka: KafkaSettings, record: Mapping[str, Any]) -> int:
    """Publish ``record`` keyed by its province, with its ``recorded_at`` as Kafka timestamp,
    and wait for the acknowledgement; the partition it landed in."""
    partition = publish_one(
        kafka, REPORTING_OBLIGATIONS, record, at=record["recorded_at"], what="obligation"
    )
    logger.info("obligation %s published to partition %d", record["obligation_id"], partition)
    return partition


def _change(
    action: str,
    commune: str,
    report_type: str,
    starts_on: str | None,
    ends_on: str | None,
    reason: str,
    by: str | None,
) -> None:
    settings = with_principal(Settings(), Principal.APPROVER)
    reference = load_reference()
    try:
        record = obligation(
            action=action,
            commune=commune,
            report_type=report_type,
            starts_on=starts_on,
            ends_on=ends_on,
            reason=reason,
            recorded_by=by if by is not None else _user(),
            # Whole seconds: the order of two events is the same in the worker and the views.
            recorded_at=datetime.now(UTC).replace(microsecond=0),
            reference=reference,
        )
    except ObligationError as exc:
        err = Console(stderr=True)
        err.print("refused, nothing published:", style="red", markup=False)
        for problem in exc.reasons:
            err.print(f"  {problem}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_FAILED) from exc
    try:
        publish_obligation(settings.kafka, record)
    except PublishError as exc:
        Console(stderr=True).print(f"error: {exc}", style="red", markup=False)
        raise typer.Exit(EXIT_FAILED) from exc
    window = f"{record['starts_on'] or '…'} to {record['ends_on'] or '…'}"
    what = "exempt from" if action == "exempt" else f"must report, {window},"
    Console().print(
        f"{commune} ({reference.communes[commune].name}) {what} {report_type}; "
        f"obligation id {record['obligation_id']}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


_COMMUNE = typer.Option(..., "--commune", help="The 2025 commune code (5 digits).")
_TYPE = typer.Option(..., "--report-type", help="daily, weekly, monthly, quarterly or yearly.")
_REASON = typer.Option(..., "--reason", help="Why (a decision's number, a note).")
_BY = typer.Option(None, "--by", help="Who records it (default: the operating system user).")


@obligations_app.command("set")
def set_obligation(
    commune: str = _COMMUNE,
    report_type: str = _TYPE,
    start: str | None = typer.Option(None, "--start", help="First day in force, YYYY-MM-DD."),
    end: str | None = typer.Option(None, "--end", help="Last day in force, YYYY-MM-DD."),
    reason: str = _REASON,
    by: str | None = _BY,
) -> None:
    """The unit must report the type from --start to --end (either open): replaces its
    obligation, the default included (a default exemption too)."""
    _change("set", commune, report_type, start, end, reason, by)


@obligations_app.command("end")
def end_obligation(
    commune: str = _COMMUNE,
    report_type: str = _TYPE,
    end: str = typer.Option(..., "--end", help="Last day in force, YYYY-MM-DD."),
    start: str | None = typer.Option(None, "--start", help="First day in force, YYYY-MM-DD."),
    reason: str = _REASON,
    by: str | None = _BY,
) -> None:
    """The unit's obligation of the type ends on --end: periods whose last day is later are
    not due (its later reports are kept and flagged)."""
    _change("end", commune, report_type, start, end, reason, by)


@obligations_app.command("exempt")
def exempt(
    commune: str = _COMMUNE,
    report_type: str = _TYPE,
    reason: str = _REASON,
    by: str | None = _BY,
) -> None:
    """The unit owes no report of the type (its reports are kept and flagged, not refused)."""
    _change("exempt", commune, report_type, None, None, reason, by)


#: The table ``obligations list`` shows (key -> heading); ``--json`` gives every column of
#: ``unit_obligations`` and the unit's name instead of ``in_force``.
LISTED_COLUMNS = {
    "commune_code": "commune",
    "commune_name": "name",
    "report_type": "report type",
    "in_force": "in force",
    "reason": "reason",
    "recorded_by": "by",
}


def in_force(row: Mapping[str, Any]) -> str:
    """An obligation at a glance: ``exempt``, or its window (``… to 2025-07-31``)."""
    if row["action"] == "exempt":
        return "exempt"
    return f"{row['starts_on'] or '…'} to {row['ends_on'] or '…'}"


@obligations_app.command("list")
def list_obligations(
    province: str | None = typer.Option(None, "--province", help="Only this province."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """The obligations that differ from the default, as ClickHouse holds them: each unit's
    latest event per report type, and the default exemptions (recorded_by 'default')."""
    settings = Settings().with_clickhouse_login("reader")
    query = (
        "SELECT commune_code, province_code, report_type, action, starts_on, ends_on, reason,"
        " recorded_by, recorded_at FROM unit_obligations"
        + (" WHERE province_code = %(province)s" if province else "")
        + " ORDER BY province_code, commune_code, report_type"
    )
    try:
        with reading(settings.clickhouse, error=ClickHouseError) as client:
            rows = select_rows(client, query, {"province": province})
    except ClickHouseError as exc:
        Console(stderr=True).print(f"error: {exc}", style="red", markup=False)
        raise typer.Exit(EXIT_FAILED) from exc
    names = load_reference().communes
    listed = [
        {**row, "commune_name": unit.name if (unit := names.get(row["commune_code"])) else None}
        for row in rows
    ]
    if not as_json:
        listed = [{**row, "in_force": in_force(row)} for row in listed]
    title = f"{len(listed)} obligations that differ from the default"
    print_listing(listed, columns=LISTED_COLUMNS, title=title, as_json=as_json)


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
