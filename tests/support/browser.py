"""Debian's Chromium for the browser tests: where it is, how it is launched, the phone's
screen, where screenshots go (CI keeps ``ci-artifacts/``), and the officers' sign-in form."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, Playwright, ViewportSize, expect

__all__ = [
    "CHROMIUM",
    "CHROMIUM_FLAGS",
    "PHONE",
    "SCREENSHOTS",
    "chromium",
    "sideways_overflow",
    "sign_in_officer",
]

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


#: What sticks out sideways on the page: the document wider than the window, an element of
#: ``selectors`` whose box leaves the window, and a box that scrolls sideways (a card, a table's
#: wrapper) because what it holds is wider than it.
_OVERFLOW = """selectors => {
  const width = window.innerWidth;
  const found = [];
  const page = document.documentElement.scrollWidth;
  if (page > width) found.push(`page ${page} px > window ${width} px`);
  for (const selector of selectors) {
    const elements = document.querySelectorAll(selector);
    if (!elements.length) found.push(`${selector}: not on the page`);
    for (const element of elements) {
      const box = element.getBoundingClientRect();
      if (box.left < 0 || box.right > width) {
        found.push(`${selector}: ${Math.round(box.left)}..${Math.round(box.right)} px`);
      }
    }
  }
  for (const element of document.querySelectorAll("body *")) {
    const scrolls = ["auto", "scroll"].includes(getComputedStyle(element).overflowX);
    if (scrolls && element.scrollWidth > element.clientWidth + 1) {
      const name = `${element.tagName.toLowerCase()}.${element.className}`;
      found.push(`${name}: scrolls ${element.scrollWidth} > ${element.clientWidth} px`);
    }
  }
  return found;
}"""


def sideways_overflow(page: Page, *selectors: str) -> list[str]:
    """Everything that makes a reader scroll sideways (empty when the page fits its window):
    the page itself, each element of ``selectors`` (each must be on the page), any box that
    scrolls sideways."""
    found: list[str] = page.evaluate(_OVERFLOW, list(selectors))
    return found
