"""What a publishing run tells its operator: counts, and why lines were refused, with examples.

A file with 10,000 rejected lines usually has two or three causes; a table of reason codes with
their line counts and the first examples of each says which, without scrolling through the lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rich.table import Table
from rich.text import Text

from baocao.core.reasons import Reason
from baocao.producers.jsonl import ParsedLine

__all__ = ["ReasonCount", "ReasonTally", "reason_table"]


@dataclass(slots=True)
class ReasonCount:
    code: str
    #: Lines with at least one reason of this code.
    lines: int = 0
    #: The first few ``(line number, English message)`` examples.
    examples: list[tuple[int, str]] = field(default_factory=list)


class ReasonTally:
    """Counts lines per reason code and keeps the first examples of each code."""

    def __init__(self, *, examples_per_reason: int = 3) -> None:
        self._examples_per_reason = examples_per_reason
        self._counts: dict[str, ReasonCount] = {}
        self.lines = 0

    def add(self, parsed: ParsedLine) -> None:
        self.add_reasons(parsed.number, parsed.reasons)

    def add_reasons(self, line: int, reasons: Iterable[Reason]) -> None:
        """Count one line; its example for a code is the first message of that code, with a
        note when the line has more (three examples from one line would say little)."""
        self.lines += 1
        by_code: dict[str, list[Reason]] = {}
        for r in reasons:
            by_code.setdefault(str(r.code), []).append(r)
        for code, of_code in by_code.items():
            count = self._counts.setdefault(code, ReasonCount(code=code))
            count.lines += 1
            if len(count.examples) < self._examples_per_reason:
                more = f" (+{len(of_code) - 1} more)" if len(of_code) > 1 else ""
                count.examples.append((line, of_code[0].message_en + more))

    def counts(self) -> list[ReasonCount]:
        """Most frequent reason first (then by code, so the order is stable)."""
        return sorted(self._counts.values(), key=lambda c: (-c.lines, c.code))

    def __bool__(self) -> bool:
        return self.lines > 0


def reason_table(tally: ReasonTally, *, title: str, unit: str = "line") -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("reason", style="bold")
    table.add_column(f"{unit}s", justify="right")
    table.add_column(f"examples ({unit}: message)")
    for count in tally.counts():
        examples = "\n".join(f"{line}: {message}" for line, message in count.examples)
        table.add_row(count.code, f"{count.lines:,}", Text(examples))
    return table
