"""Debian's Chromium for the browser tests: where it is, how it is launched, the phone's
screen, where screenshots go (CI keeps ``ci-artifacts/``), and the officers' sign-in form."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, Playwright, ViewportSize, expect

__all__ = ["CHROMIUM", "CHROMIUM_FLAGS", "PHONE", "SCREENSHOTS", "chromium", "sign_in_officer"]

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "ci-artifacts" / "screenshots"
#: Headless, and nothing that reaches out of the machine on its own.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: A small phone, as a commune clerk or an officer on the road has.
PHONE: ViewportSize = {"width": 360, "height": 740}


@contextmanager
def chromium(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, closed on exit; screenshots' folder made."""
    assert CHROMIUM.exists(), "install Debian's chromium (scripts/install-system-deps.sh)"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
    )
    try:
        yield browser
    finally:
        browser.close()


def sign_in_officer(page: Page, url: str, credentials: tuple[str, str]) -> None:
    """Through the dashboard's sign-in form, as an officer would: it asks first."""
    page.goto(url)
    expect(page).to_have_url(f"{url}/login")
    page.get_by_label("Tên đăng nhập").fill(credentials[0])
    page.get_by_label("Mật khẩu").fill(credentials[1])
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.locator("#who")).not_to_be_empty()
