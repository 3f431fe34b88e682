"""Issue 19: a Hà Nội officer sees Hà Nội, in Debian's Chromium at 360 px, read through Hà
Nội's own dashboard login (``baocao_dash_p01`` on ``baocao_p01``), and approves it.

On a stack of its own (``baocao stack up`` on free ports, then ``baocao migrate`` and
``baocao bi apply``), because the province logins read the province databases of the stack's
database: the shared development server's are another database's, and rewriting its logins
for a test would change them under everyone else. The worker, the sink and the dashboard run
as processes; the approval goes through Kafka and the worker decides it.

Screenshots: ci-artifacts/screenshots/dashboard-province-officer-*.png.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect, sync_playwright
from support.browser import PHONE, SCREENSHOTS, chromium, sign_in_officer
from support.cli import Background, run, start
from support.dashboard import HANOI, PERIOD, Seeded, seed
from support.net import free_ports
from support.officers import Officers, make_officers, serving_dashboard
from support.settings import environment

from baocao.app.dashboard.links import dashboard_link
from baocao.core.clickhouse import connect
from baocao.core.principals import Principal, with_principal
from baocao.core.settings import (
    ClickHouseSettings,
    KafkaSettings,
    Settings,
    SinkSettings,
    StackSettings,
    WorkerSettings,
)

pytestmark = pytest.mark.e2e

#: The worker decides, the sink stores, the feed copies to Hà Nội's database, the page polls.
DECIDED_MS = 60_000
OTHER = "79"


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Kafka and ClickHouse of the module's own, migrated, with the BI and dashboard logins
    applied; the settings of its administrator."""
    folder = tmp_path_factory.mktemp("province-officer")
    kafka, controller, tcp, http = free_ports(4)
    stack = StackSettings(
        home=folder / "home",
        kafka_port=kafka,
        kafka_controller_port=controller,
        clickhouse_tcp_port=tcp,
        clickhouse_http_port=http,
    )
    base = Settings(
        kafka=KafkaSettings(bootstrap_servers=f"127.0.0.1:{kafka}"),
        clickhouse=ClickHouseSettings(port=tcp),
        worker=WorkerSettings(data_dir=folder / "worker", web_port=0),
        sink=SinkSettings(flush_interval_seconds=0.3),
        stack=stack,
    )
    stack_env = {
        **os.environ,
        **{f"BAOCAO_STACK_{key.upper()}": str(value) for key, value in stack.model_dump().items()},
    }
    baocao = [sys.executable, "-m", "baocao", "stack"]
    try:
        up = subprocess.run(
            [*baocao, "up"], env=stack_env, capture_output=True, text=True, timeout=240
        )
        assert up.returncode == 0, up.stdout + up.stderr
        settings = with_principal(base.with_clickhouse_login("admin"), Principal.ADMIN)
        env = environment(settings)
        for command in (("migrate",), ("bi", "apply")):
            done = run(*command, env=env)
            assert done.returncode == 0, done.stdout + done.stderr
        yield settings
    finally:
        subprocess.run([*baocao, "down"], env=stack_env, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def seeded(own_stack: Settings) -> Seeded:
    client = connect(own_stack.clickhouse)
    try:
        return seed(client)
    finally:
        client.disconnect()


@pytest.fixture(scope="module")
def env(own_stack: Settings) -> dict[str, str]:
    # The seeded month is past its lock: its amendments are accepted, as in the other tests.
    return environment(own_stack, BAOCAO_DEADLINES_AMENDMENTS_AFTER_LOCK="accept")


@pytest.fixture(scope="module")
def pipeline(
    env: dict[str, str], seeded: Seeded, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    logs = tmp_path_factory.mktemp("province-officer-logs")
    processes: list[Background] = [
        start(name, env=env, log_path=logs / f"{name}.log") for name in ("worker", "sink")
    ]
    yield seeded
    for process in processes:
        process.stop()


@pytest.fixture
def officers(tmp_path: Path) -> Officers:
    return make_officers(tmp_path / "officers.db")


@pytest.fixture
def dashboard(env: dict[str, str], officers: Officers, tmp_path: Path) -> Iterator[str]:
    with serving_dashboard(env, officers, tmp_path) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright, chromium(playwright) as launched:
        yield launched


def shot(page: Page, name: str) -> None:
    page.screenshot(
        path=str(SCREENSHOTS / f"dashboard-province-officer-{name}.png"), full_page=True
    )


def test_a_hanoi_officer_sees_hanoi_through_its_own_login_and_approves_it(
    browser: Browser, dashboard: str, pipeline: Seeded, officers: Officers
) -> None:
    page = browser.new_context(viewport=PHONE).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in_officer(page, dashboard, officers.hanoi)
    expect(page.locator("#who")).to_contain_text("Trần Văn Hùng")

    # Hà Nội's page, read through baocao_dash_p01: its communes, as the seeded month holds them.
    link = dashboard_link(dashboard, report_type="monthly", period=PERIOD, province=HANOI)
    page.evaluate("hash => { location.hash = hash; }", link[link.index("#") :])
    expect(page.locator(f'tr[data-commune="{pipeline.on_time}"] .badge')).to_have_text("Đúng hạn")
    expect(page.locator(f'tr[data-commune="{pipeline.late}"] .badge')).to_have_text("Trễ hạn")
    expect(page.locator("#error")).to_be_hidden()
    shot(page, "hanoi")

    # Its own export comes through its own login; another province's is refused before any read.
    query = {"report_type": "monthly", "period": PERIOD}
    own = page.request.get(f"{dashboard}/api/provinces/{HANOI}/export.xlsx", params=query)
    assert own.status == 200
    assert own.body()[:2] == b"PK"  # an .xlsx is a zip
    assert page.request.get(f"{dashboard}/api/provinces/{OTHER}", params=query).status == 403
    export = page.request.get(f"{dashboard}/api/provinces/{OTHER}/export.xlsx", params=query)
    assert export.status == 403

    # The officer approves Hà Nội (confirming the missing communes the page names): the worker
    # decides, and the page shows the period approved by this officer's login.
    confirmations: list[str] = []

    def confirm(dialog: Dialog) -> None:
        confirmations.append(dialog.message)
        dialog.accept()

    page.on("dialog", confirm)
    page.get_by_role("button", name="Phê duyệt").click()
    state = page.locator("#approval-state .badge")
    expect(state).to_have_text("Đã phê duyệt", timeout=DECIDED_MS)
    expect(page.locator("#approved-by")).to_have_text(officers.hanoi[0])
    assert pipeline.missing in confirmations[0], confirmations
    shot(page, "approved")
    assert errors == []
