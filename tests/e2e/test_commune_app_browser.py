"""The commune app in a real headless Chromium at a phone's width (Debian's ``chromium``,
driven by Playwright), on a real ``baocao gateway`` with the real worker and sink behind it:
a clerk signs in, fills in, sees a soft-rule warning, is stopped by a hard error, sends, sees
the report accepted and its figure in the province's view, corrects it (revision 2, the
figure moves by the difference); a report sent while the gateway is down survives a reload
and a browser restart and arrives exactly once; the link of a notifier's reminder opens the
form on its report type and period. Screenshots go to ``ci-artifacts/screenshots/``.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from clickhouse_driver import Client
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    Request,
    Response,
    expect,
    sync_playwright,
)
from support.browser import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    PHONE,
    SCREENSHOTS,
    chromium,
    sideways_overflow,
)
from support.cli import Background, run, start
from support.gateway import (
    RunningGateway,
    add_clerk,
    clerk_client,
    drop_topics,
    read_reports_topic,
    running_gateway,
)
from support.settings import environment
from support.worker import PERIOD

from baocao.app.dashboard.contacts import Contact
from baocao.app.notifier.compose import drafts_of
from baocao.app.notifier.due import Notice
from baocao.core.avro import codec_for
from baocao.core.clickhouse import connect
from baocao.core.models import LOCAL_TIMEZONE, CommuneReport
from baocao.core.periods import ReportType, deadline, parse_period, period_containing
from baocao.core.reference import load_reference
from baocao.core.settings import NotifierSettings, Settings
from baocao.producers.publisher import ReportPublisher

pytestmark = pytest.mark.e2e

HANOI = "01"
#: The worker and the sink start in ~10 s; the first report then takes a few seconds.
PIPELINE_TIMEOUT = 120_000


@pytest.fixture
def pipeline(test_settings: Settings, tmp_path: Path, clickhouse_db: str) -> Iterator[None]:
    """The test's ClickHouse database migrated, and the worker and sink running on its
    topics (what the province's views are built from)."""
    env = environment(test_settings, BAOCAO_LOG_LEVEL="INFO")
    migrated = run("migrate", env=env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    processes: list[Background] = [
        start(name, env=env, log_path=tmp_path / f"{name}.log") for name in ("worker", "sink")
    ]
    yield
    for process in processes:
        process.stop()
    drop_topics(test_settings, also=(f"{test_settings.worker.app_id}-",))


@pytest.fixture
def gateway(test_settings: Settings, tmp_path: Path, pipeline: None) -> Iterator[RunningGateway]:
    with running_gateway(test_settings, tmp_path / "gw", rate_limit_per_second=0) as running:
        yield running


@pytest.fixture
def playwright() -> Iterator[Playwright]:
    assert CHROMIUM.exists(), "install Debian's chromium (scripts/install-system-deps.sh)"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def browser(playwright: Playwright) -> Iterator[Browser]:
    with chromium(playwright) as launched:
        yield launched


def phone(context: BrowserContext) -> tuple[Page, list[str]]:
    """A page in ``context`` and the errors its scripts raise."""
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    return page, problems


def sign_in(page: Page, url: str, login: str, password: str) -> None:
    page.goto(url)
    page.get_by_label("Tên đăng nhập").fill(login)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.locator("#report")).to_be_visible()
    expect(page.locator("#who")).to_contain_text("00070")


def open_period(page: Page, period: str = PERIOD) -> None:
    page.get_by_label("Loại báo cáo").select_option("monthly")
    page.get_by_label("Kỳ báo cáo").select_option(period)
    expect(page.locator("#f-tthc_received")).to_be_visible()


def fill(page: Page, **values: float) -> None:
    for code, value in values.items():
        page.locator(f"#f-{code}").fill(str(value))


def province_figure(settings: Settings, indicator: str = "tthc_received") -> float | None:
    client: Client = connect(settings.clickhouse)
    try:
        rows = client.execute(
            "SELECT value FROM province_indicators WHERE province_code = %(p)s"
            " AND period = %(period)s AND indicator_code = %(i)s",
            {"p": HANOI, "period": PERIOD, "i": indicator},
        )
    finally:
        client.disconnect()
    return float(rows[0][0]) if rows else None


def wait_for_figure(settings: Settings, expected: float, timeout: float = 60.0) -> None:
    from support.wait import eventually

    def check() -> bool:
        return province_figure(settings) == expected

    def held() -> str:
        client: Client = connect(settings.clickhouse)
        try:
            figures = client.execute(
                "SELECT province_code, period, indicator_code, value FROM province_indicators"
            )
            reports = client.execute("SELECT * FROM latest_commune_reports")
        finally:
            client.disconnect()
        return f"province_indicators: {figures}\nlatest_commune_reports: {reports}"

    eventually(
        check, what=f"the province figure {expected}", timeout=timeout, interval=0.5, log=held
    )


def report_posts(page: Page) -> list[Request]:
    posts: list[Request] = []
    page.on(
        "request",
        lambda r: posts.append(r) if r.method == "POST" and r.url.endswith("/v1/reports") else None,
    )
    return posts


def test_a_clerk_sends_and_corrects_a_report_and_the_province_sees_it(
    gateway: RunningGateway, browser: Browser, test_settings: Settings
) -> None:
    login, password = add_clerk(gateway, "00070")
    context = browser.new_context(viewport=PHONE, locale="vi-VN")
    page, problems = phone(context)
    posts = report_posts(page)
    sign_in(page, gateway.url, login, password)
    page.screenshot(path=str(SCREENSHOTS / "commune-app-form-vi.png"), full_page=False)
    open_period(page)
    expect(page.locator("#period-info")).to_contain_text("Chưa nộp")

    # The draft is kept on the device while typing: a reload does not lose it.
    fill(page, tthc_online=7)
    expect(page.locator("#f-tthc_online")).to_have_value("7")
    page.reload()
    open_period(page)
    expect(page.locator("#f-tthc_online")).to_have_value("7")

    # A hard error (the catalogue says it cannot be negative) blocks the send.
    fill(page, tthc_received=-5)
    page.get_by_role("button", name="Gửi báo cáo").click()
    expect(page.locator("#problems")).to_contain_text("Không được âm")
    expect(page.locator("#f-tthc_received")).to_have_attribute("aria-invalid", "true")
    page.screenshot(path=str(SCREENSHOTS / "commune-app-hard-error.png"), full_page=True)
    assert posts == []

    # A soft rule (resolved more than received) warns; the report may still be sent.
    fill(page, tthc_received=120, tthc_resolved_on_time=100, tthc_resolved_late=30)
    expect(page.locator("#warnings")).to_contain_text("lớn hơn số hồ sơ tiếp nhận")
    expect(page.locator("#problems")).to_be_hidden()
    assert sideways_overflow(page, "main") == []  # the whole form, at 360 px
    page.screenshot(path=str(SCREENSHOTS / "commune-app-warning.png"), full_page=True)
    page.get_by_role("button", name="Gửi báo cáo").click()
    expect(page.locator("#outcome")).to_contain_text("Đã tiếp nhận", timeout=PIPELINE_TIMEOUT)
    expect(page.locator("#result")).to_contain_text("theo lúc hệ thống nhận")
    assert sideways_overflow(page, "main") == []
    page.screenshot(path=str(SCREENSHOTS / "commune-app-accepted.png"), full_page=True)
    assert len(posts) == 1
    first_id = json.loads(posts[0].post_data or "{}")["report_id"]
    wait_for_figure(test_settings, 120.0)
    before = province_figure(test_settings)

    # Another commune's clerk can neither read this report nor send for this commune.
    other_login, other_password = add_clerk(gateway, "00073")
    intruder_context = browser.new_context(viewport=PHONE)
    intruder, _ = phone(intruder_context)
    intruder.goto(gateway.url)
    intruder.get_by_label("Tên đăng nhập").fill(other_login)
    intruder.get_by_label("Mật khẩu").fill(other_password)
    intruder.get_by_role("button", name="Đăng nhập").click()
    expect(intruder.locator("#who")).to_contain_text("00073")
    peeked = intruder.evaluate("async (id) => (await fetch('/v1/reports/' + id)).status", first_id)
    forged = intruder.evaluate(
        """async (body) => (await fetch('/v1/reports', {method: 'POST', body})).status""",
        json.dumps({**json.loads(posts[0].post_data or "{}"), "report_id": first_id[:-4] + "ffff"}),
    )
    assert (peeked, forged) == (404, 403)
    intruder_context.close()

    # A cross-site form post from another origin on the same host (same site: the cookie
    # rides along) is refused by its Origin.
    attacker = context.new_page()
    attack_url = "http://127.0.0.1:9/attack"
    forged_body = '{"report_id":"00000000-0000-4000-8000-000000000000","x":"'
    attacker.route(
        attack_url,
        lambda route: route.fulfill(
            content_type="text/html",
            body=f"""<form method="post" action="{gateway.url}/v1/reports" enctype="text/plain">
            <input name='{forged_body}' value='"}}'></form>
            <script>document.forms[0].submit()</script>""",
        ),
    )
    with attacker.expect_navigation(url=f"{gateway.url}/v1/reports"):
        attacker.goto(attack_url)
    assert "origin_refused" in attacker.content()
    attacker.close()

    # The English toggle.
    page.locator("#lang").click()
    expect(page.locator("#title")).to_have_text("Commune reports")
    expect(page.get_by_label("Report type")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "commune-app-en.png"), full_page=True)
    page.locator("#lang").click()

    # A second tab opens the correction too, and will be stale.
    stale = context.new_page()
    stale.goto(gateway.url)
    open_period(stale)
    stale.get_by_role("button", name="Sửa báo cáo").click()
    expect(stale.locator("#f-tthc_received")).to_have_value("120")

    # "Sửa báo cáo" opens the accepted revision; sending it makes revision 2.
    expect(page.locator("#period-info")).to_contain_text(re.compile("Đã nộp đúng hạn|Nộp muộn"))
    page.get_by_role("button", name="Sửa báo cáo").click()
    expect(page.locator("#f-tthc_received")).to_have_value("120")
    expect(page.locator("#revision-note")).to_contain_text("lần điều chỉnh 2")
    fill(page, tthc_received=150)
    page.get_by_role("button", name="Gửi báo cáo").click()
    expect(page.locator("#result")).to_contain_text("Lần điều chỉnh 2", timeout=PIPELINE_TIMEOUT)
    expect(page.locator("#outcome")).to_contain_text("Đã tiếp nhận")
    wait_for_figure(test_settings, 150.0)
    assert before is not None and province_figure(test_settings) == before + 30
    assert len(posts) == 2
    assert json.loads(posts[1].post_data or "{}")["revision"] == 2
    page.screenshot(path=str(SCREENSHOTS / "commune-app-corrected.png"), full_page=True)

    # The stale tab sends its own revision 2: a clear message, and what it typed stays.
    stale.locator("#f-tthc_received").fill("130")
    stale.get_by_role("button", name="Gửi báo cáo").click()
    expect(stale.locator("#report")).to_contain_text("đã được nhận với số liệu khác")
    expect(stale.locator("#f-tthc_received")).to_have_value("130")
    stale.screenshot(path=str(SCREENSHOTS / "commune-app-stale-tab.png"))
    assert province_figure(test_settings) == 150.0
    assert problems == []
    context.close()


