"""The commune app's first load on a weak mobile link: bytes transferred, and the time until
the form can be used, in Debian's Chromium under Chromium's own network emulation.

Starts ``baocao gateway`` on a free loopback port (its own topics and login database, the
stack's Kafka and ClickHouse), adds a clerk, and loads the app with the browser's cache off
and the link emulated through the DevTools protocol (``Network.emulateNetworkConditions``:
``--kbit`` down and up, ``--latency`` ms per round trip; defaults 400 kbit/s and 400 ms, a
poor 3G link). Two loads, each also measured without emulation (the baseline, seconds apart,
so the ratio shows what the link costs):

- first visit: from navigation until the sign-in form can be typed in;
- a signed-in clerk on a fresh browser (no cache, no service worker): from navigation until
  the report form shows its report type, period and indicator inputs (the shell, the session,
  the open periods and the indicators: every round trip the app needs).

Bytes are what the page's requests transferred (headers included, compressed as sent), plus
the service worker's script, which the browser fetches after the page is usable.

Usage: ``python -m bench.commune_app [--kbit 400] [--latency 400] [--json out.json]``
(needs ``baocao stack up`` and /usr/bin/chromium; loopback only).
"""

from __future__ import annotations

import argparse
import json
import signal
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from baocao.core.logins import LoginStore
from baocao.core.principals import Principal, with_principal
from baocao.core.settings import GatewaySettings, KafkaSettings, Settings
from baocao.producers.gateway.clerks import add_clerk
from baocao.producers.gateway.store import GatewayStore
from baocao.producers.gateway.webapp import asset
from bench.gateway import delete_topics, free_port, start_gateway

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
GOAL_BYTES = 150 * 1024
GOAL_SECONDS = 5.0


@dataclass
class Load:
    name: str
    seconds: float
    baseline_seconds: float
    bytes: int
    requests: int


class Network:
    """The DevTools protocol of one page: emulated link, no cache, bytes per request."""

    def __init__(self, context: BrowserContext, page: Page) -> None:
        self.session = context.new_cdp_session(page)
        self.session.send("Network.enable")
        self.session.send("Network.setCacheDisabled", {"cacheDisabled": True})
        self.transferred: dict[str, int] = {}
        self.session.on("Network.loadingFinished", self._finished)

    def _finished(self, event: dict[str, Any]) -> None:
        self.transferred[event["requestId"]] = int(event["encodedDataLength"])

    def emulate(self, kbit: float, latency_ms: float) -> None:
        rate = kbit * 1000 / 8  # bytes per second
        self.session.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": latency_ms,
                "downloadThroughput": rate,
                "uploadThroughput": rate,
            },
        )


def timed_load(
    browser: Browser, url: str, ready: str, *, link: tuple[float, float] | None, cookies: list[Any]
) -> tuple[float, int, int]:
    """Seconds from navigation until ``ready`` is visible, bytes and requests transferred."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, service_workers="block")
    context.add_cookies(cookies)
    page = context.new_page()
    network = Network(context, page)
    if link is not None:
        network.emulate(*link)
    started = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.locator(ready).wait_for(state="visible", timeout=120_000)
    seconds = time.perf_counter() - started
    page.wait_for_load_state("networkidle")
    total, count = sum(network.transferred.values()), len(network.transferred)
    context.close()
    return seconds, total, count


def sign_in_cookies(browser: Browser, url: str, login: str, password: str) -> list[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    page.locator("#login").fill(login)
    page.locator("#password").fill(password)
    page.locator("#signin-button").click()
    page.locator("#f-tthc_received").wait_for(state="visible")
    cookies = context.cookies()
    context.close()
    return list(cookies)


def measure(url: str, login: str, password: str, link: tuple[float, float]) -> list[Load]:
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            cookies = sign_in_cookies(browser, url, login, password)
            loads = []
            for name, ready, jar in (
                ("first visit: sign-in form usable", "#signin-button", []),
                ("signed in: report form usable", "#f-tthc_received", cookies),
            ):
                seconds, transferred, requests = timed_load(
                    browser, url, ready, link=link, cookies=jar
                )
                baseline, _, _ = timed_load(browser, url, ready, link=None, cookies=jar)
                loads.append(Load(name, seconds, baseline, transferred, requests))
            return loads
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kbit", type=float, default=400.0, help="Link speed, both ways.")
    parser.add_argument("--latency", type=float, default=400.0, help="Round trip, ms.")
    parser.add_argument("--json", dest="json_path", help="Also write the results to this file.")
    args = parser.parse_args(argv)

    prefix = f"bench-app-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="baocao-bench-app-") as folder:
        base = with_principal(Settings(), Principal.ADMIN)
        settings = base.model_copy(
            update={
                "kafka": KafkaSettings(**{**base.kafka.model_dump(), "topic_prefix": prefix}),
                "gateway": GatewaySettings(
                    host="127.0.0.1", port=free_port(), db_path=Path(folder) / "gateway.db"
                ),
            }
        )
        store = GatewayStore(settings.gateway.db_path).open()
        login, password = add_clerk(LoginStore(store), "00070", login_id=None, label="bench")
        store.close()
        try:
            process = start_gateway(settings, Path(folder) / "gateway.log", workers=1)
            try:
                url = f"http://127.0.0.1:{settings.gateway.port}/"
                loads = measure(url, login.login_id, password, (args.kbit, args.latency))
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
        finally:
            delete_topics(settings)

    worker_bytes = len(asset("/sw.js").gzipped)
    print(
        f"commune app over {args.kbit:g} kbit/s down and up, {args.latency:g} ms latency "
        "(Chromium's emulation), cache off, 360 px wide"
    )
    print(f"{'load':36} {'seconds':>7} {'unthrottled':>11} {'ratio':>6} {'KB sent':>7} {'reqs':>4}")
    for load in loads:
        print(
            f"{load.name:36} {load.seconds:7.2f} {load.baseline_seconds:11.2f} "
            f"{load.seconds / load.baseline_seconds:6.1f} {load.bytes / 1024:7.1f} "
            f"{load.requests:4d}"
        )
    heaviest = max(load.bytes for load in loads) + worker_bytes
    slowest = max(load.seconds for load in loads)
    print(
        f"+ service worker script {worker_bytes / 1024:.1f} KB after the page is usable; "
        f"heaviest load with it {heaviest / 1024:.1f} KB (goal {GOAL_BYTES / 1024:.0f} KB), "
        f"slowest {slowest:.2f} s (goal {GOAL_SECONDS:g} s)"
    )
    if args.json_path:
        Path(args.json_path).write_text(
            json.dumps(
                {
                    "kbit": args.kbit,
                    "latency_ms": args.latency,
                    "loads": [asdict(load) for load in loads],
                    "service_worker_bytes": worker_bytes,
                },
                indent=2,
            )
        )
    return 0 if heaviest <= GOAL_BYTES and slowest <= GOAL_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
