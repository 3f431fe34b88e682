"""The dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright):
``baocao dashboard`` runs as a subprocess over a per-test database; the pages load without
console errors, a report stored meanwhile shows up within seconds without a reload, and
screenshots land in ``ci-artifacts/screenshots/`` for a person to look at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_driver import Client
from openpyxl import load_workbook
from playwright.sync_api import ConsoleMessage, Page, expect, sync_playwright
from support.browser import PHONE, SCREENSHOTS, chromium, sideways_overflow, sign_in_officer
from support.dashboard import (
    HANOI,
    PERIOD,
    Seeded,
    announce_upcoming,
    missing_commune_reports,
    seed,
)
from support.officers import Officers, make_officers, serving_dashboard
from support.settings import environment

from baocao.app.dashboard.links import dashboard_link
from baocao.core.reference import load_reference
from baocao.core.settings import Settings

pytestmark = pytest.mark.e2e


@pytest.fixture
def officers(tmp_path: Path) -> Officers:
    return make_officers(tmp_path / "officers.db")


@pytest.fixture
def dashboard_url(
    test_settings: Settings, db: Client, tmp_path: Path, officers: Officers
) -> Iterator[str]:
    """``baocao dashboard`` over the test's database and officers, answering when it yields."""
    with serving_dashboard(environment(test_settings), officers, tmp_path) as url:
        yield url


@pytest.fixture
def page(dashboard_url: str, officers: Officers) -> Iterator[Page]:
    """A page signed in as the national officer, through the sign-in form."""
    with sync_playwright() as playwright, chromium(playwright) as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        sign_in_officer(page, dashboard_url, officers.national)
        yield page


@pytest.fixture
def phone(dashboard_url: str, officers: Officers) -> Iterator[Page]:
    """The same, on a 360 px phone."""
    with sync_playwright() as playwright, chromium(playwright) as browser:
        page = browser.new_context(viewport=PHONE).new_page()
        sign_in_officer(page, dashboard_url, officers.national)
        yield page


def test_pages_load_and_follow_new_reports(page: Page, dashboard_url: str, db: Client) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    seeded: Seeded = seed(db)
    announce_upcoming(db)  # the newest period the views know, empty: not where the page opens
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(dashboard_url)
    expect(page.locator(".tile")).to_have_count(34)
    hanoi = page.locator(f'.tile[data-province="{HANOI}"]')
    expect(page.locator("#type")).to_have_value("monthly")
    expect(page.locator("#period")).to_have_value(PERIOD)
    expect(page).to_have_url(dashboard_link(dashboard_url, report_type="monthly", period=PERIOD))
    expect(page.locator("#national-reported b")).to_contain_text("2 /")
    expect(page.locator("#national-indicators")).to_contain_text("30")
    page.screenshot(path=str(SCREENSHOTS / "dashboard-overview-vi.png"), full_page=True)

    # A new report reaches the views; the open page shows it without a reload.
    missing_commune_reports(db, seeded)
    expect(page.locator("#national-reported b")).to_contain_text("3 /", timeout=10_000)
    expect(page.locator("#national-missing b")).to_have_text(
        # Less Đặc khu Hoàng Sa, which owes no report; vi-VN digit groups.
        f"{len(load_reference().communes) - 3 - 1:,}".replace(",", ".")
    )

    page.locator("#lang").click()
    expect(page.locator("#home")).to_have_text("Report monitoring")
    expect(page.locator("main")).to_contain_text("National indicators")
    expect(page.locator("#freshness")).to_contain_text("Newest data")
    page.screenshot(path=str(SCREENSHOTS / "dashboard-overview-en.png"), full_page=True)

    hanoi.click()
    expect(page.locator(f'tr[data-commune="{seeded.late}"]')).to_contain_text("Late")
    expect(page.locator(f'tr[data-commune="{seeded.refused}"]')).to_contain_text("Rejected")
    expect(page.locator(f'tr[data-commune="{seeded.missing}"]')).to_contain_text("On time")
    # The reason in the page's language; its code in the tooltip.
    expect(page.locator('#rejections td[title="negative_value"]')).to_contain_text(
        "must not be negative"
    )
    expect(page.locator("svg.spark")).to_have_count(1)
    page.screenshot(path=str(SCREENSHOTS / "dashboard-province.png"), full_page=False)

    # The unit-type filter keeps the communes of one type, and "All" brings every one back.
    reference = load_reference()
    kind = reference.communes[seeded.late].division_type
    of_kind = [
        c
        for c in reference.communes_by_province[HANOI]
        if reference.communes[c].division_type == kind
    ]
    page.locator(f'#unit-types a[data-division-type="{kind}"]').click()
    expect(page.locator("#communes tbody tr")).to_have_count(len(of_kind))
    page.locator('#unit-types a[data-division-type=""]').click()
    expect(page.locator("#communes tbody tr")).to_have_count(
        len(reference.communes_by_province[HANOI])
    )

    page.locator(f'tr[data-commune="{seeded.late}"] a').click()
    expect(page.locator("main")).to_contain_text("Administrative dossiers received")
    expect(page.locator("main")).to_contain_text("20")
    page.screenshot(path=str(SCREENSHOTS / "dashboard-commune.png"), full_page=True)

    assert problems == []