def launch_phone(playwright: Playwright, profile: Path) -> BrowserContext:
    """A phone's browser with its storage on disk (closing and launching it again is a
    phone restart)."""
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_FLAGS,
        viewport=PHONE,
        locale="vi-VN",
    )


def test_a_report_sent_while_the_gateway_is_down_arrives_once(
    test_settings: Settings, tmp_path: Path, pipeline: None, playwright: Playwright
) -> None:
    profile = tmp_path / "phone"
    replayed: list[str] = []

    def on_response(response: Response) -> None:
        if response.request.method == "POST" and response.url.endswith("/v1/reports"):
            replayed.append(response.headers.get("idempotent-replayed", "false"))

    with running_gateway(test_settings, tmp_path / "gw", rate_limit_per_second=0) as gateway:
        port = int(gateway.url.rsplit(":", 1)[1])
        login, password = add_clerk(gateway, "00070")
        context = launch_phone(playwright, profile)
        page, problems = phone(context)
        sign_in(page, gateway.url, login, password)
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        open_period(page)
        fill(page, tthc_received=80, tthc_online=20)
        expect(page.locator("#warnings")).to_be_hidden()

        # The first answer is lost on the way back (the gateway did publish): the report
        # stays queued, and its retry must be answered Idempotent-Replayed.
        def lose_answer(route: Any) -> None:
            route.fetch()
            route.abort("connectionreset")

        page.route(f"{gateway.url}/v1/reports", lose_answer)
        with page.expect_event("requestfailed"):
            page.get_by_role("button", name="Gửi báo cáo").click()
        expect(page.locator("#queue")).to_contain_text("Chờ gửi — chưa được nhận")
        expect(page.locator("#net")).to_be_visible()
        page.unroute(f"{gateway.url}/v1/reports")
        # Until the gateway is down, the page's retries do not reach it either.
        page.route(f"{gateway.url}/v1/**", lambda route: route.abort())
        queued = page.evaluate("JSON.parse(localStorage.getItem('bc.queue'))")
        assert len(queued) == 1
        report_id, body = queued[0]["report_id"], queued[0]["body"]
    # The gateway is down: its port is closed.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)

    page.unroute(f"http://127.0.0.1:{port}/v1/**")
    page.reload()  # the shell comes from the service worker
    expect(page.locator("#queue")).to_contain_text("Chờ gửi — chưa được nhận")
    expect(page.locator("#net")).to_be_visible()
    expect(page.locator("#queue")).to_contain_text("iPhone")
    page.screenshot(path=str(SCREENSHOTS / "commune-app-offline-queue.png"), full_page=True)
    assert problems == []
    context.close()

    context = launch_phone(playwright, profile)  # the phone restarts, still offline
    page, problems = phone(context)
    page.on("response", on_response)
    page.goto(f"http://127.0.0.1:{port}/")
    expect(page.locator("#queue")).to_contain_text("Chờ gửi — chưa được nhận")
    assert page.evaluate("JSON.parse(localStorage.getItem('bc.queue'))[0].body") == body

    # Meanwhile the session ended (here: an operator reset the clerk's password).
    reset = run(
        "clerks",
        "reset",
        "--commune",
        "00070",
        "--login",
        login,
        env=environment(gateway.settings),
    )
    assert reset.returncode == 0, reset.stderr
    new_password = reset.stdout.split("password: ")[1].strip()

    with running_gateway(test_settings, tmp_path / "gw", port=port, rate_limit_per_second=0):
        # The gateway answers again: the clerk is asked to sign in, the queue still waits.
        expect(page.locator("#signin-error")).to_contain_text("đăng nhập lại", timeout=30_000)
        expect(page.locator("#queue")).to_contain_text("Chờ gửi — chưa được nhận")
        page.get_by_label("Tên đăng nhập").fill(login)
        page.get_by_label("Mật khẩu").fill(new_password)
        page.get_by_role("button", name="Đăng nhập").click()
        expect(page.locator("#outcome")).to_contain_text("Đã tiếp nhận", timeout=PIPELINE_TIMEOUT)
        expect(page.locator("#queue")).to_be_hidden()
        page.screenshot(path=str(SCREENSHOTS / "commune-app-sent-after-restart.png"))
        codec = codec_for("commune_report.v1")
        on_topic = [codec.decode(r.value)["report_id"] for r in read_reports_topic(test_settings)]
        assert [str(x) for x in on_topic].count(report_id) == 1
        assert replayed == ["true"]
    assert problems == []
    context.close()


