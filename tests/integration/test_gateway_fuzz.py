"""Thousands of random and malformed bodies against the real gateway (loopback only, bounded in
count and time): it never answers 5xx, and everything it publishes is a valid report."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.gateway import (
    RunningGateway,
    drop_topics,
    read_reports_topic,
    report_document,
    running_gateway,
)

from baocao.core.avro import codec_for
from baocao.core.catalogue import load_catalogue
from baocao.core.models import parse_report
from baocao.core.reference import load_reference
from baocao.core.settings import Settings
from baocao.core.validation import validate_report

REQUESTS = 2500
TIME_BUDGET_SECONDS = 150.0
SEED = 20250902
ALLOWED = {202, 403, 409, 413, 422}


@pytest.fixture
def gateway(test_settings: Settings, tmp_path: Path) -> Iterator[RunningGateway]:
    with running_gateway(test_settings, tmp_path, rate_limit_per_second=0) as running:
        yield running
    drop_topics(test_settings)


def random_value(rng: random.Random, depth: int = 0) -> Any:
    kinds: list[Callable[[], Any]] = [
        lambda: None,
        lambda: rng.choice([True, False]),
        lambda: rng.randint(-(2**40), 2**40),
        lambda: rng.choice([2**31, 2**63, -(2**31) - 1, 10**400]),
        lambda: rng.uniform(-1e15, 1e15),
        lambda: rng.choice([1e308, -0.0, 5e-324]),
        lambda: "".join(chr(rng.randint(1, 0x2FFF)) for _ in range(rng.randint(0, 12))),
        lambda: rng.choice(["", "00070", "01", "2025-08", "2025-W31", "NaN", "\u0000"]),
    ]
    if depth < 3:
        kinds.append(lambda: [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))])
        kinds.append(
            lambda: {
                rng.choice(["a", "tthc_received", "", "x" * 50]): random_value(rng, depth + 1)
                for _ in range(rng.randint(0, 3))
            }
        )
    return rng.choice(kinds)()


def mutated(rng: random.Random, codes: list[str]) -> dict[str, Any]:
    document = report_document(
        period=rng.choice(["2025-08", "2025-08-15", "2025-W31", "2025-Q3", "2025"]),
        revision=rng.randint(1, 3),
        **{code: float(rng.randint(0, 500)) for code in rng.sample(codes, rng.randint(1, 6))},
    )
    for _ in range(rng.randint(0, 3)):
        action = rng.randrange(6)
        field = rng.choice(list(document))
        if action == 0:
            document.pop(field, None)
        elif action == 1:
            document[field] = random_value(rng)
        elif action == 2:
            document[rng.choice(["extra", "Report_Id", "indicators "])] = random_value(rng)
        elif action == 3 and isinstance(document.get("indicators"), dict):
            document["indicators"][rng.choice([*codes, "tthc_on_time_rate", "nope"])] = (
                random_value(rng)
            )
        elif action == 4:
            document["commune_code"] = rng.choice(["00073", "70", "00070 ", "99999"])
        elif action == 5:
            document["submitted_at"] = rng.choice(
                ["2025-09-02", "yesterday", "2025-09-02T09:30:00Z", "2025-13-45T00:00:00+07:00"]
            )
    return document


def raw_body(rng: random.Random, valid: bytes) -> bytes:
    choice = rng.randrange(9)
    if choice == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
    if choice == 1:
        return valid[: rng.randint(0, len(valid))]  # truncated
    if choice == 2:
        depth = rng.choice([10, 1000, 20_000])
        return b"[" * depth + b"]" * depth
    if choice == 3:
        return b"\xef\xbb\xbf" + valid  # a byte-order mark: accepted
    if choice == 4:
        return valid.replace(b'"00070"', b'"\\ud800"')  # a lone surrogate
    if choice == 5:
        return b'{"report_id": "' + b"9" * rng.choice([100, 5000, 70_000]) + b'"}'
    if choice == 6:
        return valid.replace(b"120.0", b"NaN").replace(b"101.0", b"Infinity")
    if choice == 7:
        return json.dumps(random_value(rng)).encode()
    return b" " * rng.randint(0, 3)


def test_random_bodies_never_cause_a_server_error_or_an_invalid_event(
    gateway: RunningGateway,
) -> None:
    rng = random.Random(SEED)
    codes = [i.code for i in load_catalogue().reported]
    token = gateway.issue(commune="00070")
    statuses: dict[int, int] = {}
    accepted: dict[str, bytes] = {}
    started = time.monotonic()
    with gateway.client(token) as client:
        for _ in range(REQUESTS):
            if time.monotonic() - started > TIME_BUDGET_SECONDS:
                break
            kind = rng.random()
            if kind < 0.15:
                body = json.dumps(report_document()).encode()  # valid
            elif kind < 0.2 and accepted:
                report_id = rng.choice(sorted(accepted))
                body = accepted[report_id]  # a replay, or a conflicting one
                if rng.random() < 0.5:
                    body = body.replace(b'"revision": 1', b'"revision": 2')
            elif kind < 0.6:
                body = json.dumps(mutated(rng, codes)).encode()
            else:
                body = raw_body(rng, json.dumps(report_document()).encode())
            answer = client.post(
                "/v1/reports", content=body, headers={"Content-Type": "application/json"}
            )
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
            assert answer.status_code in ALLOWED, (answer.status_code, answer.text, body[:300])
            answer.json()  # every answer is JSON
            if answer.status_code == 202:
                accepted.setdefault(answer.json()["report_id"], body)
    sent = sum(statuses.values())
    assert sent >= 1000, f"only {sent} requests in {TIME_BUDGET_SECONDS:.0f}s"
    assert statuses.get(202, 0) >= 100 and statuses.get(422, 0) >= 500, statuses
    assert statuses.get(409, 0) > 0 and statuses.get(403, 0) > 0, statuses

    reference, catalogue = load_reference(), load_catalogue()
    codec = codec_for("commune_report.v1")
    seen = []
    for record in read_reports_topic(gateway.settings):
        report, problems = parse_report(codec.decode(record.value))
        assert report is not None and problems == []
        assert validate_report(report, reference, catalogue) == []
        assert report.commune_code == "00070" and record.key == b"01"
        seen.append(report.report_id)
    assert sorted(seen) == sorted(accepted), "one event per accepted report id, no other"
    assert all(str(uuid.UUID(report_id)) == report_id for report_id in seen)
