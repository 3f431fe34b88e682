"""The loops behind ``baocao publish``, ``import`` and ``simulate``, free of any terminal code.

Each loop moves reports from a source (a reader of JSON lines or of spreadsheet rows, the
generator) to a sink (the Kafka publisher, a dry run, a JSON-lines file) and counts what
happened; progress is reported through a callback so the command decides how to show it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from baocao.core.models import CommuneReport
from baocao.core.reasons import ReasonCode, reason
from baocao.producers.exceptions import ReportEncodeError
from baocao.producers.jsonl import ParsedLine
from baocao.producers.pacing import Pacer
from baocao.producers.publisher import encode_report
from baocao.producers.summary import ReasonTally

__all__ = [
    "DryRun",
    "FlushingSink",
    "PublishOutcome",
    "RejectSink",
    "ReportSink",
    "SendOutcome",
    "publish_lines",
    "send_reports",
]

logger = logging.getLogger(__name__)

#: Progress of a file is reported every this many lines (and once at the end).
PROGRESS_EVERY = 64


class ReportSink(Protocol):
    """Where reports go: the Kafka publisher or a JSON-lines writer."""

    def send(self, report: CommuneReport) -> object: ...


class FlushingSink(ReportSink, Protocol):
    """A sink whose sends complete only at :meth:`flush` (the Kafka publisher, a dry run)."""

    def flush(self) -> object: ...


class RejectSink(Protocol):
    """Where rejected lines go (a rejects file, a collector for the summary)."""

    def write(self, parsed: ParsedLine) -> None: ...


class DryRun:
    """A sink that publishes nothing but still encodes each report, so a dry run refuses
    exactly what publishing would (a report the Avro schema cannot hold)."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, report: CommuneReport) -> None:
        encode_report(report)
        self.sent += 1

    def flush(self) -> None:
        return None


@dataclass
class PublishOutcome:
    """What became of the lines of one reports file."""

    #: Non-blank lines read.
    lines: int = 0
    #: Reports handed to the publisher (all acknowledged once :func:`publish_lines` returns).
    published: int = 0
    rejected: ReasonTally = field(default_factory=ReasonTally)
    #: With validation skipped: reports published although the semantic rules refuse them.
    published_invalid: ReasonTally = field(default_factory=ReasonTally)
    elapsed: float = 0.0


def publish_lines(
    reader: Iterable[ParsedLine],
    publisher: FlushingSink,
    *,
    rejects: RejectSink,
    on_progress: Callable[[], None] | None = None,
) -> PublishOutcome:
    """Publish every accepted line, write every rejected one to ``rejects``; then flush.

    ``on_progress()`` is called as the lines are read (the caller asks its reader how far it
    is). Raises the publisher's :class:`~baocao.producers.exceptions.PublishError` when Kafka does
    not take them.
    """
    outcome = PublishOutcome()
    started = time.monotonic()
    for parsed in reader:
        outcome.lines += 1
        if parsed.report is not None:
            try:
                publisher.send(parsed.report)
            except ReportEncodeError as exc:
                parsed = parsed.rejection(reason(ReasonCode.SCHEMA_ERROR, str(exc)))
            else:
                outcome.published += 1
                if parsed.reasons:
                    outcome.published_invalid.add(parsed)
        if parsed.rejected:
            outcome.rejected.add(parsed)
            rejects.write(parsed)
        if on_progress is not None and outcome.lines % PROGRESS_EVERY == 0:
            on_progress()
    publisher.flush()
    if on_progress is not None:
        on_progress()
    outcome.elapsed = time.monotonic() - started
    logger.info(
        "published %d reports, rejected %d lines in %.1fs",
        outcome.published,
        outcome.rejected.lines,
        outcome.elapsed,
    )
    return outcome


@dataclass(frozen=True, slots=True)
class SendOutcome:
    reports: int
    revisions: int
    elapsed: float

    @property
    def rate(self) -> float:
        return self.reports / self.elapsed if self.elapsed > 0 else 0.0


def send_reports(
    reports: Iterable[CommuneReport],
    sink: ReportSink,
    *,
    pacer: Pacer,
    flush: Callable[[], object] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> SendOutcome:
    """Send every report to ``sink`` at the pacer's rate, then ``flush`` (if given), so the
    elapsed time includes the broker's acknowledgements."""
    started = time.monotonic()
    count = revisions = 0
    for report in reports:
        pacer.wait()
        sink.send(report)
        count += 1
        revisions += report.revision > 1
        if on_progress is not None:
            on_progress(count)
    if flush is not None:
        flush()
    return SendOutcome(reports=count, revisions=revisions, elapsed=time.monotonic() - started)