# -- the page's check against the worker ---------------------------------------------------

#: Reason codes a report can carry both through the page's check and to the worker. Not here:
#: ``malformed_event`` and ``schema_error`` (such a body cannot become an Avro event: the
#: worker only meets them from other producers), ``unknown_commune`` (a clerk's session
#: reports for its own commune: another code is a 403 before any rule),
#: ``outside_import_scope`` (the import's), ``internal_error`` and ``more_reasons`` (the
#: worker's own failures and truncation).
COMPARABLE_REASONS = {
    "unknown_province",
    "commune_not_in_province",
    "unknown_indicator",
    "derived_indicator",
    "value_not_finite",
    "value_out_of_range",
    "invalid_period",
    "invalid_revision",
    "empty_report",
    "stale_revision",
    "conflicting_revision",
    "period_locked",
    "indicator_not_in_report_type",
    "report_type_mismatch",
}
SOFT_RULES = {
    "resolved_exceeds_received",
    "resolved_parts_mismatch",
    "far_from_history",
    "submitted_at_far_from_receipt",
}


@dataclass(frozen=True)
class Case:
    """A generated report and what it is made to meet (reasons, or warnings when valid)."""

    name: str
    report: CommuneReport
    reasons: frozenset[str] = frozenset()
    warnings: frozenset[str] = frozenset()
    #: How many seconds before its sending the report claims it was submitted.
    claims_ago: float = 0

    def sent_now(self) -> CommuneReport:
        """The report as sent now (the cases are judged one after another, over a minute)."""
        claimed = datetime.now(UTC) - timedelta(seconds=self.claims_ago)
        return replace(self.report, submitted_at=claimed.replace(microsecond=0))


