"""The rejection tally behind the summary table of ``baocao publish``."""

from __future__ import annotations

import io

from rich.console import Console

from baocao.core.reasons import ReasonCode, reason
from baocao.producers.summary import ReasonTally, reason_table


def test_lines_are_counted_once_per_reason_code_with_first_examples() -> None:
    tally = ReasonTally(examples_per_reason=2)
    unknown = reason(ReasonCode.UNKNOWN_COMMUNE, "'99999'", field="commune_code")
    tally.add_reasons(3, [unknown])
    tally.add_reasons(
        5,
        [
            reason(ReasonCode.SCHEMA_ERROR, "missing field 'period'"),
            reason(ReasonCode.SCHEMA_ERROR, "missing field 'revision'"),
            unknown,
        ],
    )
    tally.add_reasons(9, [unknown])
    assert tally.lines == 3
    assert [(c.code, c.lines, c.examples) for c in tally.counts()] == [
        (
            "unknown_commune",
            3,
            [(3, "Unknown commune code '99999'"), (5, "Unknown commune code '99999'")],
        ),
        (
            "schema_error",
            1,
            [
                (
                    5,
                    "The report does not match the report schema: missing field 'period' (+1 more)",
                )
            ],
        ),
    ]


def test_the_table_shows_codes_counts_and_examples_verbatim() -> None:
    tally = ReasonTally()
    tally.add_reasons(4, [reason(ReasonCode.MALFORMED_EVENT, "not valid JSON [bold]")])
    assert bool(tally)
    assert not ReasonTally()
    out = io.StringIO()
    Console(file=out, width=200).print(reason_table(tally, title="Rejected"))
    text = out.getvalue()
    assert "malformed_event" in text
    assert "4: The event could not be decoded: not valid JSON [bold]" in text
