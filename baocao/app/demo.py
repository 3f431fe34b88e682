"""``baocao demo``: the whole pipeline on the local stack, ending in the provincial table.

It is what a new user runs first (``make demo``), so it narrates each step, checks its own
result (the figures in ClickHouse must equal those computed from the published reports before
the table is shown) and ends by telling the user where to look next. The worker and the sink
keep running afterwards, registered with the stack, so the user can publish more reports and
watch the views change; ``baocao stack down`` stops everything.
"""

from __future__ import annotations

import math
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from baocao.app.bi.apply import apply_access
from baocao.app.bi.credentials import credentials_path, ensure_credentials
from baocao.app.dashboard.links import dashboard_link
from baocao.app.dashboard.officers import add_officer, open_officers
from baocao.app.demo_mailbox import SILENT_COMMUNES, DemoMailbox, demo_mailbox
from baocao.app.stack.clickhouse_access import BiAccess
from baocao.app.stack.kafka_access import PipelineNames
from baocao.app.stack.lifecycle import stack_up
from baocao.app.stack.process import ManagedProcess
from baocao.core.catalogue import load_catalogue
from baocao.core.clickhouse import connect, select_rows
from baocao.core.logins import LoginStore, PasswordHasher, generate_password
from baocao.core.models import CommuneReport
from baocao.core.periods import parse_period
from baocao.core.principals import Principal, with_principal
from baocao.core.reference import load_reference
from baocao.core.registry import registry_client
from baocao.core.settings import Settings
from baocao.producers.gateway.clerks import add_clerk
from baocao.producers.gateway.store import GatewayStore
from baocao.producers.publisher import ReportPublisher
from baocao.producers.simulate import generate_reports
from baocao.sinks.clickhouse.migrate import migrate

__all__ = [
    "DemoClerk",
    "DemoError",
    "DemoResult",
    "dashboard_process",
    "demo_clerk",
    "demo_officers",
    "gateway_process",
    "published_link",
    "run_demo",
]

#: The indicator whose provincial totals the demo waits for: every report carries it.
CHECK_INDICATOR = "tthc_received"

#: Columns of the provincial table: (indicator, heading, scale, format).
TABLE_COLUMNS: tuple[tuple[str, str, float, str], ...] = (
    ("tthc_received", "Dossiers", 1, "{:,.0f}"),
    ("tthc_on_time_rate", "On time %", 100, "{:.1f}"),
    ("tthc_online_rate", "Online %", 100, "{:.1f}"),
    ("budget_revenue", "Revenue bn VND", 1e-3, "{:,.1f}"),
    ("public_investment_disbursement_rate", "Disbursed %", 100, "{:.1f}"),
    ("security_incidents", "Incidents", 1, "{:,.0f}"),
    ("traffic_accidents", "Accidents", 1, "{:,.0f}"),
    ("health_insurance_coverage", "Insured %", 100, "{:.1f}"),
    ("party_congress_progress", "Congress %", 100, "{:.1f}"),
)


class DemoError(RuntimeError):
    """The demo could not finish; the message says which step and what to look at."""


@dataclass(frozen=True, slots=True)
class DemoClerk:
    """Where a clerk reports, and the demo clerk's login (the password shown once)."""

    url: str
    commune_code: str
    login: str
    password: str


@dataclass(frozen=True, slots=True)
class DemoOfficer:
    """A demo officer's dashboard login (the password shown once); ``province`` None:
    national."""

    login: str
    password: str
    name: str
    province: str | None


@dataclass(frozen=True)
class DemoResult:
    period: str
    reports: int
    communes: int
    publish_seconds: float
    #: From the first report sent to the last provincial figure visible in ClickHouse.
    end_to_end_seconds: float
    provinces: int
    #: The dashboard's link to the published period (None: no dashboard asked for).
    dashboard_url: str | None = None
    #: The commune app's link and a working clerk login (None: no gateway asked for).
    commune_app: DemoClerk | None = None
    #: One national and one Hà Nội officer's dashboard login (empty: no dashboard).
    officers: tuple[DemoOfficer, ...] = ()
    #: The notifier's reminders to the silent communes' clerks, filed in a local mbox.
    mailbox: DemoMailbox | None = None

    @property
    def reports_per_second(self) -> float:
        return self.reports / self.end_to_end_seconds