def generated_cases(now: datetime) -> list[Case]:
    """One report per reason code and per side of every rule boundary, in an order whose
    history makes the revision and history rules meet their cases (each is judged after the
    ones before it took effect)."""
    previous = period_containing(ReportType.MONTHLY, now).previous().text
    current = period_containing(ReportType.MONTHLY, now).text
    week = period_containing(ReportType.WEEKLY, now).text
    last_week = period_containing(ReportType.WEEKLY, now).previous().text
    today = period_containing(ReportType.DAILY, now).text

    def make(period: str, revision: int = 1, **fields: Any) -> CommuneReport:
        indicators = fields.pop("indicators")
        return CommuneReport(
            report_id=str(uuid.uuid4()),
            commune_code="00070",
            province_code=fields.pop("province", HANOI),
            period=period,
            revision=revision,
            submitted_at=datetime.now(UTC),
            indicators=indicators,
            report_type=fields.pop("report_type", None),
        )

    r, w = frozenset, frozenset
    return [
        Case("history base", make(previous, indicators={"tthc_received": 100, "tthc_online": 5})),
        Case("exactly 10x history", make(current, indicators={"tthc_received": 1000})),
        Case(
            "over 10x history",
            make(current, 2, indicators={"tthc_received": 1001}),
            warnings=w({"far_from_history"}),
        ),
        Case(
            "older revision",
            make(current, 1, indicators={"tthc_received": 7}),
            reasons=r({"stale_revision"}),
        ),
        Case(
            "same revision, other figures",
            make(current, 2, indicators={"tthc_received": 999}),
            reasons=r({"conflicting_revision"}),
        ),
        Case(
            "resolved equals received",
            make(
                week,
                indicators={
                    "tthc_received": 10,
                    "tthc_resolved_on_time": 6,
                    "tthc_resolved_late": 4,
                },
            ),
        ),
        Case(
            "resolved one over received",
            make(
                week,
                2,
                indicators={
                    "tthc_received": 10,
                    "tthc_resolved_on_time": 6,
                    "tthc_resolved_late": 5,
                },
            ),
            warnings=w({"resolved_exceeds_received"}),
        ),
        Case(
            "resolved equals its parts",
            make(
                week,
                3,
                indicators={
                    "tthc_received": 20,
                    "tthc_resolved": 10,
                    "tthc_resolved_on_time": 6,
                    "tthc_resolved_late": 4,
                },
            ),
        ),
        Case(
            "resolved differs from its parts",
            make(
                week,
                4,
                indicators={
                    "tthc_received": 20,
                    "tthc_resolved": 11,
                    "tthc_resolved_on_time": 6,
                    "tthc_resolved_late": 4,
                },
            ),
            warnings=w({"resolved_parts_mismatch"}),
        ),
        Case(
            "daily indicator in a weekly report",
            make(last_week, indicators={"tthc_received": 5, "security_incidents": 1}),
            reasons=r({"indicator_not_in_report_type"}),
        ),
        Case(
            "report type against its period",
            make(last_week, report_type="monthly", indicators={"tthc_received": 5}),
            reasons=r({"report_type_mismatch"}),
        ),
        Case(
            "a ratio reported",
            make(last_week, indicators={"tthc_received": 5, "tthc_on_time_rate": 0.5}),
            reasons=r({"derived_indicator"}),
        ),
        Case(
            "unknown indicator",
            make(last_week, indicators={"tthc_received": 5, "tthc_typo": 1}),
            reasons=r({"unknown_indicator"}),
        ),
        Case(
            "not a number",
            make(last_week, indicators={"tthc_received": math.nan}),
            reasons=r({"value_not_finite"}),
        ),
        Case(
            "just below zero",
            make(last_week, indicators={"tthc_received": -1}),
            reasons=r({"value_out_of_range"}),
        ),
        Case("at the largest value", make(last_week, indicators={"tthc_received": 1e12})),
        Case(
            "just over the largest value",
            make(last_week, 2, indicators={"tthc_received": 1e12 + 1}),
            reasons=r({"value_out_of_range"}),
        ),
        Case(
            "no such period",
            make(f"{now.year}-13", indicators={"tthc_received": 1}),
            reasons=r({"invalid_period"}),
        ),
        Case(
            "revision zero",
            make(previous, 0, indicators={"tthc_received": 1}),
            reasons=r({"invalid_revision"}),
        ),
        Case("no figures", make(previous, 2, indicators={}), reasons=r({"empty_report"})),
        Case(
            "another province",
            make(previous, 2, province="79", indicators={"tthc_received": 1}),
            reasons=r({"commune_not_in_province"}),
        ),
        Case(
            "no such province",
            make(previous, 2, province="99", indicators={"tthc_received": 1}),
            reasons=r({"unknown_province"}),
        ),
        Case(
            "a locked period",
            make("2025-08", indicators={"tthc_received": 1}),
            reasons=r({"period_locked"}),
        ),
        Case(
            "claimed time inside the tolerance",
            make(today, indicators={"security_incidents": 1}),
            claims_ago=560,
        ),
        Case(
            "claimed time past the tolerance",
            make(today, 2, indicators={"security_incidents": 2}),
            warnings=w({"submitted_at_far_from_receipt"}),
            claims_ago=660,
        ),
    ]