def test_shared_links_open_their_period_and_survive_reload_and_back(
    page: Page, dashboard_url: str, db: Client, tmp_path: Path
) -> None:
    """The demo prints a link to the month it published; a province link is shared, reloaded,
    and the browser's back button returns to the overview."""
    seed(db)
    today = announce_upcoming(db)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(dashboard_link(dashboard_url, report_type="monthly", period=PERIOD))
    expect(page.locator("#type")).to_have_value("monthly")
    expect(page.locator("#period")).to_have_value(PERIOD)
    expect(page.locator("#national-reported b")).to_contain_text("2 /")
    expect(page.locator("#national-indicators")).to_contain_text("30")

    # The other report type with its own periods: the upcoming day, labelled as such.
    page.locator("#type").select_option("daily")
    expect(page).to_have_url(dashboard_link(dashboard_url, report_type="daily", period=today))
    expect(page.locator("#period")).to_have_value(today)
    expect(page.locator("#period option")).to_have_text([f"{today} (chưa đến hạn)"])
    expect(page.locator("#national-reported b")).to_contain_text("0 /")
    page.go_back()
    expect(page.locator("#period")).to_have_value(PERIOD)
    expect(page.locator("#national-reported b")).to_contain_text("2 /")

    page.locator(f'.tile[data-province="{HANOI}"]').click()
    province = dashboard_link(dashboard_url, report_type="monthly", period=PERIOD, province=HANOI)
    expect(page).to_have_url(province)
    expect(page.locator("#province-reported")).to_have_text(f"2 / {Seeded().expected}")
    page.reload()
    expect(page).to_have_url(province)
    expect(page.locator("#type")).to_have_value("monthly")
    expect(page.locator("#period")).to_have_value(PERIOD)
    expect(page.locator("#province-reported")).to_have_text(f"2 / {Seeded().expected}")
    expect(page.locator("main")).to_contain_text("Hà Nội")

    # The report to hand upward: the province page's button downloads its workbook.
    with page.expect_download() as download:
        page.locator("#export-xlsx").click()
    assert download.value.suggested_filename == f"baocao-{HANOI}-monthly-{PERIOD}.xlsx"
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    workbook = load_workbook(saved)
    assert workbook.sheetnames == ["Tổng hợp", "Chỉ tiêu", "Xã", "Theo loại đơn vị"]

    page.go_back()
    expect(page).to_have_url(dashboard_link(dashboard_url, report_type="monthly", period=PERIOD))
    expect(page.locator(".tile")).to_have_count(34)
    assert problems == []


def label_of(page: Page, cell: str) -> str:
    """The label a narrow screen shows before ``cell``'s value (its column's header)."""
    content: str = page.locator(cell).evaluate("td => getComputedStyle(td, '::before').content")
    return content.strip('"')


def test_province_and_commune_pages_fit_a_phone(
    phone: Page, dashboard_url: str, db: Client
) -> None:
    """At 360 px nothing scrolls sideways: the province's indicators and its communes are read
    as small cards of labelled values, in Vietnamese and in English; the commune page too."""
    seeded = seed(db)
    problems: list[str] = []
    phone.on("pageerror", lambda error: problems.append(str(error)))
    link = dashboard_link(dashboard_url, report_type="monthly", period=PERIOD, province=HANOI)
    phone.goto(link)
    late = f'#communes tr[data-commune="{seeded.late}"]'
    expect(phone.locator(f"{late} .badge")).to_have_text("Trễ hạn")
    expect(phone.locator("#province-indicators svg.spark")).to_have_count(1)
    assert sideways_overflow(phone, "#province-indicators", "#communes") == []
    assert label_of(phone, f"{late} td.when") == "Nhận lúc"
    assert label_of(phone, "#province-indicators tbody tr:first-child td:nth-child(4)") == (
        "Cùng kỳ năm trước"
    )
    phone.screenshot(path=str(SCREENSHOTS / "dashboard-province-phone-vi.png"), full_page=True)

    phone.locator("#lang").click()
    expect(phone.locator(f"{late} .badge")).to_have_text("Late")
    assert sideways_overflow(phone, "#province-indicators", "#communes") == []
    assert label_of(phone, f"{late} td.when") == "Received"
    # One step in the page: the table may be re-rendered (the language switch, the poll)
    # between a locator's lookup and its scroll, which then finds it detached.
    phone.evaluate("document.querySelector('#communes').scrollIntoView()")
    phone.screenshot(path=str(SCREENSHOTS / "dashboard-province-phone-en.png"))

    phone.locator(f"{late} a").first.click()
    expect(phone.locator("#revisions tbody tr")).to_have_count(1)
    assert sideways_overflow(phone, "#revisions") == []
    phone.screenshot(path=str(SCREENSHOTS / "dashboard-commune-phone.png"), full_page=True)
    assert problems == []


def test_the_wide_tables_keep_their_headers_for_screen_readers(
    page: Page, dashboard_url: str, db: Client
) -> None:
    """On a wide screen the tables look as before (one line a row, no visible header row), and
    a screen reader still finds each column's header."""
    seeded = seed(db)
    page.goto(dashboard_link(dashboard_url, report_type="monthly", period=PERIOD, province=HANOI))
    row = page.locator(f'#communes tr[data-commune="{seeded.late}"]')
    expect(row.locator(".badge")).to_have_text("Trễ hạn")
    received = page.get_by_role("columnheader", name="Nhận lúc")
    expect(received).to_have_count(1)
    header = received.bounding_box()
    assert header is not None
    assert header["height"] <= 1  # there for a reader, not seen
    cells = row.locator("td")
    boxes = [cells.nth(i).bounding_box() for i in range(cells.count())]
    assert len({round(box["y"]) for box in boxes if box}) == 1  # one line, side by side
    assert label_of(page, f'#communes tr[data-commune="{seeded.late}"] td.when') in ("none", "")