def expected_totals(reports: Iterable[CommuneReport]) -> dict[str, tuple[float, int]]:
    """Per province: the checked indicator's total over the latest revision of each commune,
    and how many communes reported it."""
    latest: dict[str, CommuneReport] = {}
    for report in reports:
        held = latest.get(report.key)
        if held is None or report.revision > held.revision:
            latest[report.key] = report
    values: dict[str, list[float]] = defaultdict(list)
    for report in latest.values():
        if CHECK_INDICATOR in report.indicators:
            values[report.province_code].append(report.indicators[CHECK_INDICATOR])
    return {province: (math.fsum(v), len(v)) for province, v in values.items()}


def _baocao_command() -> list[str]:
    executable = Path(sys.executable).with_name("baocao")
    return [str(executable)] if executable.exists() else [sys.executable, "-m", "baocao"]


def dashboard_process(settings: Settings, *, port: int) -> ManagedProcess:
    """``baocao dashboard`` on localhost, registered with the stack home (so ``baocao stack
    down`` stops it with the worker and the sink)."""
    return ManagedProcess(
        "dashboard",
        [*_baocao_command(), "dashboard", "--host", "127.0.0.1", "--port", str(port)],
        home=settings.stack.home,
        env=settings.as_environment(),
    )


def published_link(port: int, period: str) -> str:
    """The dashboard's link to the period the demo published: it opens on that month,
    whatever else the views hold (announced daily periods, older months)."""
    return dashboard_link(
        f"http://127.0.0.1:{port}", report_type=str(parse_period(period).report_type), period=period
    )


#: The demo clerk's commune (Phường Hoàn Kiếm, Hà Nội) and login name.
DEMO_COMMUNE = "00070"
DEMO_LOGIN = "demo-00070"


def gateway_process(settings: Settings, *, port: int) -> ManagedProcess:
    """``baocao gateway`` (the commune app at ``/``) on localhost, registered with the stack
    home like the dashboard."""
    return ManagedProcess(
        "gateway",
        [*_baocao_command(), "gateway", "--host", "127.0.0.1", "--port", str(port)],
        home=settings.stack.home,
        env=settings.as_environment(),
    )


def demo_clerk(settings: Settings, *, port: int) -> DemoClerk:
    """The demo clerk's login, with a fresh password (a login left by an earlier demo is
    reset, so the printed password always works)."""
    store = GatewayStore(settings.gateway.db_path).open()
    try:
        logins = LoginStore(store)
        if logins.get(DEMO_LOGIN) is None:
            _, password = add_clerk(logins, DEMO_COMMUNE, login_id=DEMO_LOGIN, label="demo")
        else:
            password = generate_password()
            logins.set_password(DEMO_LOGIN, PasswordHasher().hash(password), enable=True)
    finally:
        store.close()
    return DemoClerk(
        url=f"http://127.0.0.1:{port}/",
        commune_code=DEMO_COMMUNE,
        login=DEMO_LOGIN,
        password=password,
    )


#: The demo officers: (login, province or None for national, name).
DEMO_OFFICERS = (
    ("demo-national", None, "Cán bộ trung ương (demo)"),
    ("demo-o01", "01", "Cán bộ Hà Nội (demo)"),
)


def demo_officers(settings: Settings) -> tuple[DemoOfficer, ...]:
    """The demo's national and Hà Nội officers, each with a fresh password (a login left by
    an earlier demo is reset, so the printed passwords always work)."""
    logins = LoginStore(open_officers(settings))
    made = []
    for login_id, province, name in DEMO_OFFICERS:
        if logins.get(login_id) is None:
            _, password = add_officer(logins, province=province, name=name, login_id=login_id)
        else:
            password = generate_password()
            logins.set_password(login_id, PasswordHasher().hash(password), enable=True)
        made.append(DemoOfficer(login_id, password, name, province))
    return tuple(made)


