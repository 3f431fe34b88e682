"""Reports as JSON lines: reading them line by line with a verdict per line, and writing them.

A reports file may be large and may come from a commune's own software, so it is streamed
(never loaded whole) and every line is judged on its own: a line that is not UTF-8, not JSON,
not a report or not a valid report is *rejected* with its line number and every reason, and the
run goes on. The structural and semantic rules are the shared ones of :mod:`baocao.core.models`
and :mod:`baocao.core.validation`, so a file is judged exactly as the stream would judge it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

from baocao.core.catalogue import Catalogue
from baocao.core.models import CommuneReport
from baocao.core.reasons import Reason
from baocao.core.reference import ReferenceData
from baocao.producers.exceptions import ReportFileError
from baocao.producers.verdicts import decode_text, judge_document, parse_json

__all__ = [
    "STDIO",
    "JsonLinesWriter",
    "ParsedLine",
    "RejectsWriter",
    "ReportLineReader",
    "open_input",
    "open_output",
    "parse_line",
    "report_line",
]

logger = logging.getLogger(__name__)

#: The file name that means standard input (for reading) or standard output (for writing).
STDIO = "-"


@dataclass(frozen=True, slots=True)
class ParsedLine:
    """The verdict on one non-blank line of a reports file."""

    number: int
    #: The line as read (without its line break), kept so a rejected line is never lost.
    raw: str
    #: The report to publish; ``None`` when the line is rejected.
    report: CommuneReport | None
    #: Why the line is rejected, or, when validation is skipped, the semantic problems of a
    #: report that is published anyway (the stream will dead-letter it).
    reasons: tuple[Reason, ...] = ()

    @property
    def rejected(self) -> bool:
        return self.report is None

    def rejection(self, *extra: Reason) -> ParsedLine:
        """This line, rejected for ``extra`` reasons found after parsing (e.g. by the encoder)."""
        return ParsedLine(number=self.number, raw=self.raw, report=None, reasons=extra)

    def rejection_record(self) -> dict[str, Any]:
        """The line as written to a rejects file: ``{line, reasons, raw}``."""
        return {
            "line": self.number,
            "reasons": [r.as_json() for r in self.reasons],
            "raw": self.raw,
        }


def parse_line(
    number: int,
    data: bytes,
    *,
    reference: ReferenceData,
    catalogue: Catalogue,
    validate: bool = True,
) -> ParsedLine | None:
    """Judge one line (``None`` for a blank line, which is ignored).

    With ``validate=False`` a structurally valid report is returned even when the semantic
    rules refuse it, carrying those reasons; a line that is not a report at all is still
    rejected, because it could not be encoded as the Avro report.
    """
    text, problem = decode_text(data, strip_bom=number == 1)
    raw = text.rstrip("\r\n")
    if problem is not None:
        return _rejected(number, raw, problem)
    if not raw.strip():
        return None
    document, problem = parse_json(raw)
    if problem is not None:
        return _rejected(number, raw, problem)
    verdict = judge_document(document, reference=reference, catalogue=catalogue)
    if verdict.report is None or (verdict.reasons and validate):
        return _rejected(number, raw, *verdict.reasons)
    return ParsedLine(number=number, raw=raw, report=verdict.report, reasons=verdict.reasons)


def _rejected(number: int, raw: str, *reasons: Reason) -> ParsedLine:
    return ParsedLine(number=number, raw=raw, report=None, reasons=reasons)


class ReportLineReader:
    """Iterates the verdicts on a binary stream of JSON lines, one line in memory at a time.

    ``bytes_read`` says how far into the stream the reader is, for a progress bar.
    """

    def __init__(
        self,
        stream: IO[bytes],
        *,
        reference: ReferenceData,
        catalogue: Catalogue,
        validate: bool = True,
    ) -> None:
        self._stream = stream
        self._reference = reference
        self._catalogue = catalogue
        self._validate = validate
        self.bytes_read = 0
        self.lines_read = 0

    def __iter__(self) -> Iterator[ParsedLine]:
        for number, data in enumerate(self._stream, start=1):
            self.bytes_read += len(data)
            self.lines_read = number
            parsed = parse_line(
                number,
                data,
                reference=self._reference,
                catalogue=self._catalogue,
                validate=self._validate,
            )
            if parsed is not None:
                yield parsed


def report_line(report: CommuneReport) -> str:
    """The canonical JSON line of a report (Vietnamese names and codes kept readable)."""
    return json.dumps(report.to_json(), ensure_ascii=False)


class JsonLinesWriter:
    """Writes reports as JSON lines; has the ``send`` method of a publisher, so the simulator
    can write a file or publish with the same loop."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self.written = 0

    def send(self, report: CommuneReport) -> None:
        self._stream.write(report_line(report) + "\n")
        self.written += 1


class RejectsWriter:
    """Writes rejected lines as ``{line, reasons, raw}`` JSON lines, so nothing is lost."""

    def __init__(self, stream: IO[str] | None) -> None:
        self._stream = stream
        self.written = 0

    def write(self, parsed: ParsedLine) -> None:
        if self._stream is None:
            return
        self._stream.write(json.dumps(parsed.rejection_record(), ensure_ascii=False) + "\n")
        self.written += 1


@contextmanager
def open_input(path: str) -> Iterator[IO[bytes]]:
    """A binary stream of the file, or of standard input for ``-`` (which is not closed)."""
    if path == STDIO:
        yield sys.stdin.buffer
        return
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed below, after the caller is done
    except OSError as exc:
        raise ReportFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with stream:
        yield stream


@contextmanager
def open_output(path: str) -> Iterator[IO[str]]:
    """A text stream to write JSON lines to: the file (created or truncated), or standard
    output for ``-`` (not closed)."""
    if path == STDIO:
        yield sys.stdout
        sys.stdout.flush()
        return
    try:
        stream = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise ReportFileError(f"cannot write {path}: {exc.strerror or exc}") from exc
    with stream:
        yield stream
