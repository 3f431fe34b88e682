"""What the gateway published, remembered by report id: idempotent answers, and the commune's
own list of submissions.

A report id is *claimed* before its report is published (state ``publishing``) and marked
``published`` with the answer once Kafka acknowledged it. The claim is one ``BEGIN IMMEDIATE``
transaction, so two requests with the same report id (in one process or several) cannot both
publish: the second one gets the first one's row and is answered from it, or waits for it. A
failed publish releases its claim, so the commune can simply send the request again. A claim
left behind by a process that died while publishing is taken over after
:data:`STALE_CLAIM_SECONDS`, far beyond kafka-python's delivery timeout (120 s); in that rare case
the report may reach Kafka twice, which the stream ignores as an exact duplicate.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from baocao.core.models import CommuneReport
from baocao.producers.gateway.store import GatewayStore

__all__ = [
    "STALE_CLAIM_SECONDS",
    "Claim",
    "Submission",
    "SubmissionLog",
    "SubmissionState",
    "body_digest",
]

logger = logging.getLogger(__name__)

STALE_CLAIM_SECONDS = 300.0


class SubmissionState(StrEnum):
    PUBLISHING = "publishing"
    PUBLISHED = "published"


def body_digest(report: CommuneReport) -> str:
    """Digest of the report's canonical form: two bodies that say the same thing (keys in
    another order, the time with another UTC offset, ``12`` or ``12.0``) are the same
    submission; anything else under the same report id is a conflict."""
    canonical = json.dumps(report.to_json(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Submission:
    report_id: str
    commune_code: str
    province_code: str
    period: str
    revision: int
    body_digest: str
    #: :meth:`CommuneReport.content_digest` (the figures only), to recognise the stream's
    #: treatment of an exact resend under another report id.
    content_digest: str
    token_id: str
    received_at: datetime
    state: SubmissionState = SubmissionState.PUBLISHING
    published_at: datetime | None = None
    kafka_partition: int | None = None
    kafka_offset: int | None = None
    #: The 202 answer, given again verbatim to a replay.
    response: dict[str, Any] | None = None

    @classmethod
    def received(cls, report: CommuneReport, *, token_id: str, received_at: datetime) -> Submission:
        return cls(
            report_id=report.report_id,
            commune_code=report.commune_code,
            province_code=report.province_code,
            period=report.period,
            revision=report.revision,
            body_digest=body_digest(report),
            content_digest=report.content_digest(),
            token_id=token_id,
            received_at=received_at,
        )


@dataclass(frozen=True, slots=True)
class Claim:
    """The row of a report id after a claim; ``fresh`` when this caller must publish it."""

    submission: Submission
    fresh: bool


_COLUMNS = (
    "report_id, body_digest, content_digest, commune_code, province_code, period, revision,"
    " token_id, state, received_at, claimed_at, published_at, kafka_partition, kafka_offset,"
    " response"
)


class SubmissionLog:
    def __init__(self, store: GatewayStore, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    def claim(self, submission: Submission) -> Claim:
        """Claim the report id for ``submission``, or return the row that holds it."""
        now = self._clock()
        with self._store.transaction() as tx:
            row = tx.execute(
                f"SELECT {_COLUMNS} FROM submissions WHERE commune_code = ? AND report_id = ?",
                (submission.commune_code, submission.report_id),
            ).fetchone()
            if row is None:
                tx.execute(
                    "INSERT INTO submissions (report_id, body_digest, content_digest,"
                    " commune_code, province_code, period, revision, token_id, state,"
                    " received_at, claimed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        submission.report_id,
                        submission.body_digest,
                        submission.content_digest,
                        submission.commune_code,
                        submission.province_code,
                        submission.period,
                        submission.revision,
                        submission.token_id,
                        str(SubmissionState.PUBLISHING),
                        submission.received_at.isoformat(),
                        now,
                    ),
                )
                return Claim(submission=submission, fresh=True)
            held = _submission(row)
            stale = (
                held.state is SubmissionState.PUBLISHING
                and held.body_digest == submission.body_digest
                and now - float(row["claimed_at"]) > STALE_CLAIM_SECONDS
            )
            if stale:
                tx.execute(
                    "UPDATE submissions SET claimed_at = ?, token_id = ?"
                    " WHERE commune_code = ? AND report_id = ?",
                    (now, submission.token_id, submission.commune_code, submission.report_id),
                )
                logger.warning(
                    "taking over the stale claim of report %s (claimed %.0fs ago)",
                    submission.report_id,
                    now - float(row["claimed_at"]),
                )
                return Claim(submission=replace(held, token_id=submission.token_id), fresh=True)
            return Claim(submission=held, fresh=False)

    def mark_published(
        self,
        commune_code: str,
        report_id: str,
        *,
        partition: int,
        offset: int,
        published_at: datetime,
        response: dict[str, Any],
    ) -> None:
        with self._store.transaction() as tx:
            tx.execute(
                "UPDATE submissions SET state = ?, published_at = ?, kafka_partition = ?,"
                " kafka_offset = ?, response = ? WHERE commune_code = ? AND report_id = ?",
                (
                    str(SubmissionState.PUBLISHED),
                    published_at.isoformat(),
                    partition,
                    offset,
                    json.dumps(response, ensure_ascii=False),
                    commune_code,
                    report_id,
                ),
            )

    def release(self, commune_code: str, report_id: str) -> None:
        """Forget a claim whose publish failed, so the same request can be sent again."""
        with self._store.transaction() as tx:
            tx.execute(
                "DELETE FROM submissions WHERE commune_code = ? AND report_id = ? AND state = ?",
                (commune_code, report_id, str(SubmissionState.PUBLISHING)),
            )

    def get(self, commune_code: str, report_id: str) -> Submission | None:
        """The submission of ``report_id`` by ``commune_code``: report ids are the commune's
        own (another commune's use of the same id is another report)."""
        row = (
            self._store.connection()
            .execute(
                f"SELECT {_COLUMNS} FROM submissions WHERE commune_code = ? AND report_id = ?",
                (commune_code, report_id),
            )
            .fetchone()
        )
        return None if row is None else _submission(row)

    def find(self, report_id: str, *, communes: Collection[str]) -> Submission | None:
        """The submission of ``report_id`` by one of ``communes`` (those a token may read)."""
        if not communes:
            return None
        marks = ", ".join("?" for _ in communes)
        row = (
            self._store.connection()
            .execute(
                f"SELECT {_COLUMNS} FROM submissions WHERE report_id = ?"
                f" AND commune_code IN ({marks}) ORDER BY received_at LIMIT 1",
                (report_id, *communes),
            )
            .fetchone()
        )
        return None if row is None else _submission(row)

    def for_commune(
        self, commune_code: str, *, period: str | None = None, limit: int = 100
    ) -> list[Submission]:
        """The commune's submissions, newest first."""
        sql = f"SELECT {_COLUMNS} FROM submissions WHERE commune_code = ?"
        params: list[Any] = [commune_code]
        if period is not None:
            sql += " AND period = ?"
            params.append(period)
        sql += " ORDER BY received_at DESC, report_id LIMIT ?"
        params.append(limit)
        rows = self._store.connection().execute(sql, params).fetchall()
        return [_submission(row) for row in rows]


def _submission(row: sqlite3.Row) -> Submission:
    published_at = row["published_at"]
    response = row["response"]
    return Submission(
        report_id=row["report_id"],
        commune_code=row["commune_code"],
        province_code=row["province_code"],
        period=row["period"],
        revision=int(row["revision"]),
        body_digest=row["body_digest"],
        content_digest=row["content_digest"],
        token_id=row["token_id"],
        received_at=datetime.fromisoformat(row["received_at"]),
        state=SubmissionState(row["state"]),
        published_at=None if published_at is None else datetime.fromisoformat(published_at),
        kafka_partition=row["kafka_partition"],
        kafka_offset=row["kafka_offset"],
        response=None if response is None else json.loads(response),
    )