def background_processes(settings: Settings) -> list[ManagedProcess]:
    """The worker and the sink, as processes registered with the stack home."""
    command = _baocao_command()
    return [
        ManagedProcess(
            name,
            [*command, name],
            home=settings.stack.home,
            env=settings.as_environment(),
        )
        for name in ("worker", "sink")
    ]


def run_demo(
    settings: Settings,
    *,
    period: str,
    seed: int,
    revisions: float,
    communes: int | None,
    timeout: float,
    console: Console,
    dashboard_port: int | None = None,
    gateway_port: int | None = None,
) -> DemoResult:
    console.rule("[bold]1/5[/] Kafka and ClickHouse")
    bi_access = BiAccess.configured(settings)
    stack_up(settings.stack, bi_access=bi_access, pipeline=PipelineNames.of(settings))
    console.print(
        f"Kafka on {settings.kafka.bootstrap_servers}, ClickHouse on "
        f"{settings.clickhouse.host}:{settings.clickhouse.port}"
    )

    console.rule("[bold]2/5[/] ClickHouse schema")
    migrated = migrate(settings.clickhouse)
    console.print(
        f"database {migrated.database}: {len(migrated.applied)} migration(s) applied, "
        f"{len(migrated.already_applied)} already there"
    )
    credentials = ensure_credentials(
        credentials_path(settings.stack), bi_access.plan.all_users(), overrides=bi_access.overrides
    )
    access = apply_access(settings.clickhouse, bi_access.plan, credentials)
    console.print(
        f"read-only BI users: baocao_bi and {len(bi_access.plan.provinces)} province users "
        f"({len(access.statements)} access statements run); `baocao bi credentials` prints them"
    )

    console.rule("[bold]3/5[/] Stream worker and ClickHouse sink")
    processes = background_processes(settings)
    for process in processes:
        status = process.start()
        console.print(f"{process.name}: pid {status.pid}, log {status.log_file}")

    console.rule(f"[bold]4/5[/] Reports of {period} from the communes")
    reference, catalogue = load_reference(), load_catalogue()
    # A few Hà Nội communes stay silent: the notifier reminds their clerks at the end.
    reports = [
        report
        for report in generate_reports(
            reference, catalogue, period=period, seed=seed, communes=communes, revisions=revisions
        )
        if report.commune_code not in SILENT_COMMUNES
    ]
    expected = expected_totals(reports)
    started = time.monotonic()
    with (
        _progress(console) as progress,
        # Last month's reports, with the times they were submitted: a historic load (its own
        # principal and topic, judged on submitted_at), logged as such.
        ReportPublisher(
            with_principal(settings, Principal.HISTORIC_LOADER).kafka,
            registry=registry_client(settings.schema_registry),
            historic=True,
        ) as publisher,
    ):
        task = progress.add_task("publishing", total=len(reports))
        for report in reports:
            publisher.send(report)
            progress.advance(task)
    publish_seconds = time.monotonic() - started
    corrected = sum(1 for r in reports if r.revision > 1)
    console.print(
        f"published {len(reports):,} reports ({len(reports) - corrected:,} communes, "
        f"{corrected:,} corrections) in {publish_seconds:.1f}s "
        f"({len(reports) / publish_seconds:,.0f} reports/s)"
    )

    console.rule("[bold]5/5[/] Provincial figures in ClickHouse")
    _wait_for_figures(settings, period, expected, processes, timeout=timeout, console=console)
    end_to_end = time.monotonic() - started
    rows = _provincial_table(settings, period)
    console.print(_render(rows, period))
    dashboard_url = None
    officers: tuple[DemoOfficer, ...] = ()
    if dashboard_port is not None:
        officers = demo_officers(settings)
        dashboard = dashboard_process(settings, port=dashboard_port)
        status = dashboard.start()
        dashboard_url = published_link(dashboard_port, period)
        console.print(f"dashboard: pid {status.pid}, log {status.log_file}")
    commune_app = None
    if gateway_port is not None:
        commune_app = demo_clerk(settings, port=gateway_port)
        status = gateway_process(settings, port=gateway_port).start()
        console.print(f"gateway (commune app): pid {status.pid}, log {status.log_file}")
    mailbox = demo_mailbox(
        settings.with_clickhouse_login("notifier"),
        period=period,
        form_url=commune_app.url if commune_app else None,
        dashboard_url=f"http://127.0.0.1:{dashboard_port}" if dashboard_port else None,
    )
    return DemoResult(
        period=period,
        reports=len(reports),
        communes=len(reports) - corrected,
        publish_seconds=publish_seconds,
        end_to_end_seconds=end_to_end,
        provinces=len(rows),
        dashboard_url=dashboard_url,
        commune_app=commune_app,
        officers=officers,
        mailbox=mailbox,
    )


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=not console.is_terminal,
    )


