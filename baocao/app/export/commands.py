"""``baocao export``: write a province's (or the national) report of a period to an .xlsx."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from baocao.core.settings import Settings

__all__ = ["export"]

logger = logging.getLogger(__name__)


def export(
    province: str | None = typer.Option(
        None, "--province", help="Province code (two digits, e.g. 01); or --national."
    ),
    national: bool = typer.Option(
        False, "--national", help="The national report: one row per province."
    ),
    report_type: str = typer.Option(
        "monthly", "--report-type", "-t", help="daily, weekly, monthly, quarterly or yearly."
    ),
    period: str = typer.Option(..., "--period", help="The period, e.g. 2025-08, 2025-Q3."),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="The .xlsx to write (default: baocao-<01|national>-<type>-<period>.xlsx).",
    ),
    lang: str = typer.Option("vi", "--lang", help="Headers in vi (Vietnamese) or en (English)."),
) -> None:
    """Export the report a province hands upward (or the national one) as a printable Excel
    workbook: its figures, every commune's status, figures and warnings (every province's,
    nationally), completeness, timeliness, the deadline and the approval, all read from the
    BI views."""
    from baocao.app.export.exceptions import ExportError
    from baocao.app.export.service import check_request, export_filename, export_workbook

    if national == (province is not None):
        raise typer.BadParameter(
            "give either --province CODE or --national", param_hint="--province"
        )
    try:
        language = check_request(
            province=province, report_type=report_type, period=period, lang=lang
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    target = output or Path(
        export_filename(province=province, report_type=report_type, period=period)
    )
    settings = Settings().with_clickhouse_login("reader")  # read-only, as the dashboard
    try:
        data = export_workbook(
            settings.clickhouse,
            province=province,
            report_type=report_type,
            period=period,
            lang=language,
        )
    except ExportError as exc:
        typer.echo(f"export failed: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    target.write_bytes(data)
    logger.info("wrote %s (%d bytes)", target, len(data))
    who = "national" if province is None else f"province {province}"
    typer.echo(f"wrote {target}: {who}, {report_type} {period}, headers in {lang}")