def worker_verdict(settings: Settings, report_id: str) -> tuple[set[str], set[str]] | None:
    """The reasons the worker refused the report for, and the warnings it gave it; ``None``
    until the worker's outputs are all in ClickHouse."""
    from support.sink import all_committed

    client: Client = connect(settings.clickhouse)
    try:
        accepted = client.execute(
            "SELECT count() FROM latest_commune_reports WHERE report_id = %(id)s",
            {"id": report_id},
        )[0][0]
        refused = {
            row[0]
            for row in client.execute(
                "SELECT reason_code FROM rejected_reports WHERE report_id = %(id)s",
                {"id": report_id},
            )
        }
        warned = {
            row[0]
            for row in client.execute(
                "SELECT rule_code FROM report_warnings_log FINAL WHERE report_id = %(id)s",
                {"id": report_id},
            )
        }
    finally:
        client.disconnect()
    if not (accepted or refused) or not all_committed(settings):
        return None
    return refused, warned


def test_the_pages_check_and_the_worker_agree_report_by_report(
    gateway: RunningGateway, browser: Browser, test_settings: Settings
) -> None:
    from support.wait import eventually

    login, password = add_clerk(gateway, "00070")
    context = browser.new_context(viewport=PHONE)
    page, problems = phone(context)
    sign_in(page, gateway.url, login, password)
    cases = generated_cases(datetime.now(LOCAL_TIMEZONE))
    assert {code for c in cases for code in c.reasons} == COMPARABLE_REASONS
    assert {code for c in cases for code in c.warnings} == SOFT_RULES
    disagreements = []
    publisher = ReportPublisher(test_settings.kafka, registry=None)
    with publisher:
        for case in cases:
            sent = case.sent_now()
            body = json.dumps(sent.to_json())
            kind = sent.report_type or str(
                parse_period(sent.period).report_type if sent.period[5:] != "13" else "monthly"
            )
            page_says = page.evaluate("([b, t]) => window.baocao.check(b, t)", [body, kind])
            publisher.send(sent)
            publisher.flush()
            refused, warned = eventually(
                lambda case=case: worker_verdict(test_settings, case.report.report_id),
                what=f"the worker's verdict on {case.name}",
                timeout=60,
                interval=0.3,
            )
            page_view = (page_says["status"], set(page_says["reasons"]), set(page_says["warnings"]))
            if page_view != (200, refused, warned) or (case.reasons, case.warnings) != (
                refused,
                warned,
            ):
                disagreements.append((case.name, page_view, refused, warned))
            # The page's own (offline) check never blocks a report the pipeline accepts.
            assert not page_says["local"] or refused, case.name
    assert disagreements == []
    assert problems == []
    context.close()