def _wait_for_figures(
    settings: Settings,
    period: str,
    expected: dict[str, tuple[float, int]],
    processes: Sequence[ManagedProcess],
    *,
    timeout: float,
    console: Console,
) -> None:
    """Poll ClickHouse until every province's figure equals the expected one."""
    deadline = time.monotonic() + timeout
    client = connect(settings.clickhouse)
    try:
        with _progress(console) as progress:
            task = progress.add_task("provinces up to date", total=len(expected))
            while True:
                rows = select_rows(
                    client,
                    "SELECT province_code, value, communes_reported FROM province_indicators"
                    " WHERE period = %(period)s AND indicator_code = %(code)s",
                    {"period": period, "code": CHECK_INDICATOR},
                )
                actual = {
                    row["province_code"]: (row["value"], row["communes_reported"]) for row in rows
                }
                done = sum(
                    1
                    for province, (value, count) in expected.items()
                    if province in actual
                    and actual[province][1] == count
                    and math.isclose(actual[province][0], value, rel_tol=1e-9)
                )
                progress.update(task, completed=done)
                if done == len(expected):
                    return
                for process in processes:
                    if not process.is_running():
                        raise DemoError(
                            f"the {process.name} stopped; the end of its log "
                            f"({process.log_file}):\n{process.log_tail(30)}"
                        )
                if time.monotonic() > deadline:
                    raise DemoError(
                        f"after {timeout:.0f}s only {done} of {len(expected)} provinces show "
                        f"the published figures; see the logs in {processes[0].log_file.parent}"
                    )
                time.sleep(0.5)
    finally:
        client.disconnect()


def _provincial_table(settings: Settings, period: str) -> list[dict[str, Any]]:
    client = connect(settings.clickhouse)
    try:
        rows = select_rows(
            client,
            "SELECT province_code, any(province_name) AS name,"
            " any(communes_expected) AS expected, max(communes_reported) AS reported,"
            " groupArray(indicator_code) AS codes, groupArray(value) AS figures"
            " FROM province_indicators WHERE period = %(period)s"
            " GROUP BY province_code ORDER BY province_code",
            {"period": period},
        )
    finally:
        client.disconnect()
    return [
        {
            "code": row["province_code"],
            "name": row["name"],
            "expected": row["expected"],
            "reported": row["reported"],
            "values": dict(zip(row["codes"], row["figures"], strict=True)),
        }
        for row in rows
    ]


def _render(rows: list[dict[str, Any]], period: str) -> Table:
    table = Table(title=f"province_indicators, {period}", title_justify="left")
    table.add_column("Code")
    table.add_column("Province")
    table.add_column("Reported", justify="right")
    for _, heading, _, _ in TABLE_COLUMNS:
        table.add_column(heading, justify="right")
    for row in rows:
        name = row["name"].replace("Thành phố ", "TP ")
        cells = [row["code"], name, f"{row['reported']}/{row['expected']}"]
        for code, _, scale, fmt in TABLE_COLUMNS:
            value = row["values"].get(code)
            cells.append("-" if value is None else fmt.format(value * scale))
        table.add_row(*cells)
    return table
