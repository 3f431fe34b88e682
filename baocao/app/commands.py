"""Commands that span the application's parts: the indicator catalogue, the end-to-end demo
and the dashboard (whose web app serves the export's downloads too)."""

from __future__ import annotations

import json
import logging
from typing import Any

import typer
from rich.console import Console

from baocao.core.catalogue import load_catalogue
from baocao.core.settings import Settings

__all__ = ["dashboard", "demo", "indicators"]

logger = logging.getLogger(__name__)


def indicators(
    as_json: bool = typer.Option(False, "--json", help="Print the catalogue as a JSON array."),
) -> None:
    """List the indicator catalogue: codes, names, units, domains, how each rolls up and
    which report types (daily, weekly, monthly, quarterly, yearly) carry it."""
    catalogue = load_catalogue()
    if as_json:
        typer.echo(json.dumps([i.as_json() for i in catalogue], ensure_ascii=False, indent=2))
        return
    for i in catalogue:
        rule = f"{i.numerator} / {i.denominator}" if i.is_derived else i.aggregation
        types = ",".join(i.report_types)
        typer.echo(f"{i.code:38} {i.domain:28} {i.unit:12} {rule:60} {types:32} {i.name_en}")


def demo(
    period: str | None = typer.Option(
        None, "--period", help="Month to simulate, YYYY-MM (default: the previous month)."
    ),
    seed: int = typer.Option(2025, "--seed", help="Seed of the simulated reports."),
    revisions: float = typer.Option(
        0.05, "--revisions", min=0.0, max=1.0, help="Share of communes that send a correction."
    ),
    communes: int | None = typer.Option(
        None, "--communes", min=1, help="Only this many communes (default: all 3,321)."
    ),
    timeout: float = typer.Option(
        300.0, "--timeout", min=1.0, help="Seconds to wait for the figures in ClickHouse."
    ),
    dashboard: bool = typer.Option(
        True, "--dashboard/--no-dashboard", help="Start the live dashboard at the end."
    ),
    dashboard_port: int = typer.Option(
        8765, "--dashboard-port", min=1, max=65535, help="Port of the dashboard."
    ),
    gateway: bool = typer.Option(
        True,
        "--gateway/--no-gateway",
        help="Start the gateway with the commune app, and print a demo clerk's login.",
    ),
    gateway_port: int | None = typer.Option(
        None,
        "--gateway-port",
        min=1,
        max=65535,
        help="Port of the gateway (default BAOCAO_GATEWAY_PORT, 18088).",
    ),
) -> None:
    """Run the pipeline end to end on the local stack and print the provincial table.

    Starts Kafka and ClickHouse, applies the migrations, starts the worker and the sink,
    publishes one month of reports for every commune (with corrections), waits until
    ClickHouse shows exactly the published figures, and prints them per province.
    """
    from baocao.app.bi.exceptions import BiAccessError
    from baocao.app.demo import DemoError, run_demo
    from baocao.app.stack.exceptions import StackError
    from baocao.producers.exceptions import ProducerError
    from baocao.producers.simulate import default_period
    from baocao.sinks.exceptions import ClickHouseError, SinkError

    settings = Settings()
    console = Console()
    if not console.is_terminal:
        console.width = 160  # logs and pipes: one line per province rather than 80 columns
    period = period or default_period()
    try:
        result = run_demo(
            settings,
            period=period,
            seed=seed,
            revisions=revisions,
            communes=communes,
            timeout=timeout,
            console=console,
            dashboard_port=dashboard_port if dashboard else None,
            gateway_port=(gateway_port or settings.gateway.port) if gateway else None,
        )
    except (DemoError, StackError, SinkError, ClickHouseError, ProducerError, BiAccessError) as exc:
        Console(stderr=True).print(f"demo failed: {exc}", style="red", markup=False)
        raise typer.Exit(code=1) from exc
    ch = settings.clickhouse
    console.print(
        f"\n[green]✓[/] {result.reports:,} reports from {result.communes:,} communes reached "
        f"ClickHouse in {result.end_to_end_seconds:.1f}s "
        f"({result.reports_per_second:,.0f} reports/s end to end); "
        f"all {result.provinces} provinces match the published figures.\n"
    )
    sql = (
        "SELECT province_name, round(value * 100, 1) AS on_time_pct FROM province_indicators "
        f"WHERE period = '{period}' AND indicator_code = 'tthc_on_time_rate' ORDER BY value"
    )
    console.print(
        "[bold]Query it yourself[/] (views: province_indicators, commune_indicators, "
        "rejected_reports) as the read-only BI login; `baocao bi credentials` prints its"
        " password ($PW):",
        f'  clickhouse-client --port {ch.port} --user baocao_bi --password "$PW"'
        f' --database {ch.database} --query "{sql}"',
        f'  curl --user "baocao_bi:$PW"'
        f" 'http://{ch.host}:{settings.stack.clickhouse_http_port}/?database={ch.database}'"
        f' --data-binary "{sql} FORMAT PrettyCompact"',
        "The worker and the sink keep running: publish more with `baocao simulate --period "
        "YYYY-MM` or `baocao publish --file reports.jsonl` (judged on when they arrive; "
        "add `--historic` for past periods judged on their submitted_at); `baocao stack "
        "status` shows everything, `baocao stack down` stops it.",
        sep="\n",
        markup=True,
        highlight=False,
    )
    if result.commune_app is not None:
        clerk = result.commune_app
        console.print(
            f"[bold]Report as a commune clerk:[/] open {clerk.url} on a phone or a browser and "
            f"sign in as [bold]{clerk.login}[/] with password [bold]{clerk.password}[/] "
            f"(commune {clerk.commune_code}; `baocao clerks add --commune <code>` makes more)",
            highlight=False,
            soft_wrap=True,
        )
    if result.mailbox is not None:
        box = result.mailbox
        console.print(
            f"[bold]The notifier's messages:[/] {box.messages} reminder(s) to the clerks of the "
            f"communes left silent, 48 h before the deadline, in {box.path} (`mail -f {box.path}`"
            f" or any mail client); one subject: {box.subject}",
            highlight=False,
            soft_wrap=True,
        )
    if result.dashboard_url is not None:
        console.print(
            f"[bold]Watch it live:[/] {result.dashboard_url} (the dashboard polls the same views "
            "every few seconds; `baocao stack down` stops it too). Sign in as an officer"
            " (`baocao officers add` makes more):",
            highlight=False,
        )
        for officer in result.officers:
            where = f"province {officer.province}" if officer.province else "national"
            console.print(
                f"  {where}: login [bold]{officer.login}[/] password [bold]{officer.password}[/]",
                highlight=False,
                soft_wrap=True,
            )


