"""``POST /v1/reports``: judge a body, decide who may submit it, publish it exactly once.

The steps, each answered by its own status: the body must be a report of the caller's own
commune (403 otherwise; nothing is published), meet the stream's rules (422 with every
reason), and not reuse a report id for other content (409). A valid report is published as
the same Avro event ``baocao publish`` writes, through the process's one shared
:class:`~baocao.producers.gateway.publisher.AsyncReportPublisher` (aiokafka on the event loop,
idempotent producer, ``acks=all``), and the answer (202) waits for Kafka's acknowledgement: a
202 means the report is durably in the pipeline. The same report id sent again gets the same
answer and publishes nothing.

The SQLite calls (claim, record) run on the event loop itself: each is a short local
transaction (WAL, no sync per commit), cheaper than handing it to a worker thread and back,
which on a busy two-core machine cost a quarter of the throughput. The Kafka client runs on
the loop too: a send only appends to a batch (it awaits, without blocking the loop, while
the client has no metadata for the topic).

Publishing runs in a task of its own, so a commune whose connection drops, or a request that
stops waiting after ``publish_timeout`` (503), does not abandon a report Kafka may still
acknowledge: the task records the outcome, and the next request with that report id is
answered from it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka.errors import KafkaError

from baocao.core.catalogue import Catalogue
from baocao.core.models import CommuneReport
from baocao.core.reasons import ReasonCode, reason
from baocao.core.reference import ReferenceData
from baocao.producers.exceptions import PublishError, ReportEncodeError
from baocao.producers.gateway.exceptions import (
    ConflictError,
    ForbiddenError,
    ReportRejectedError,
    ServiceUnavailableError,
)
from baocao.producers.gateway.metrics import GatewayMetrics, ReportOutcome
from baocao.producers.gateway.publisher import AsyncReportPublisher
from baocao.producers.gateway.submissions import Submission, SubmissionLog, SubmissionState
from baocao.producers.gateway.tokens import Principal, Scope
from baocao.producers.verdicts import decode_text, judge_document, parse_json

__all__ = ["Accepted", "Gate", "SubmissionService", "accepted_body"]

logger = logging.getLogger(__name__)

#: A last check of a valid report before it is published; raises to refuse it.
Gate = Callable[[CommuneReport], None]

#: How often a request polls for the outcome of a publish another process is running.
_POLL_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class Accepted:
    """A 202 answer; ``replayed`` when it is the answer to an earlier identical request."""

    body: dict[str, Any]
    replayed: bool = False


def status_path(report_id: str) -> str:
    return f"/v1/reports/{report_id}"


def accepted_body(submission: Submission) -> dict[str, Any]:
    return {
        "report_id": submission.report_id,
        "status": str(SubmissionState.PUBLISHED),
        "commune_code": submission.commune_code,
        "province_code": submission.province_code,
        "period": submission.period,
        "revision": submission.revision,
        "received_at": submission.received_at.isoformat(),
        "status_url": status_path(submission.report_id),
    }


class SubmissionService:
    def __init__(
        self,
        *,
        publisher: AsyncReportPublisher,
        log: SubmissionLog,
        reference: ReferenceData,
        catalogue: Catalogue,
        metrics: GatewayMetrics,
        publish_timeout: float,
    ) -> None:
        self._publisher = publisher
        self._log = log
        self._reference = reference
        self._catalogue = catalogue
        self._metrics = metrics
        self._publish_timeout = publish_timeout
        #: Publishes running, by (commune, report id): report ids are each commune's own.
        self._inflight: dict[tuple[str, str], asyncio.Task[Accepted]] = {}

    async def submit(
        self, principal: Principal, body: bytes, *, gate: Gate | None = None
    ) -> Accepted:
        """Judge ``body`` and publish it; ``gate`` (the commune app's) may refuse a new report
        for what the stream would surely refuse (a locked period, a stale revision)."""
        try:
            report = self._judge(principal, body)
        except ForbiddenError:
            self._metrics.reports.labels(ReportOutcome.FORBIDDEN).inc()
            raise
        except ReportRejectedError as exc:
            self._metrics.rejected(exc.reasons)
            raise
        return await self.publish(principal, report, gate=gate)

    async def publish(
        self, principal: Principal, report: CommuneReport, *, gate: Gate | None = None
    ) -> Accepted:
        """Publish a report already judged valid (a body, a spreadsheet row) exactly once."""
        if not principal.may_submit(report.commune_code):
            self._metrics.reports.labels(ReportOutcome.FORBIDDEN).inc()
            raise ForbiddenError(f"this caller may not submit for commune {report.commune_code}")
        if gate is not None and self._log.get(report.commune_code, report.report_id) is None:
            # A retry of a report already taken is answered from the log, whatever the time.
            try:
                await asyncio.to_thread(gate, report)
            except ReportRejectedError as exc:
                self._metrics.rejected(exc.reasons)
                raise
        submission = Submission.received(
            report, token_id=principal.token_id, received_at=datetime.now(UTC)
        )
        claim = self._log.claim(submission)
        try:
            if claim.fresh:
                accepted = await self._publish_and_wait(report, submission)
            else:
                accepted = await self._answer_existing(claim.submission, submission)
        except ConflictError:
            self._metrics.reports.labels(ReportOutcome.CONFLICT).inc()
            raise
        except ServiceUnavailableError:
            self._metrics.reports.labels(ReportOutcome.UNAVAILABLE).inc()
            raise
        except ReportRejectedError as exc:
            self._metrics.rejected(exc.reasons)
            raise
        outcome = ReportOutcome.REPLAYED if accepted.replayed else ReportOutcome.ACCEPTED
        self._metrics.reports.labels(outcome).inc()
        return accepted

    async def drain(self, timeout: float) -> None:
        """Wait (at shutdown) for the publishes still running, so their outcome is recorded."""
        tasks = list(self._inflight.values())
        if tasks:
            logger.info("waiting for %d reports being published", len(tasks))
            await asyncio.wait(tasks, timeout=timeout)

    # -- the steps -----------------------------------------------------------------------

    def _judge(self, principal: Principal, body: bytes) -> CommuneReport:
        """The report in ``body`` if the caller may submit it and it meets every rule."""
        if principal.scope is not Scope.COMMUNE:
            raise ForbiddenError(f"a {principal.scope} token may read reports but not submit")
        text, problem = decode_text(body, strip_bom=True)
        document: Any = None
        if problem is None:
            document, problem = parse_json(text)
        if problem is not None:
            raise ReportRejectedError((problem,))
        named = document.get("commune_code") if isinstance(document, Mapping) else None
        if isinstance(named, str) and not principal.may_submit(named):
            raise ForbiddenError(
                f"this token submits the reports of commune {principal.code} only, not of {named!r}"
            )
        verdict = judge_document(document, reference=self._reference, catalogue=self._catalogue)
        if verdict.report is None or verdict.reasons:
            report_id = verdict.report.report_id if verdict.report is not None else None
            raise ReportRejectedError(verdict.reasons, report_id=report_id)
        return verdict.report

    async def _answer_existing(self, held: Submission, submission: Submission) -> Accepted:
        if held.body_digest != submission.body_digest:
            raise ConflictError(
                f"report_id {held.report_id} was already submitted with other content; "
                "a correction needs a new report_id and a higher revision"
            )
        if held.state is SubmissionState.PUBLISHED and held.response is not None:
            return Accepted(held.response, replayed=True)
        task = self._inflight.get((held.commune_code, held.report_id))
        if task is not None:
            accepted = await self._wait(task)
            return Accepted(accepted.body, replayed=True)
        return await self._poll(held.commune_code, held.report_id)

    async def _publish_and_wait(self, report: CommuneReport, submission: Submission) -> Accepted:
        task = asyncio.create_task(self._publish(report, submission))
        key = (submission.commune_code, submission.report_id)
        self._inflight[key] = task
        task.add_done_callback(lambda done: self._forget(key, done))
        return await self._wait(task)

    async def _wait(self, task: asyncio.Task[Accepted]) -> Accepted:
        done, _ = await asyncio.wait({task}, timeout=self._publish_timeout)
        if not done:
            raise ServiceUnavailableError(
                f"Kafka has not acknowledged the report within {self._publish_timeout:.0f}s; "
                "send the same request again later to learn the outcome"
            )
        return task.result()

    async def _poll(self, commune_code: str, report_id: str) -> Accepted:
        """Wait for a publish that another gateway process is running."""
        deadline = time.monotonic() + self._publish_timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(_POLL_SECONDS)
            held = self._log.get(commune_code, report_id)
            if held is None:
                break  # that publish failed and released the report id
            if held.state is SubmissionState.PUBLISHED and held.response is not None:
                return Accepted(held.response, replayed=True)
        raise ServiceUnavailableError(
            f"report {report_id} is being published by another request; send it again later"
        )

    async def _publish(self, report: CommuneReport, submission: Submission) -> Accepted:
        started = time.perf_counter()
        try:
            future = await self._publisher.send(report)
            metadata = await future
        except ReportEncodeError as exc:
            self._log.release(report.commune_code, report.report_id)
            raise ReportRejectedError(
                (reason(ReasonCode.SCHEMA_ERROR, str(exc)),), report_id=report.report_id
            ) from exc
        except (KafkaError, PublishError) as exc:  # aiokafka's errors, or the publisher's
            self._log.release(report.commune_code, report.report_id)
            logger.error("Kafka did not take report %s: %r", report.report_id, exc)
            raise ServiceUnavailableError(f"Kafka did not take the report ({exc!r})") from exc
        self._metrics.publish_seconds.observe(time.perf_counter() - started)
        body = accepted_body(submission)
        try:
            self._log.mark_published(
                report.commune_code,
                report.report_id,
                partition=metadata.partition,
                offset=metadata.offset,
                published_at=datetime.now(UTC),
                response=body,
            )
        except Exception:  # the report *is* published: answer so, and leave the claim
            logger.exception("could not record the publication of report %s", report.report_id)
        return Accepted(body)

    def _forget(self, key: tuple[str, str], task: asyncio.Task[Accepted]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved here: a request that stopped waiting may never ask
