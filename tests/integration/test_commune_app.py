"""The commune app's door on a real ``baocao gateway`` (Kafka and ClickHouse of the test):
signing in, the form's data, the dry run, sending with the session cookie, the spreadsheet
upload, and the attacks a clerk's session must withstand."""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.cli import run
from support.gateway import (
    RunningGateway,
    add_clerk,
    clerk_client,
    drop_topics,
    read_reports_topic,
    report_document,
    running_gateway,
)
from support.settings import environment

from baocao.core.avro import codec_for
from baocao.core.catalogue import load_catalogue
from baocao.core.models import LOCAL_TIMEZONE
from baocao.core.periods import ReportType
from baocao.core.settings import Settings
from baocao.producers.spreadsheet.layout import template_columns

#: The current month: open whenever the test runs; August 2025 locked long ago.
PERIOD = datetime.now(LOCAL_TIMEZONE).strftime("%Y-%m")
LOCKED_PERIOD = "2025-08"
OTHER_COMMUNE = "00073"  # Hà Nội too, like 00070


@pytest.fixture
def gateway(
    test_settings: Settings, tmp_path: Path, clickhouse_db: str
) -> Iterator[RunningGateway]:
    migrated = run("migrate", env=environment(test_settings))
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    with running_gateway(test_settings, tmp_path, rate_limit_per_second=0) as running:
        yield running
    drop_topics(test_settings)


@pytest.fixture
def clerk(gateway: RunningGateway) -> Iterator[httpx.Client]:
    with clerk_client(gateway, *add_clerk(gateway, "00070")) as client:
        yield client


def published_ids(gateway: RunningGateway) -> list[str]:
    """The report ids on the commune-reports topic, in order."""
    codec = codec_for("commune_report.v1")
    return [str(codec.decode(r.value)["report_id"]) for r in read_reports_topic(gateway.settings)]


def test_a_clerk_signs_in_with_an_httponly_strict_cookie_and_gets_the_form(
    gateway: RunningGateway,
) -> None:
    login, password = add_clerk(gateway, "00070")
    with httpx.Client(base_url=gateway.url, headers={"Origin": gateway.url}) as client:
        wrong = client.post("/v1/session", json={"login": login, "password": password + "x"})
        assert wrong.status_code == 401
        assert wrong.json()["message_vi"] == "Sai tên đăng nhập hoặc mật khẩu."
        assert client.get("/v1/form").status_code == 401

        answer = client.post("/v1/session", json={"login": login, "password": password})
        assert answer.status_code == 200, answer.text
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("baocao_commune_session=")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # plain HTTP on localhost; docs/commune-app.md for TLS
        assert answer.json()["commune"]["code"] == "00070"
        assert password not in answer.text

        form = client.get("/v1/form").json()
        monthly = next(t for t in form["report_types"] if t["report_type"] == "monthly")
        assert monthly["name_vi"] == "Báo cáo tháng"
        current = next(p for p in monthly["periods"] if p["period"] == PERIOD)
        assert current["state"] == "not_submitted" and current["deadline"]
        assert set(form["states"]) == {"not_submitted", "on_time", "late", "locked", "returned"}
        assert monthly["periods"][-1]["state"] == "locked"  # the newest locked one is shown

        fields = client.get("/v1/form/monthly").json()
        received = next(f for f in fields["fields"] if f["code"] == "tthc_received")
        assert received["name_vi"] == "Số hồ sơ thủ tục hành chính tiếp nhận"
        assert received["unit_vi"] == "hồ sơ" and "tỷ lệ" in received["help_vi"]
        assert {"tthc_on_time_rate"} <= {r["code"] for r in fields["ratios"]}
        assert "tthc_on_time_rate" not in {f["code"] for f in fields["fields"]}
        assert fields["rules"]["max_value"] == 1e12

        assert client.delete("/v1/session").status_code == 204
        assert client.get("/v1/form").status_code == 401