def test_the_service_worker_sends_the_queue_while_the_app_is_closed(
    gateway: RunningGateway, browser: Browser, test_settings: Settings
) -> None:
    """Background Sync (Chromium; iOS has none): the page could not send, the clerk left the
    app, the browser fires the sync (here through DevTools, as it would when online), the
    service worker sends the exact bytes; the app, opened again, shows the outcome without
    sending anything itself."""
    login, password = add_clerk(gateway, "00070")
    context = browser.new_context(viewport=PHONE)
    page, problems = phone(context)
    registrations: list[dict[str, Any]] = []
    devtools = context.new_cdp_session(page)
    devtools.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.extend(event["registrations"]),
    )
    devtools.send("ServiceWorker.enable")
    sign_in(page, gateway.url, login, password)
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    open_period(page)
    fill(page, tthc_received=64)
    page.route(f"{gateway.url}/v1/reports", lambda route: route.abort())  # the page's own sends
    with page.expect_event("requestfailed"):
        page.get_by_role("button", name="Gửi báo cáo").click()
    expect(page.locator("#queue")).to_contain_text("Chờ gửi — chưa được nhận")
    report_id = page.evaluate("JSON.parse(localStorage.getItem('bc.queue'))[0].report_id")

    page.goto("about:blank")  # the clerk leaves the app
    registration = next(r for r in registrations if r["scopeURL"] == f"{gateway.url}/")
    devtools.send(
        "ServiceWorker.dispatchSyncEvent",
        {
            "origin": gateway.url,
            "registrationId": registration["registrationId"],
            "tag": "baocao-outbox",
            "lastChance": False,
        },
    )
    codec = codec_for("commune_report.v1")

    def on_topic() -> list[str]:
        return [str(codec.decode(r.value)["report_id"]) for r in read_reports_topic(test_settings)]

    from support.wait import eventually

    eventually(lambda: report_id in on_topic(), what="the service worker's send", timeout=30)

    posts = report_posts(page)
    page.goto(gateway.url)  # the app again: the outcome, and nothing sent twice
    expect(page.locator("#outcome")).to_contain_text("Đã tiếp nhận", timeout=PIPELINE_TIMEOUT)
    expect(page.locator("#queue")).to_be_hidden()
    assert posts == []
    assert on_topic().count(report_id) == 1
    assert problems == []
    context.close()


