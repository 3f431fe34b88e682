"""Reporting obligations in the worker: an exempt unit is not expected, and its report is kept,
counted in the figures and flagged, not refused."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime
from typing import Any

from baocao.core.avro import codec_for
from baocao.core.catalogue import load_catalogue
from baocao.core.instants import millis
from baocao.core.models import CommuneReport
from baocao.core.obligations import (
    Obligation,
    Obligations,
    default_obligations,
    obligation_reasons,
)
from baocao.core.periods import ReportType, parse_period
from baocao.core.reference import load_reference
from baocao.core.settings import DeadlineSettings
from baocao.core.topics import COMMUNE_REPORTS, Topics
from baocao.streams.records import BatchResult, Outcome, SourceRecord, Tables
from baocao.streams.step import RollupStep

REFERENCE = load_reference()
CATALOGUE = load_catalogue()
TOPICS = Topics("unit")
PERIOD = "2025-08"
DA_NANG = "48"
(HOANG_SA,) = (
    c
    for c in REFERENCE.communes_by_province[DA_NANG]
    if REFERENCE.communes[c].name == "Đặc khu Hoàng Sa"
)
SUBMITTED = datetime(2025, 9, 2, 2, 30, tzinfo=UTC)
NOW = datetime(2025, 9, 3, 8, 30, tzinfo=UTC)
COMPLETENESS = codec_for("province_completeness.v1")
FIGURES = codec_for("province_indicator.v2")
WARNINGS = codec_for("report_warning.v1")
REPORTS = codec_for("commune_report.v1")


def report(commune: str, value: float) -> CommuneReport:
    return CommuneReport(
        report_id=str(uuid.uuid4()),
        commune_code=commune,
        province_code=DA_NANG,
        period=PERIOD,
        revision=1,
        submitted_at=SUBMITTED,
        indicators={"tthc_received": value},
    )


def run(step: RollupStep, tables: Tables, reports: list[CommuneReport]) -> BatchResult:
    records = [
        SourceRecord(
            TOPICS.commune_reports,
            0,
            offset,
            COMMUNE_REPORTS.key_bytes_of(item),
            REPORTS.encode(item.to_avro()),
            millis(item.submitted_at),
        )
        for offset, item in enumerate(reports)
    ]
    result = step.run(records, tables=tables)
    tables.store(result.writes)
    return result


def decoded(result: BatchResult, topic: str, codec: Any) -> list[dict[str, Any]]:
    return [codec.decode(o.value) for o in result.outputs if o.topic == topic]


def worker() -> tuple[RollupStep, Tables]:
    step = RollupStep(
        topics=TOPICS,
        reference=REFERENCE,
        catalogue=CATALOGUE,
        deadlines=DeadlineSettings(),
        clock=lambda: NOW,
    )
    return step, Tables(latest={}, versions={}, approvals={}, figures={})


def test_da_nang_is_complete_without_hoang_sa_and_hoang_sa_is_kept_and_flagged() -> None:
    step, tables = worker()
    others = [c for c in REFERENCE.communes_by_province[DA_NANG] if c != HOANG_SA]
    assert len(others) == REFERENCE.communes_expected(DA_NANG) - 1
    result = run(step, tables, [report(c, 1.0) for c in others])
    (completeness,) = decoded(result, TOPICS.province_completeness, COMPLETENESS)
    expected, reported = completeness["communes_expected"], completeness["communes_reported"]
    assert (expected, reported) == (len(others), len(others))
    assert round(reported * 100 / expected, 1) == 100.0

    result = run(step, tables, [report(HOANG_SA, 5.0)])
    assert result.outcomes[Outcome.ACCEPTED] == 1
    (completeness,) = decoded(result, TOPICS.province_completeness, COMPLETENESS)
    assert (completeness["communes_expected"], completeness["communes_reported"]) == (
        len(others),
        len(others),
    )
    assert completeness["communes_on_time"] == len(others)
    (warning,) = decoded(result, TOPICS.report_warnings, WARNINGS)
    assert (warning["commune_code"], warning["rule_code"]) == (HOANG_SA, "reported_while_not_due")
    (figure,) = (
        f
        for f in decoded(result, TOPICS.province_indicators, FIGURES)
        if f["indicator_code"] == "tthc_received"
    )
    # Its figures count: the report is kept, only completeness leaves it out.
    assert figure["value"] == math.fsum([1.0] * len(others) + [5.0])
    assert figure["communes_reported"] == len(others) + 1


def test_obligation_windows_decide_which_periods_are_due() -> None:
    august = parse_period("2025-08")
    july = parse_period("2025-07")
    commune = REFERENCE.communes_by_province["01"][0]
    from_mid_august = Obligations(
        {(commune, "monthly"): (Obligation(commune, ReportType.MONTHLY, date(2025, 8, 20)),)}
    )
    assert from_mid_august.is_due(commune, august)
    assert not from_mid_august.is_due(commune, july)
    assert from_mid_august.is_due(commune, parse_period("2025-W30"))  # other types: default
    defaults = default_obligations(REFERENCE)
    assert not defaults.is_due(HOANG_SA, august)
    assert defaults.is_due(commune, august)
    assert [key for key in defaults.overrides] == [
        (HOANG_SA, t) for t in ("daily", "weekly", "monthly", "quarterly", "yearly")
    ]


def test_an_obligation_that_ends_before_it_starts_is_refused_with_a_clear_reason() -> None:
    commune = REFERENCE.communes_by_province["01"][0]
    backwards = Obligation(commune, ReportType.MONTHLY, date(2025, 9, 1), date(2025, 8, 31))
    (refusal,) = obligation_reasons(backwards, REFERENCE)
    assert refusal.code == "obligation_ends_before_start"
    assert (
        refusal.message_en == "The obligation's end date 2025-08-31 is before its start 2025-09-01"
    )
    assert refusal.message_vi.startswith("Ngày kết thúc nghĩa vụ báo cáo 2025-08-31 trước")
    same_day = Obligation(commune, ReportType.MONTHLY, date(2025, 9, 1), date(2025, 9, 1))
    assert obligation_reasons(same_day, REFERENCE) == []
    unknown = Obligation("99999", ReportType.MONTHLY)
    assert [r.code for r in obligation_reasons(unknown, REFERENCE)] == ["unknown_commune"]