def test_a_report_sent_with_the_session_is_published_once_and_replayed(
    gateway: RunningGateway, clerk: httpx.Client
) -> None:
    document = report_document(period=PERIOD, tthc_received=40, tthc_resolved_on_time=30)
    body = httpx.Request("POST", "/", json=document).content
    first = clerk.post("/v1/reports", content=body)
    assert first.status_code == 202, first.text
    again = clerk.post("/v1/reports", content=body)
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    other = {**document, "indicators": {"tthc_received": 41.0}}
    conflict = clerk.post("/v1/reports", json=other)
    assert conflict.status_code == 409 and conflict.json()["message_vi"]
    assert published_ids(gateway) == [document["report_id"]]

    status = clerk.get(f"/v1/reports/{document['report_id']}").json()
    assert status["state"] == "pending"  # no worker in this test
    assert status["on_time"] is True and status["deadline"]


def test_another_communes_session_cannot_read_or_send_for_the_first(
    gateway: RunningGateway, clerk: httpx.Client
) -> None:
    mine = report_document(period=PERIOD)
    assert clerk.post("/v1/reports", json=mine).status_code == 202
    with clerk_client(gateway, *add_clerk(gateway, OTHER_COMMUNE)) as intruder:
        forged = intruder.post("/v1/reports", json=report_document(period=PERIOD))
        assert forged.status_code == 403 and forged.json()["message_vi"]
        assert intruder.post("/v1/reports:validate", json=mine).status_code == 403
        assert intruder.get(f"/v1/reports/{mine['report_id']}").status_code == 404
        assert intruder.get("/v1/communes/00070/reports").status_code == 403
        assert intruder.get("/v1/form").json()["commune"]["code"] == OTHER_COMMUNE
    assert published_ids(gateway) == [mine["report_id"]]


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "http://127.0.0.1:1", "null", None],
    ids=["other-site", "other-port-same-host", "null", "none"],
)
def test_a_cross_site_post_with_the_cookie_is_refused(
    gateway: RunningGateway, clerk: httpx.Client, origin: str | None
) -> None:
    document = report_document(period=PERIOD)
    headers = {"Origin": origin} if origin is not None else {}
    client = httpx.Client(base_url=gateway.url, cookies=clerk.cookies, headers=headers)
    with client:
        # What a foreign page's <form method=post> sends: the cookie rides along in a
        # same-site case, but the Origin gives it away.
        forged = client.post(
            "/v1/reports",
            content=httpx.Request("POST", "/", json=document).content,
            headers={"Content-Type": "text/plain"},
        )
        assert forged.status_code == 403, forged.text
        assert forged.json()["error"] == "origin_refused"
        assert "không đến từ trang báo cáo" in forged.json()["message_vi"]
        assert client.delete("/v1/session").status_code == 403
        assert client.get("/v1/form").status_code == 200  # reading is not state-changing
        login = client.post("/v1/session", json={"login": "x", "password": "y"})
        assert login.status_code == 403
    assert published_ids(gateway) == []


def test_a_tampered_cookie_and_a_disabled_login_are_signed_out(
    gateway: RunningGateway,
) -> None:
    login, password = add_clerk(gateway, "00070")
    with clerk_client(gateway, login, password) as client:
        token = client.cookies["baocao_commune_session"]
        tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        client.cookies.set("baocao_commune_session", tampered)
        answer = client.post("/v1/reports", json=report_document(period=PERIOD))
        assert answer.status_code == 401 and "đăng nhập lại" in answer.json()["message_vi"]

        client.cookies.set("baocao_commune_session", token)
        assert client.get("/v1/form").status_code == 200
        disabled = run(
            "clerks",
            "disable",
            "--commune",
            "00070",
            "--login",
            login,
            env=environment(gateway.settings),
        )
        assert disabled.returncode == 0, disabled.stderr
        assert client.get("/v1/form").status_code == 401
        assert client.post("/v1/reports", json=report_document(period=PERIOD)).status_code == 401
        again = client.post("/v1/session", json={"login": login, "password": password})
        assert again.status_code == 401
    assert published_ids(gateway) == []


