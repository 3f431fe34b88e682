"""Issue 19 in Debian's Chromium at 360 px: officers sign in, and a national officer sends a
commune's report back, sees the corrected revision accepted, approves, unapproves with a
reason, approves again and accepts, after which an unapproval is refused with its reason; a
cross-site post is refused and signing out ends the session. The dashboard, the worker and
the sink run as processes on the test's topics and database; every step goes through Kafka
and the worker decides it. A province officer's own reads: test_dashboard_province_officer_browser.

Screenshots: ci-artifacts/screenshots/dashboard-approval-*.png.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clickhouse_driver import Client
from playwright.sync_api import Browser, Dialog, Page, expect, sync_playwright
from support.browser import PHONE, SCREENSHOTS, chromium, sideways_overflow, sign_in_officer
from support.cli import Background, run, start
from support.dashboard import HANOI, PERIOD, PREVIOUS, Seeded, seed
from support.gateway import drop_topics
from support.officers import Officers, make_officers, serving_dashboard
from support.settings import environment

from baocao.app.dashboard.links import dashboard_link
from baocao.app.dashboard.officers import add_officer
from baocao.core.logins import LoginStore
from baocao.core.models import CommuneReport
from baocao.core.settings import Settings
from baocao.producers.publisher import ReportPublisher

pytestmark = pytest.mark.e2e

#: The worker decides, the sink stores, the page polls every 3 s.
DECIDED_MS = 60_000


@pytest.fixture
def pipeline(test_settings: Settings, tmp_path: Path, db: Client) -> Iterator[Seeded]:
    """Hà Nội's seeded month, and the worker and sink on the test's topics (amendments after
    the lock accepted, as the seeded month is past its lock)."""
    seeded = seed(db)
    env = environment(test_settings, BAOCAO_DEADLINES_AMENDMENTS_AFTER_LOCK="accept")
    assert run("migrate", env=env).returncode == 0
    processes: list[Background] = [
        start(name, env=env, log_path=tmp_path / f"{name}.log") for name in ("worker", "sink")
    ]
    yield seeded
    for process in processes:
        process.stop()
    drop_topics(test_settings, also=(f"{test_settings.worker.app_id}-",))


@pytest.fixture
def officers(tmp_path: Path) -> Officers:
    return make_officers(tmp_path / "officers.db")


@pytest.fixture
def dashboard(test_settings: Settings, tmp_path: Path, officers: Officers) -> Iterator[str]:
    env = environment(test_settings, BAOCAO_DEADLINES_AMENDMENTS_AFTER_LOCK="accept")
    with serving_dashboard(env, officers, tmp_path) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright, chromium(playwright) as launched:
        yield launched


def signed_in_page(browser: Browser, url: str, credentials: tuple[str, str]) -> Page:
    page = browser.new_context(viewport=PHONE).new_page()
    sign_in_officer(page, url, credentials)
    return page


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"dashboard-approval-{name}.png"), full_page=True)


def answer_dialogs(page: Page, text: str) -> None:
    """Every prompt gets ``text`` (a note, a reason), every confirm is accepted."""

    def handle(dialog: Dialog) -> None:
        dialog.accept(text if dialog.type == "prompt" else None)

    page.on("dialog", handle)


def test_officers_approve_send_back_and_accept_in_the_browser(
    browser: Browser,
    dashboard: str,
    pipeline: Seeded,
    officers: Officers,
    test_settings: Settings,
) -> None:
    # (A province officer reading its own province through its own login, and refused
    # another: test_dashboard_province_officer_browser.py, on a stack of its own.)
    national = signed_in_page(browser, dashboard, officers.national)
    # A cross-site post with the officer's cookie is refused by its Origin.
    forged = national.request.post(
        f"{dashboard}/api/provinces/{HANOI}/steps",
        data={
            "action": "approve",
            "report_type": "monthly",
            "period": PERIOD,
            "based_on_version": 0,
            "confirm_missing": True,
        },
        headers={"Origin": "http://evil.example"},
    )
    assert forged.status == 403
    link = dashboard_link(dashboard, report_type="monthly", period=PERIOD, province=HANOI)
    national.evaluate("hash => { location.hash = hash; }", link[link.index("#") :])
    answer_dialogs(national, "Số hồ sơ tiếp nhận chưa khớp")
    row = national.locator(f'tr[data-commune="{pipeline.on_time}"]')
    expect(row.locator(".badge")).to_have_text("Đúng hạn")
    # Two communes of 126 behind each sparkline point: both drawn hollow, as partial.
    expect(national.locator("svg.spark circle.partial")).to_have_count(2)
    # Units in Vietnamese: "hồ sơ", never "dossier".
    expect(national.locator("main")).not_to_contain_text("dossier")

    # Send back: the commune's report becomes returned, with the note.
    row.get_by_role("button", name="Trả lại").click()
    expect(row.locator(".badge")).to_have_text("Đã trả lại", timeout=DECIDED_MS)
    expect(row.locator(".note")).to_have_text("Số hồ sơ tiếp nhận chưa khớp")
    shot(national, "returned")

    # The commune sends a new revision: accepted, and the send-back is answered.
    now = datetime.now(UTC).replace(microsecond=0)
    correction = CommuneReport(
        report_id=str(uuid.uuid4()),
        commune_code=pipeline.on_time,
        province_code=HANOI,
        period=PERIOD,
        revision=2,
        submitted_at=now,
        indicators={"tthc_received": 11.0},
    )
    with ReportPublisher(test_settings.kafka, registry=None) as publisher:
        publisher.send(correction)
        publisher.flush()
    expect(row.locator(".badge")).not_to_have_text("Đã trả lại", timeout=DECIDED_MS)
    expect(row.locator("td.num")).to_have_text("2")

    state = national.locator("#approval-state .badge")
    # Approve (confirming the missing communes): approved with the officer's login.
    national.get_by_role("button", name="Phê duyệt").click()
    expect(state).to_have_text("Đã phê duyệt", timeout=DECIDED_MS)
    expect(national.locator("#approved-by")).to_have_text(officers.national[0])
    shot(national, "approved")
    # Unapprove with a reason, approve again, accept nationally.
    national.get_by_role("button", name="Huỷ phê duyệt").click()
    expect(state).to_have_text("Chưa phê duyệt", timeout=DECIDED_MS)
    national.get_by_role("button", name="Phê duyệt").click()
    expect(state).to_have_text("Đã phê duyệt", timeout=DECIDED_MS)
    national.get_by_role("button", name="Tiếp nhận").click()
    expect(state).to_have_text("Đã tiếp nhận", timeout=DECIDED_MS)
    # An unapproval now (a stale page would send one) is refused with its reason.
    version = int(national.locator("#approval").get_attribute("data-version") or "0")
    refused = national.request.post(
        f"{dashboard}/api/provinces/{HANOI}/steps",
        data={
            "action": "unapprove",
            "report_type": "monthly",
            "period": PERIOD,
            "based_on_version": version,
            "note": "muộn",
        },
        headers={"Origin": dashboard},
    )
    assert refused.status == 202
    history = national.locator("#approval-history")
    national.locator("#approval details summary").click()
    expect(history).to_contain_text("đã được tiếp nhận", timeout=DECIDED_MS)
    expect(history.locator(".badge.refused").first).to_have_text("Bị từ chối")
    # Read on the phone: the history stays open across redraws, each step a card of labels.
    drawn = national.locator("body").get_attribute("data-loaded")
    expect(national.locator("body")).not_to_have_attribute("data-loaded", drawn or "")
    expect(history.locator('td[data-label="Kết quả"] .badge.refused').first).to_be_visible()
    assert sideways_overflow(national, "#approval-history") == []
    shot(national, "accepted-then-refused")

    # Two officers approving on the same page state at once (the month before; approve
    # against send-back is tested on the worker in test_worker_semantics): one wins, the
    # other is told why.
    second = add_officer(LoginStore(officers.database), province=None, name="Phạm Văn Bình")
    pages = [national, signed_in_page(browser, dashboard, (second[0].login_id, second[1]))]
    earlier = dashboard_link(dashboard, report_type="monthly", period=PREVIOUS, province=HANOI)
    for page in pages:
        page.evaluate("hash => { location.hash = hash; }", earlier[earlier.index("#") :])
        expect(page.locator("#approval-state .badge")).to_have_text("Chưa phê duyệt")
    answer_dialogs(pages[1], "")
    for page in pages:
        page.get_by_role("button", name="Phê duyệt").click()
    messages = [page.locator("#step-message") for page in pages]
    for message in messages:
        expect(message).to_contain_text("Phê duyệt: ", timeout=DECIDED_MS)
    texts = sorted(message.inner_text() for message in messages)
    assert (
        texts[0]
        == "Phê duyệt: Bị từ chối — kỳ báo cáo đã thay đổi" + texts[0].split("đã thay đổi", 1)[1]
    ), texts
    assert texts[1] == "Phê duyệt: Đã thực hiện", texts
    shot(pages[1], "concurrent-refused")

    # The session expires (its end moved to the past on the server): the next poll goes back
    # to the sign-in form.
    with officers.database.transaction() as tx:
        tx.execute(
            "UPDATE login_sessions SET expires_at = 0 WHERE login_id = ?", (second[0].login_id,)
        )
    expect(pages[1]).to_have_url(f"{dashboard}/login", timeout=15_000)

    # Signing out ends the session: the page goes back to the sign-in form.
    national.get_by_role("button", name="Đăng xuất").click()
    expect(national).to_have_url(f"{dashboard}/login")
    assert national.request.get(f"{dashboard}/api/me").status == 401


def test_an_officer_issues_a_clerk_login_and_records_a_contact_in_the_browser(
    browser: Browser, dashboard: str, db: Client, officers: Officers
) -> None:
    missing = seed(db).missing  # no worker needed: nothing here goes through Kafka
    page = signed_in_page(browser, dashboard, officers.national)
    link = dashboard_link(dashboard, report_type="monthly", period=PERIOD, province=HANOI)
    page.evaluate("hash => { location.hash = hash; }", link[link.index("#") :])
    page.locator("#tools summary").click()
    page.locator("#clerk-commune").fill(missing)
    page.locator("#clerk-name").fill("Đỗ Thị Hoa")
    page.get_by_role("button", name="Cấp tài khoản").click()
    expect(page.locator("#clerk-message")).to_contain_text("Mật khẩu (chỉ hiện một lần): ")
    login = page.locator("#clerk-message").inner_text().split(" — ")[0]
    expect(page.locator(f'#clerk-list tr[data-login="{login}"]')).to_contain_text("Đỗ Thị Hoa")
    form = page.locator("#contact-form")
    # Every input of the officer's tools has a label (read by screen readers, found by it).
    for label in ("Xã", "Họ tên", "Vai trò", "Điện thoại", "Thư điện tử"):
        expect(form.get_by_label(label, exact=True)).to_have_count(1)
    form.locator('input[name="code"]').fill(missing)
    form.locator('input[name="name"]').fill("Đỗ Thị Hoa")
    form.locator('input[name="phone"]').fill("0912000111")
    form.get_by_role("button", name="Lưu").click()
    expect(page.locator("#contact-list")).to_contain_text("0912000111")
    page.wait_for_timeout(3500)  # a poll redraws the figures: the tools stay open and filled
    expect(page.locator("#contact-list")).to_contain_text("0912000111")
    assert sideways_overflow(page, "#clerk-list", "#contact-list") == []
    shot(page, "clerks-and-contacts")
    page.get_by_role("button", name="Khoá").click()
    expect(page.locator(f'#clerk-list tr[data-login="{login}"] .badge')).to_have_text("Đã khoá")
