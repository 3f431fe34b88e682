"""The dashboard's JSON API on the real ClickHouse: a per-test database, migrated, with a
known province month written into the tables the BI views read."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from clickhouse_driver import Client
from fastapi.testclient import TestClient
from support import records
from support.dashboard import (
    HANOI,
    PERIOD,
    PREVIOUS,
    Seeded,
    announce_upcoming,
    insert,
    missing_commune_reports,
    seed,
)
from support.net import free_port
from support.officers import Officers, make_officers, signed_in
from support.wait import eventually

from baocao.app.dashboard.contacts import Contact, ContactStore
from baocao.app.dashboard.queries import tile_positions
from baocao.app.demo import dashboard_process
from baocao.app.stack.lifecycle import stack_down
from baocao.app.web import create_app
from baocao.core.periods import ReportType, period_containing
from baocao.core.reference import load_reference
from baocao.core.settings import ClickHouseSettings, Settings, StackSettings
from baocao.sinks.clickhouse.rows.tables import PROVINCE_INDICATOR_VALUES

pytestmark = pytest.mark.integration

QUERY = {"report_type": "monthly", "period": PERIOD}


@pytest.fixture
def seeded(db: Client) -> Seeded:
    return seed(db)


@pytest.fixture
def officers(tmp_path: Path) -> Officers:
    return make_officers(tmp_path / "officers.db")


@pytest.fixture
def api(test_settings: Settings, db: Client, officers: Officers) -> TestClient:
    """Signed in as a national officer (every province); one clerk contact is known."""
    contacts = ContactStore(officers.database, load_reference())
    missing = Seeded().missing
    contacts.save(
        [Contact(missing, "clerk", "Đỗ Thị Hoa", "hoa@example.vn", "0912000111", "vi")], by="t"
    )
    app = create_app(test_settings.clickhouse, door=officers.door(), contacts=contacts)
    return signed_in(app, officers.national)


def test_periods_and_overview(api: TestClient, seeded: Seeded) -> None:
    periods = api.get("/api/periods").json()
    assert [(p["report_type"], p["period"]) for p in periods] == [("monthly", PERIOD)]

    body = api.get("/api/overview", params=QUERY).json()
    assert len(body["provinces"]) == 34
    hanoi = next(p for p in body["provinces"] if p["code"] == HANOI)
    assert (hanoi["reported"], hanoi["on_time"], hanoi["late"]) == (2, 1, 1)
    assert hanoi["completeness_pct"] == round(2 * 100 / seeded.expected, 1)
    assert (hanoi["row"], hanoi["col"]) == tile_positions()[HANOI]
    assert body["national"]["reported"] == 2
    # Every unit but Đặc khu Hoàng Sa, which owes no report.
    assert body["national"]["expected"] == len(load_reference().communes) - 1
    # Less the 2 that reported and Đặc khu Hoàng Sa, which owes no report.
    assert body["missing_overdue"] == len(load_reference().communes) - 2 - 1
    assert body["missing_due"] == 0
    assert body["rejections"] == 1
    received = next(i for i in body["indicators"] if i["code"] == "tthc_received")
    assert received["value"] == 30.0
    assert received["provinces_reported"] == 1
    assert received["status"] == "final"
    assert body["freshness_seconds"] is not None and body["freshness_seconds"] >= 0


def test_the_page_opens_on_the_period_of_the_newest_reports(
    api: TestClient, db: Client, seeded: Seeded
) -> None:
    """Issue 12: an announced, empty daily period is the newest the views know (its deadline
    is the latest), but the page opens on the month whose figures changed last."""
    today = announce_upcoming(db)
    periods = api.get("/api/periods").json()
    assert [(p["report_type"], p["period"]) for p in periods] == [
        ("daily", today),
        ("monthly", PERIOD),
    ]
    upcoming, month = periods
    assert (upcoming["due"], upcoming["communes_reported"]) == (False, 0)
    assert (month["due"], month["communes_reported"]) == (True, 2)
    assert api.get("/api/periods/default").json() == {
        "report_type": "monthly",
        "period": PERIOD,
        "reason": "latest_reports",
    }


def test_without_figures_the_page_opens_on_this_month(api: TestClient) -> None:
    this_month = period_containing(ReportType.MONTHLY, datetime.now(UTC)).text
    assert api.get("/api/periods/default").json() == {
        "report_type": "monthly",
        "period": this_month,
        "reason": "current_month",
    }


def test_province_page(api: TestClient, seeded: Seeded) -> None:
    body = api.get(f"/api/provinces/{HANOI}", params=QUERY).json()
    statuses = {c["code"]: c["status"] for c in body["communes"]}
    assert len(statuses) == seeded.expected
    assert statuses[seeded.on_time] == "on_time"
    assert statuses[seeded.late] == "late"
    assert statuses[seeded.refused] == "rejected"
    assert statuses[seeded.missing] == "missing"
    # A missing commune is listed with its clerk's contact, to call.
    absent = next(c for c in body["communes"] if c["code"] == seeded.missing)
    assert absent["contact"]["name"] == "Đỗ Thị Hoa" and absent["contact"]["phone"] == "0912000111"
    late = next(c for c in body["communes"] if c["code"] == seeded.late)
    assert late["revision"] == 2
    assert body["summary"]["reported"] == 2
    [received] = body["indicators"]
    assert received["value"] == 30.0
    # Two communes of Hà Nội's 126 behind each point: both marked partial.
    assert received["trend"] == [
        {"period": PREVIOUS, "value": 12.0, "partial": True},
        {"period": PERIOD, "value": 30.0, "partial": True},
    ]
    # The time the server received it (the seed's claim equals it: no offset).
    assert late["received_at"] is not None and late["claim_offset_seconds"] == 0
    assert body["approval"] == {
        "state": "open",
        "version": 0,
        "approved_by": None,
        "approved_at": None,
        "history": [],
    }
    [rejection] = body["rejections"]
    assert (rejection["commune_code"], rejection["reason_code"]) == (
        seeded.refused,
        "negative_value",
    )
    [warning] = body["warnings"]
    assert (warning["commune_code"], warning["rule_code"], warning["message_vi"]) == (
        seeded.on_time,
        "far_from_history",
        "khác xa lịch sử",
    )


def test_province_trend_runs_across_the_merger_with_last_year_and_the_year_to_date(
    api: TestClient, db: Client
) -> None:
    """Historic loads are keyed by the 2025 provinces, so a province's sparkline runs from
    before 1 July 2025 on, and August 2025 has a same period last year."""
    values = {"2024-08": 40.0, "2025-05": 5.0, "2025-06": 6.0, "2025-07": 7.0, "2025-08": 8.0}
    insert(
        db,
        PROVINCE_INDICATOR_VALUES,
        *(records.figure(HANOI, p, "tthc_received", 1, v) for p, v in values.items()),
    )
    body = api.get(
        f"/api/provinces/{HANOI}", params={"report_type": "monthly", "period": "2025-08"}
    ).json()
    [received] = body["indicators"]
    # The sparkline spans the 8 months up to the asked one (2025-01 to 2025-08): across the
    # merger, and without 2024-08, a year back (a gap stays a gap, never a neighbour).
    assert [(point["period"], point["value"]) for point in received["trend"]] == [
        (period, value) for period, value in values.items() if period >= "2025-01"
    ]
    # No completeness is stored for these periods: every point is marked partial.
    assert {point["partial"] for point in received["trend"]} == {True}
    assert received["value"] == 8.0
    assert received["same_period_last_year"] == 40.0
    assert received["year_to_date"] == 5.0 + 6.0 + 7.0 + 8.0


def test_province_page_filters_and_counts_by_unit_type(api: TestClient, seeded: Seeded) -> None:
    reference = load_reference()
    hanoi = [reference.communes[c] for c in reference.communes_by_province[HANOI]]
    kind = reference.communes[seeded.on_time].division_type
    body = api.get(f"/api/provinces/{HANOI}", params={**QUERY, "division_type": kind}).json()
    assert body["division_type"] == kind
    assert [c["code"] for c in body["communes"]] == [
        c.code for c in sorted(hanoi, key=lambda c: c.code) if c.division_type == kind
    ]
    counts = {row["division_type"]: row for row in body["unit_types"]}
    assert set(counts) == {c.division_type for c in hanoi}
    assert sum(row["expected"] for row in counts.values()) == len(hanoi)
    assert sum(row["reported"] for row in counts.values()) == 2  # the on-time and late ones
    refused = api.get(f"/api/provinces/{HANOI}", params={**QUERY, "division_type": "huyện"})
    assert refused.status_code == 422


def test_commune_drill_down(api: TestClient, seeded: Seeded) -> None:
    body = api.get(f"/api/communes/{seeded.late}", params={"period": PERIOD}).json()
    assert body["province_code"] == HANOI
    assert body["revision"] == 2
    assert body["on_time"] == 0
    assert [(i["code"], i["value"]) for i in body["indicators"]] == [("tthc_received", 20.0)]
    assert body["revisions"] == [
        {
            "revision": 2,
            "indicator_code": "tthc_received",
            "previous": 5.0,
            "value": 20.0,
            "known_at": body["revisions"][0]["known_at"],
        }
    ]


def test_a_new_report_shows_on_the_next_poll(api: TestClient, db: Client, seeded: Seeded) -> None:
    missing_commune_reports(db, seeded)
    body = api.get(f"/api/provinces/{HANOI}", params=QUERY).json()
    assert {c["code"]: c["status"] for c in body["communes"]}[seeded.missing] == "on_time"
    assert (body["summary"]["reported"], body["summary"]["on_time"]) == (3, 2)
    assert body["indicators"][0]["value"] == 33.0
    overview = api.get("/api/overview", params=QUERY).json()
    assert overview["national"]["reported"] == 3


def test_bad_input_is_a_clear_422(api: TestClient) -> None:
    assert api.get("/api/overview", params={"report_type": "x", "period": "p"}).status_code == 422
    assert api.get("/api/provinces/1", params=QUERY).status_code == 422
    assert api.get("/api/communes/abc", params={"period": PERIOD}).status_code == 422
    not_a_month = api.get(
        f"/api/provinces/{HANOI}", params={"report_type": "monthly", "period": "2026-13"}
    )
    assert not_a_month.status_code == 422
    assert "2026-13" in not_a_month.json()["detail"]


def test_clickhouse_down_is_a_503_with_a_reason(
    test_settings: Settings, officers: Officers
) -> None:
    closed = ClickHouseSettings(**{**test_settings.clickhouse.model_dump(), "port": 1})
    client = signed_in(create_app(closed, door=officers.door()), officers.national)
    response = client.get("/api/periods")
    assert response.status_code == 503
    assert response.json()["error"] == "clickhouse_unavailable"


def test_page_and_assets_are_served_from_the_package(api: TestClient) -> None:
    page = api.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert "//cdn" not in page.text and "https://" not in page.text
    for asset in ("app.js", "style.css"):
        assert api.get(f"/static/{asset}").status_code == 200


def test_the_demos_dashboard_answers_and_stack_down_stops_it(
    test_settings: Settings, db: Client, tmp_path: Path
) -> None:
    """The process ``baocao demo`` starts: registered with the stack home, so ``stack_down``
    (what ``baocao stack down`` runs) stops it. A fresh home: no server of it runs."""
    stack = StackSettings(**{**test_settings.stack.model_dump(), "home": tmp_path / "home"})
    gateway = test_settings.gateway.model_copy(update={"db_path": tmp_path / "gateway.db"})
    settings = test_settings.model_copy(update={"stack": stack, "gateway": gateway})
    port = free_port()
    process = dashboard_process(settings, port=port)
    process.start()
    try:

        def alive() -> None:
            assert process.is_running(), process.log_tail(30)

        response = eventually(
            lambda: httpx.get(f"http://127.0.0.1:{port}/api/periods", timeout=1.0),
            what="the dashboard to answer",
            timeout=30,
            interval=0.1,
            ignoring=(httpx.HTTPError,),
            alive=alive,
            log=lambda: process.log_tail(30),
        )
        # It answers, and asks for an officer's sign-in before any figure.
        assert response.status_code == 401 and response.json()["detail"]["error"] == "signed_out"
        stopped, _ = stack_down(stack)
        assert "dashboard" in stopped
        assert not process.is_running()
    finally:
        process.stop()