def test_bad_input_gets_a_clear_vietnamese_answer_never_a_5xx(
    gateway: RunningGateway, clerk: httpx.Client
) -> None:
    limit = gateway.settings.gateway.max_body_bytes
    huge = clerk.post("/v1/reports", content=b"{" + b" " * limit + b"}")
    assert huge.status_code == 413 and "quá lớn" in huge.json()["message_vi"]

    locked = report_document(period=LOCKED_PERIOD, tthc_received=10)
    refused = clerk.post("/v1/reports", json=locked)
    assert refused.status_code == 422
    reasons = refused.json()["reasons"]
    assert [r["code"] for r in reasons] == ["period_locked"]
    assert "đã khoá" in reasons[0]["message_vi"]
    dry = clerk.post("/v1/reports:validate", json=locked).json()
    assert dry["valid"] is False and [r["code"] for r in dry["reasons"]] == ["period_locked"]

    for body in (b"not json", b"[]", b'{"report_id": 1}', "\ud800".encode(errors="surrogatepass")):
        for path in ("/v1/reports", "/v1/reports:validate"):
            answer = clerk.post(path, content=body)
            assert answer.status_code < 500, (path, body, answer.text)
    assert published_ids(gateway) == []


def test_the_dry_run_applies_the_pipelines_rules_and_publishes_nothing(
    gateway: RunningGateway, clerk: httpx.Client
) -> None:
    warned = {
        **report_document(period=PERIOD, tthc_received=10, tthc_resolved_on_time=12),
        "submitted_at": datetime.now(LOCAL_TIMEZONE).isoformat(),
    }
    answer = clerk.post("/v1/reports:validate", json=warned).json()
    assert answer["valid"] is True and answer["history_checked"] is True
    assert [w["code"] for w in answer["warnings"]] == ["resolved_exceeds_received"]
    assert "lớn hơn số hồ sơ tiếp nhận" in answer["warnings"][0]["message_vi"]
    assert answer["on_time_if_received_now"] is True

    broken = report_document(period=PERIOD, tthc_received=-1, tthc_on_time_rate=0.5)
    refused = clerk.post("/v1/reports:validate", json=broken).json()
    assert refused["valid"] is False
    assert sorted(r["code"] for r in refused["reasons"]) == [
        "derived_indicator",
        "value_out_of_range",
    ]
    # A device whose clock is far off is warned, as the worker would warn on receipt.
    claimed = report_document(period=PERIOD, tthc_received=10)  # submitted_at in 2025
    codes = [w["code"] for w in clerk.post("/v1/reports:validate", json=claimed).json()["warnings"]]
    assert codes == ["submitted_at_far_from_receipt"]
    assert published_ids(gateway) == []


def test_a_stale_revision_is_refused_before_it_is_published(
    gateway: RunningGateway, clerk: httpx.Client
) -> None:
    first = report_document(period=PERIOD, revision=1, tthc_received=10)
    second = report_document(period=PERIOD, revision=2, tthc_received=12)
    assert clerk.post("/v1/reports", json=first).status_code == 202
    assert clerk.post("/v1/reports", json=second).status_code == 202
    latest = clerk.get(f"/v1/periods/{PERIOD}/latest").json()
    assert latest["next_revision"] == 3
    stale = report_document(period=PERIOD, revision=2, tthc_received=11)  # an old tab's copy
    answer = clerk.post("/v1/reports", json=stale)
    assert answer.status_code == 422
    assert [r["code"] for r in answer.json()["reasons"]] == ["conflicting_revision"]
    older = report_document(period=PERIOD, revision=1, tthc_received=9)
    answer = clerk.post("/v1/reports", json=older)
    assert [r["code"] for r in answer.json()["reasons"]] == ["stale_revision"]
    assert "mở lại báo cáo" in answer.json()["reasons"][0]["message_vi"]
    assert published_ids(gateway) == [first["report_id"], second["report_id"]]