# -- the link of a reminder ---------------------------------------------------------------


@pytest.fixture
def form_gateway(
    test_settings: Settings, tmp_path: Path, clickhouse_db: str
) -> Iterator[RunningGateway]:
    """A gateway on the test's migrated database, without the worker and the sink (the form
    only reads what they wrote)."""
    migrated = run("migrate", env=environment(test_settings))
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    with running_gateway(test_settings, tmp_path / "gw", rate_limit_per_second=0) as running:
        yield running
    drop_topics(test_settings)


def notifier_link(gateway: RunningGateway, kind: str, report_type: str, period: str) -> str:
    """The link of the clerk's message that ``baocao notifier`` renders for 00070, pointed
    at ``gateway``."""
    notice = Notice(
        kind=kind,  # type: ignore[arg-type]
        report_type=report_type,
        period=period,
        deadline=deadline(parse_period(period), gateway.settings.deadlines),
        province=HANOI,
        subject="00070",
    )
    clerk = Contact("00070", "clerk", "Nguyễn Văn An", "an@example.vn", "", "vi")
    settings = NotifierSettings(form_url=gateway.url)
    (draft,) = drafts_of(notice, [clerk], load_reference(), settings)
    assert draft.link in draft.text
    return draft.link


def shown(page: Page) -> tuple[str, str]:
    return page.locator("#report-type").input_value(), page.locator("#period").input_value()