def dashboard(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8765, "--port", min=1, max=65535, help="Port to listen on."),
) -> None:
    """Serve the live dashboard of reporting completeness and indicators to signed-in
    officers (`baocao officers add` makes their logins; open http://HOST:PORT/): national
    reads as the read-only reader login, a province officer's as that province's own
    dashboard login (``baocao_dash_pNN``), which reads its province's database only."""
    import uvicorn

    from baocao.app.bi.dashboard_logins import DashboardLogins
    from baocao.app.dashboard.contacts import ContactStore
    from baocao.app.dashboard.door import OfficerDoor
    from baocao.app.dashboard.officers import open_officers
    from baocao.app.web import create_app
    from baocao.core.principals import Principal, with_principal
    from baocao.core.reference import load_reference
    from baocao.producers.approve import publish_approval

    settings = Settings().with_clickhouse_login("reader")
    officers = open_officers(settings)
    door = OfficerDoor(officers, settings.dashboard)
    approver = with_principal(Settings(), Principal.APPROVER).kafka
    app = create_app(
        settings.clickhouse,
        door=door,
        province_login=DashboardLogins(settings.clickhouse, settings.stack),
        publish=lambda record: publish_approval(approver, record),
        contacts=ContactStore(officers, load_reference()),
        clerks=_clerk_logins(settings),
    )
    logger.info("dashboard on http://%s:%d/", host, port)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _clerk_logins(settings: Settings) -> Any:
    """The clerks' logins in the gateway's file on this host (``baocao clerks`` uses it too);
    ``None`` (the dashboard then answers 503 for them) when it cannot be opened."""
    from baocao.app.dashboard.clerk_logins import ClerkLogins
    from baocao.core.logins import LoginStore
    from baocao.producers.gateway.exceptions import TokenStoreError
    from baocao.producers.gateway.store import GatewayStore

    try:
        return ClerkLogins(LoginStore(GatewayStore(settings.gateway.db_path).open()))
    except TokenStoreError as exc:
        logger.warning("clerk logins unavailable in the dashboard: %s", exc)
        return None
