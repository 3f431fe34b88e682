"""The submission log: one claim per commune and report id, answers kept for replays, stale
claims, private files."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from baocao.core.models import LOCAL_TIMEZONE, CommuneReport
from baocao.producers.gateway.store import GatewayStore
from baocao.producers.gateway.submissions import (
    STALE_CLAIM_SECONDS,
    Submission,
    SubmissionLog,
    SubmissionState,
    body_digest,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def report(revision: int = 1, received: float = 12.0, **changes: object) -> CommuneReport:
    fields: dict[str, object] = {
        "report_id": "6f1c2b0e-3d1f-4b7a-9a8e-1f2e3d4c5b6a",
        "commune_code": "00070",
        "province_code": "01",
        "period": "2025-08",
        "revision": revision,
        "submitted_at": datetime(2025, 9, 2, 2, 30, tzinfo=UTC),
        "indicators": {"tthc_received": received},
    }
    fields.update(changes)
    return CommuneReport(**fields)  # type: ignore[arg-type]


def submission(r: CommuneReport, token: str = "tok", second: int = 0) -> Submission:
    return Submission.received(
        r, token_id=token, received_at=datetime(2025, 9, 2, 3, 0, second, tzinfo=UTC)
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def log(tmp_path: Path, clock: Clock) -> Iterator[SubmissionLog]:
    store = GatewayStore(tmp_path / "gateway.db").open()
    yield SubmissionLog(store, clock=clock)
    store.close()


def test_the_first_claim_is_fresh_and_the_second_gets_the_row(log: SubmissionLog) -> None:
    first = log.claim(submission(report()))
    assert first.fresh and first.submission.state is SubmissionState.PUBLISHING
    again = log.claim(submission(report(), token="other"))
    assert not again.fresh
    assert again.submission.token_id == "tok"
    assert again.submission.body_digest == first.submission.body_digest


def test_a_published_row_keeps_its_answer(log: SubmissionLog) -> None:
    log.claim(submission(report()))
    answer = {"report_id": "6f1c2b0e-3d1f-4b7a-9a8e-1f2e3d4c5b6a", "status": "published"}
    log.mark_published(
        "00070",
        "6f1c2b0e-3d1f-4b7a-9a8e-1f2e3d4c5b6a",
        partition=2,
        offset=41,
        published_at=datetime(2025, 9, 2, 3, 0, 1, tzinfo=UTC),
        response=answer,
    )
    held = log.get("00070", "6f1c2b0e-3d1f-4b7a-9a8e-1f2e3d4c5b6a")
    assert held is not None
    assert held.state is SubmissionState.PUBLISHED
    assert (held.kafka_partition, held.kafka_offset, held.response) == (2, 41, answer)
    # A published row is never released.
    log.release("00070", held.report_id)
    assert log.get("00070", held.report_id) is not None


def test_a_released_claim_can_be_claimed_again(log: SubmissionLog) -> None:
    log.claim(submission(report()))
    log.release("00070", "6f1c2b0e-3d1f-4b7a-9a8e-1f2e3d4c5b6a")
    assert log.get("00070", "6f1c2b0e-3d1f-4b7a-9a8e-1f2e3d4c5b6a") is None
    assert log.claim(submission(report())).fresh


def test_a_stale_claim_of_the_same_content_is_taken_over(log: SubmissionLog, clock: Clock) -> None:
    log.claim(submission(report()))
    clock.now += STALE_CLAIM_SECONDS - 1
    assert not log.claim(submission(report(), token="b")).fresh
    clock.now += 2
    taken = log.claim(submission(report(), token="b"))
    assert taken.fresh and taken.submission.token_id == "b"
    # Other content under the id is never taken over, stale or not.
    clock.now += 2 * STALE_CLAIM_SECONDS
    assert not log.claim(submission(report(received=13.0))).fresh


def test_the_body_digest_ignores_form_but_not_content() -> None:
    same = report(submitted_at=datetime(2025, 9, 2, 9, 30, tzinfo=LOCAL_TIMEZONE))
    assert body_digest(report()) == body_digest(same)
    assert body_digest(report()) != body_digest(report(received=13.0))
    assert body_digest(report()) != body_digest(report(revision=2))


def test_a_communes_submissions_newest_first(log: SubmissionLog) -> None:
    ids = [f"00000000-0000-4000-8000-00000000000{i}" for i in range(3)]
    for second, report_id in enumerate(ids):
        log.claim(submission(report(report_id=report_id, revision=second + 1), second=second))
    log.claim(submission(report(report_id=ids[0].replace("4000", "4001"), commune_code="00073")))
    assert [s.report_id for s in log.for_commune("00070")] == ids[::-1]
    assert [s.report_id for s in log.for_commune("00070", limit=1)] == [ids[2]]
    assert log.for_commune("00070", period="2025-09") == []


def test_report_ids_are_each_commune_s_own(log: SubmissionLog) -> None:
    squatter = log.claim(submission(report(commune_code="00073", received=1.0), token="b"))
    assert squatter.fresh
    mine = log.claim(submission(report()))
    assert mine.fresh  # not a conflict with the other commune's use of the id
    held = log.get("00070", "6f1c2b0e-3d1f-4b7a-9a8e-1f2e3d4c5b6a")
    assert held is not None and held.token_id == "tok"
    found = log.find("6f1c2b0e-3d1f-4b7a-9a8e-1f2e3d4c5b6a", communes=["00070"])
    assert found is not None and found.commune_code == "00070"
    assert log.find("6f1c2b0e-3d1f-4b7a-9a8e-1f2e3d4c5b6a", communes=[]) is None


def test_the_database_is_the_user_s_alone(tmp_path: Path) -> None:
    path = tmp_path / "gateway" / "gateway.db"
    store = GatewayStore(path).open()
    store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_version_1_database_is_rekeyed_by_commune_and_report_id(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE tokens (token_id TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE,"
        " scope TEXT NOT NULL, code TEXT NOT NULL, label TEXT NOT NULL DEFAULT '',"
        " created_at TEXT NOT NULL, revoked_at TEXT);"
        "CREATE TABLE submissions (report_id TEXT PRIMARY KEY, body_digest TEXT NOT NULL,"
        " content_digest TEXT NOT NULL, commune_code TEXT NOT NULL, province_code TEXT NOT NULL,"
        " period TEXT NOT NULL, revision INTEGER NOT NULL, token_id TEXT NOT NULL,"
        " state TEXT NOT NULL, received_at TEXT NOT NULL, claimed_at REAL NOT NULL,"
        " published_at TEXT, kafka_partition INTEGER, kafka_offset INTEGER, response TEXT);"
        "CREATE INDEX submissions_by_commune ON submissions (commune_code, received_at);"
        "INSERT INTO submissions VALUES ('r1', 'b', 'c', '00070', '01', '2025-08', 1, 't',"
        " 'published', '2025-09-02T03:00:00+00:00', 1.0, NULL, 2, 41, NULL);"
        "PRAGMA user_version = 1;"
    )
    old.close()
    store = GatewayStore(path).open()
    try:
        log = SubmissionLog(store)
        held = log.get("00070", "r1")
        assert held is not None and held.kafka_offset == 41
        assert log.claim(submission(report(report_id="r1", commune_code="00073"))).fresh
    finally:
        store.close()