def test_a_reminders_link_opens_the_form_on_its_report_type_and_period(
    form_gateway: RunningGateway, browser: Browser
) -> None:
    gateway = form_gateway
    login, password = add_clerk(gateway, "00070")
    with clerk_client(gateway, login, password) as client:
        offered = {
            t["report_type"]: [p["period"] for p in t["periods"]]
            for t in client.get("/v1/form").json()["report_types"]
        }
    # The oldest period the form offers: never the one it opens on by itself (that is the
    # newest ended and unsent, or the current one).
    quarter, month = offered["quarterly"][-1], offered["monthly"][-1]
    reminder = notifier_link(gateway, "reminder", "quarterly", quarter)
    overdue = notifier_link(gateway, "overdue", "monthly", month)
    assert reminder == f"{gateway.url}/?type=quarterly&period={quarter}"

    # Signed out: the clerk signs in first, and the form then opens where the link says.
    context = browser.new_context(viewport=PHONE, locale="vi-VN")
    page, problems = phone(context)
    page.goto(reminder)
    page.get_by_label("Tên đăng nhập").fill(login)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.locator("#who")).to_contain_text("00070")
    expect(page.locator("#period")).to_have_value(quarter)
    assert shown(page) == ("quarterly", quarter)
    expect(page.locator("#period-info")).to_contain_text("Hạn nộp")
    assert page.url == f"{gateway.url}/"  # a reload keeps the clerk's own choice
    page.screenshot(path=str(SCREENSHOTS / "commune-app-from-reminder.png"))

    # Without a link the app opens on a month of its own choosing...
    page.goto(gateway.url)
    page.get_by_label("Loại báo cáo").select_option("monthly")
    expect(page.locator("#f-tthc_received")).to_be_visible()
    default_month = page.locator("#period").input_value()
    assert default_month != month

    # ... signed in, an overdue notice's link opens its own.
    page.goto(overdue)
    expect(page.locator("#period")).to_have_value(month)
    assert shown(page) == ("monthly", month)
    page.goto(reminder)
    expect(page.locator("#period")).to_have_value(quarter)
    assert shown(page) == ("quarterly", quarter)

    # A period the form does not offer (long locked, or made up): the usual choice, no error.
    page.goto(f"{gateway.url}/?type=monthly&period=2001-01")
    expect(page.locator("#report-type")).to_have_value("monthly")
    expect(page.locator("#period")).to_have_value(default_month)
    page.goto(f"{gateway.url}/?type=nonsense&period=%3Cscript%3E")
    expect(page.locator("#report-type")).to_have_value("monthly")
    expect(page.locator("#f-tthc_received")).to_be_visible()
    assert problems == []
    context.close()
