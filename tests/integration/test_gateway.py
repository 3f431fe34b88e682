"""The HTTP gateway over real HTTP (``baocao gateway`` as a subprocess on loopback) against
the real Kafka: what it answers, and what the commune-reports topic holds afterwards."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from support.gateway import (
    RunningGateway,
    drop_topics,
    read_reports_topic,
    report_document,
    running_gateway,
)

from baocao.core.avro import codec_for
from baocao.core.models import parse_report
from baocao.core.settings import Settings


@pytest.fixture
def gateway(test_settings: Settings, tmp_path: Path) -> Iterator[RunningGateway]:
    with running_gateway(test_settings, tmp_path, rate_limit_per_second=0) as running:
        yield running
    drop_topics(test_settings)


def published(settings: Settings) -> list[dict[str, object]]:
    codec = codec_for("commune_report.v1")
    documents = []
    for record in read_reports_topic(settings):
        report, reasons = parse_report(codec.decode(record.value))
        assert report is not None and reasons == []
        assert record.key == report.province_code.encode()
        documents.append(report.to_json())
    return documents


def test_an_accepted_report_is_published_as_avro(gateway: RunningGateway) -> None:
    token = gateway.issue(commune="00070")
    document = report_document(tthc_received=120, tthc_resolved_on_time=101, tthc_online=7.5)
    with gateway.client(token) as client:
        answer = client.post("/v1/reports", json=document)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["report_id"] == document["report_id"]
    assert body["status"] == "published"
    assert (body["commune_code"], body["period"], body["revision"]) == ("00070", "2025-08", 1)
    assert answer.headers["location"] == f"/v1/reports/{document['report_id']}"
    assert "idempotent-replayed" not in answer.headers
    [event] = published(gateway.settings)
    assert event == {
        **document,
        "indicators": {"tthc_received": 120.0, "tthc_resolved_on_time": 101.0, "tthc_online": 7.5},
    }


def test_an_invalid_report_gets_every_reason_and_nothing_is_published(
    gateway: RunningGateway,
) -> None:
    token = gateway.issue(commune="00070")
    document = report_document(
        province="02", period="2025-13", revision=0, tthc_received=-1, tthc_on_time_rate=0.9
    )
    document["indicators"]["no_such_indicator"] = 1
    with gateway.client(token) as client:
        answer = client.post("/v1/reports", json=document)
        malformed = client.post("/v1/reports", content=b'{"report_id": ')
        not_utf8 = client.post("/v1/reports", content=b"\xff\xfe{}")
        shapeless = client.post("/v1/reports", json={"commune_code": "00070", "extra": 1})
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["error"] == "invalid_report"
    assert body["report_id"] == document["report_id"]
    got = {(r["code"], r["field"]) for r in body["reasons"]}
    assert got == {
        ("unknown_province", "province_code"),
        ("invalid_period", "period"),
        ("invalid_revision", "revision"),
        ("value_out_of_range", "indicators.tthc_received"),
        ("derived_indicator", "indicators.tthc_on_time_rate"),
        ("unknown_indicator", "indicators.no_such_indicator"),
    }
    assert all(r["message_en"] and r["message_vi"] for r in body["reasons"])
    assert "không tồn tại" in json.dumps(body["reasons"], ensure_ascii=False)
    assert [r["code"] for r in malformed.json()["reasons"]] == ["malformed_event"]
    assert [r["code"] for r in not_utf8.json()["reasons"]] == ["malformed_event"]
    assert shapeless.status_code == 422
    shapes = {(r["code"], r["field"]) for r in shapeless.json()["reasons"]}
    assert ("schema_error", "extra") in shapes and ("schema_error", "report_id") in shapes
    assert published(gateway.settings) == []


def test_another_communes_report_is_forbidden_and_not_published(
    gateway: RunningGateway,
) -> None:
    token = gateway.issue(commune="00070")
    with gateway.client(token) as client:
        answer = client.post("/v1/reports", json=report_document(commune="00073"))
        invalid_too = client.post(
            "/v1/reports", json={**report_document(commune="00073"), "period": "x"}
        )
    assert answer.status_code == 403
    assert answer.json()["error"] == "forbidden"
    assert invalid_too.status_code == 403
    assert published(gateway.settings) == []


def test_missing_wrong_and_revoked_tokens_are_unauthorized(gateway: RunningGateway) -> None:
    token = gateway.issue(commune="00070")
    document = report_document()
    answers = {}
    with gateway.client() as anonymous:
        answers["missing"] = anonymous.post("/v1/reports", json=document)
        answers["basic"] = anonymous.post(
            "/v1/reports", json=document, headers={"Authorization": "Basic dXNlcjpwdw=="}
        )
        answers["wrong"] = anonymous.post(
            "/v1/reports", json=document, headers={"Authorization": f"Bearer {token}x"}
        )
        answers["get"] = anonymous.get("/v1/communes/00070/reports")
    gateway.revoke(token)
    with gateway.client(token) as client:
        answers["revoked"] = client.post("/v1/reports", json=document)
    for name, answer in answers.items():
        assert answer.status_code == 401, name
        assert answer.json()["error"] == "unauthorized", name
        assert answer.headers["www-authenticate"].startswith("Bearer"), name
    assert published(gateway.settings) == []


def test_an_oversized_body_is_refused(gateway: RunningGateway) -> None:
    token = gateway.issue(commune="00070")
    limit = gateway.settings.gateway.max_body_bytes
    padded = report_document()
    padded["indicators"] = {f"x{i:06d}": 1 for i in range(limit // 10)}
    with gateway.client(token) as client:
        declared = client.post("/v1/reports", json=padded)

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
            body = json.dumps(padded).encode()
            for start in range(0, len(body), 4096):
                yield body[start : start + 4096]

        streamed = client.post("/v1/reports", content=chunks())
    for answer in (declared, streamed):
        assert answer.status_code == 413, answer.text
        assert answer.json()["error"] == "payload_too_large"
    assert published(gateway.settings) == []


def test_a_token_over_its_rate_gets_429(test_settings: Settings, tmp_path: Path) -> None:
    with running_gateway(
        test_settings, tmp_path, rate_limit_per_second=0.2, rate_limit_burst=3
    ) as gateway:
        token, other = gateway.issue(commune="00070"), gateway.issue(commune="00073")
        with gateway.client(token) as client:
            statuses = [client.post("/v1/reports", content=b"{}").status_code for _ in range(3)]
            limited = client.post("/v1/reports", json=report_document())
        with gateway.client(other) as client:
            other_token = client.post("/v1/reports", content=b"{}")
        assert statuses == [422, 422, 422]
        assert limited.status_code == 429
        assert limited.json()["error"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 5
        assert other_token.status_code == 422  # each token has its own bucket
        assert published(gateway.settings) == []
    drop_topics(test_settings)


def test_a_replayed_report_id_is_answered_again_and_published_once(
    gateway: RunningGateway,
) -> None:
    token = gateway.issue(commune="00070")
    document = report_document()
    reordered = dict(reversed(list(document.items())))
    reordered["submitted_at"] = "2025-09-02T02:30:00+00:00"  # the same instant
    with gateway.client(token) as client:
        first = client.post("/v1/reports", json=document)
        again = client.post("/v1/reports", json=reordered)
        changed = client.post(
            "/v1/reports", json={**document, "indicators": {"tthc_received": 121}}
        )
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert changed.status_code == 409
    assert changed.json()["error"] == "conflict"
    assert [e["report_id"] for e in published(gateway.settings)] == [document["report_id"]]


def test_concurrent_replays_publish_once(gateway: RunningGateway) -> None:
    token = gateway.issue(commune="00070")
    document = report_document()

    def post(_: int) -> httpx.Response:
        with gateway.client(token) as client:
            return client.post("/v1/reports", json=document)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(post, range(16)))
    assert {a.status_code for a in answers} == {202}
    assert len({a.text for a in answers}) == 1
    assert sum("idempotent-replayed" not in a.headers for a in answers) == 1
    assert len(published(gateway.settings)) == 1


def test_a_province_token_reads_its_communes_but_never_submits(
    gateway: RunningGateway,
) -> None:
    commune, province = gateway.issue(commune="00070"), gateway.issue(province="01")
    elsewhere = gateway.issue(province="79")
    document = report_document()
    with gateway.client(commune) as client:
        assert client.post("/v1/reports", json=document).status_code == 202
        own_list = client.get("/v1/communes/00070/reports")
        neighbour = client.get("/v1/communes/00073/reports")
    with gateway.client(province) as client:
        refused = client.post("/v1/reports", json=report_document(report_id=None))
        listing = client.get("/v1/communes/00070/reports")
        unknown = client.get("/v1/communes/99999/reports")
    with gateway.client(elsewhere) as client:
        other_province = client.get("/v1/communes/00070/reports")
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    for answer in (own_list, listing):
        # ClickHouse has no database for this test: the listing needs it, so 503.
        assert answer.status_code in (200, 503), answer.text
    assert neighbour.status_code == 403
    assert other_province.status_code == 403
    assert unknown.status_code == 404
    assert len(published(gateway.settings)) == 1


def test_health_metrics_and_openapi(gateway: RunningGateway) -> None:
    token = gateway.issue(commune="00070")
    with gateway.client(token) as client:
        assert client.post("/v1/reports", json=report_document()).status_code == 202
        assert client.post("/v1/reports", content=b"[]").status_code == 422
    with gateway.client() as client:
        health = client.get("/healthz")
        metrics = client.get("/metrics").text
        spec = client.get("/openapi.json").json()
        missing = client.get("/v1/nowhere")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "kafka": "ok", "clickhouse": "ok"}
    assert 'baocao_gateway_reports_total{outcome="accepted"} 1.0' in metrics
    assert 'baocao_gateway_reports_total{outcome="rejected"} 1.0' in metrics
    assert 'baocao_gateway_rejection_reasons_total{reason="schema_error"} 1.0' in metrics
    assert (
        'baocao_gateway_requests_total{method="POST",route="/v1/reports",status="202"} 1.0'
        in metrics
    )
    assert "baocao_gateway_publish_duration_seconds_count 1.0" in metrics
    assert set(spec["paths"]) >= {
        "/v1/reports",
        "/v1/reports/{report_id}",
        "/v1/communes/{commune_code}/reports",
        "/healthz",
    }
    submit = spec["paths"]["/v1/reports"]["post"]
    assert set(submit["responses"]) >= {"202", "401", "403", "409", "413", "422", "429"}
    body_schema = submit["requestBody"]["content"]["application/json"]["schema"]
    assert set(body_schema["required"]) == {
        "report_id",
        "commune_code",
        "province_code",
        "period",
        "revision",
        "submitted_at",
        "indicators",
    }
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    # Both routes say how to authenticate.
    assert submit["security"] == [{"HTTPBearer": []}]
    assert spec["paths"]["/v1/reports/{report_id}"]["get"]["security"] == [{"HTTPBearer": []}]
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_health_fails_when_clickhouse_is_unreachable(
    test_settings: Settings, tmp_path: Path
) -> None:
    dead = test_settings.model_copy(
        update={
            "clickhouse": test_settings.clickhouse.model_copy(update={"port": 1}),
        }
    )
    with running_gateway(dead, tmp_path) as gateway, gateway.client() as client:
        health = client.get("/healthz")
    assert health.status_code == 503
    body = health.json()
    assert body["status"] == "unavailable" and body["kafka"] == "ok"
    assert "did not answer" in body["clickhouse"]
    drop_topics(test_settings)