def test_sign_in_is_slowed_after_failures_but_never_locked(gateway: RunningGateway) -> None:
    login, password = add_clerk(gateway, "00070")
    with httpx.Client(base_url=gateway.url, headers={"Origin": gateway.url}) as client:
        for _ in range(3):
            assert (
                client.post("/v1/session", json={"login": login, "password": "guess"}).status_code
                == 401
            )
        slowed = client.post("/v1/session", json={"login": login, "password": password})
        assert slowed.status_code == 429 and slowed.headers["Retry-After"] == "1"
        assert "thử lại sau" in slowed.json()["message_vi"]
        time.sleep(1.1)
        assert (
            client.post("/v1/session", json={"login": login, "password": password}).status_code
            == 200
        )


def test_a_spreadsheet_uploaded_with_the_session_publishes_its_valid_rows(
    gateway: RunningGateway, clerk: httpx.Client, tmp_path: Path
) -> None:
    names = [c.key for c in template_columns(load_catalogue(), ReportType.MONTHLY)]
    rows: list[dict[str, Any]] = [
        {
            "commune_code": "70",
            "province_code": "1",
            "period": PERIOD,
            "revision": 1,
            "tthc_received": 25,
        },
        {
            "commune_code": OTHER_COMMUNE,
            "province_code": "01",
            "period": PERIOD,
            "revision": 1,
            "tthc_received": 5,
        },
        {
            "commune_code": "00070",
            "province_code": "01",
            "period": PERIOD,
            "revision": 1,
            "tthc_received": "nhiều",
            "tthc_online": 3,
        },
    ]
    path = tmp_path / "sheet.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)
    answer = clerk.post(
        "/v1/reports:upload", content=path.read_bytes(), headers={"Content-Type": "text/csv"}
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["published"], result["refused"]) == (1, 2)
    by_row = {r["row"]: r for r in result["rows"]}
    assert by_row[2]["status"] == "published"
    assert [r["code"] for r in by_row[3]["reasons"]] == ["outside_import_scope"]
    assert by_row[4]["reasons"][0]["column"].endswith("(tthc_received)")
    assert published_ids(gateway) == [by_row[2]["report_id"]]

    too_many = "\n".join([",".join(names)] + ["00070,01,2026-01,1"] * 10_001)
    capped = clerk.post(
        "/v1/reports:upload", content=too_many.encode(), headers={"Content-Type": "text/csv"}
    )
    assert capped.status_code == 422 and capped.json()["error"] == "invalid_sheet"
    wrong_type = clerk.post(
        "/v1/reports:upload", content=b"x", headers={"Content-Type": "image/png"}
    )
    assert wrong_type.status_code == 422


def test_the_app_is_served_compressed_from_the_gateway(gateway: RunningGateway) -> None:
    total = 0
    for path in ("/", "/app.js", "/app.css", "/manifest.webmanifest", "/icon.svg"):
        answer = httpx.get(gateway.url + path, headers={"Accept-Encoding": "gzip"})
        assert answer.status_code == 200
        assert answer.headers["content-encoding"] == "gzip"
        assert "default-src 'self'" in answer.headers["content-security-policy"]
        total += int(answer.headers["content-length"])
        again = httpx.get(gateway.url + path, headers={"If-None-Match": answer.headers["etag"]})
        assert again.status_code == 304
    assert total < 150 * 1024
    page = httpx.get(gateway.url + "/").text
    assert '<script src="/app.js"' in page and "http" not in page.split("<body>")[1]
    worker = httpx.get(gateway.url + "/sw.js").text
    assert "__SHELL_VERSION__" not in worker
