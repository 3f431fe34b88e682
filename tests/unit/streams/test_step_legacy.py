"""The worker's step on reports under pre-2025 codes: carried over to the new communes, by
share where split, superseded by a report under the new commune's own code."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import Any

from baocao.core.avro import codec_for
from baocao.core.catalogue import load_catalogue
from baocao.core.instants import millis
from baocao.core.lineage import apportion, load_crosswalk
from baocao.core.models import CommuneReport
from baocao.core.reference import load_reference
from baocao.core.settings import DeadlineSettings
from baocao.core.topics import COMMUNE_REPORTS, Topics, state_key
from baocao.streams.records import BatchResult, Outcome, SourceRecord, Tables
from baocao.streams.step import RollupStep

REFERENCE = load_reference()
CATALOGUE = load_catalogue()
CROSSWALK = load_crosswalk()
TOPICS = Topics("unit")
PERIOD = "2024-08"
HANOI = "01"
SUBMITTED = datetime(2024, 9, 3, 2, 30, tzinfo=UTC)
NOW = datetime(2025, 9, 5, 8, 30, tzinfo=UTC)
REPORTS = codec_for("commune_report.v1")
FIGURES = codec_for("province_indicator.v2")
COMPLETENESS = codec_for("province_completeness.v1")
DEAD_LETTERS = codec_for("rejected_report.v1")
#: Old Phường Cống Vị (00007) was split between new Phường Ngọc Hà (00008, primary) and
#: Phường Giảng Võ (00025); old Phường Liễu Giai (00008!) went whole into Ngọc Hà.
CONG_VI, LIEU_GIAI = "L00007", "L00008"
NGOC_HA, GIANG_VO = (row.new_code for row in CROSSWALK.lineage["00007"])
SHARE_NGOC_HA, SHARE_GIANG_VO = (row.share for row in CROSSWALK.lineage["00007"])


def report(commune: str, revision: int = 1, *, period: str = PERIOD, **values: float) -> Any:
    return CommuneReport(
        report_id=str(uuid.uuid4()),
        commune_code=commune,
        province_code=HANOI,
        period=period,
        revision=revision,
        submitted_at=SUBMITTED,
        indicators=values,
    )


class Worker:
    def __init__(self) -> None:
        self.step = RollupStep(
            topics=TOPICS,
            reference=REFERENCE,
            catalogue=CATALOGUE,
            deadlines=DeadlineSettings(lock_days=30, amendments_after_lock="reject"),
            clock=lambda: NOW,
            crosswalk=CROSSWALK,
        )
        self.tables = Tables(latest={}, versions={}, approvals={}, figures={})
        self.offset = 0

    def batch(self, *reports: CommuneReport) -> BatchResult:
        records = []
        for item in reports:
            records.append(
                SourceRecord(
                    TOPICS.historic_reports,
                    0,
                    self.offset,
                    COMMUNE_REPORTS.key_bytes_of(item),
                    REPORTS.encode(item.to_avro()),
                    millis(item.submitted_at),
                )
            )
            self.offset += 1
        result = self.step.run(records, tables=self.tables)
        self.tables.store(result.writes)
        return result


def figure(result: BatchResult, code: str) -> dict[str, Any]:
    (payload,) = (
        p
        for o in result.outputs
        if o.topic == TOPICS.province_indicators
        and (p := FIGURES.decode(o.value))["indicator_code"] == code
    )
    return payload


def reported(result: BatchResult) -> int:
    (payload,) = (
        COMPLETENESS.decode(o.value)
        for o in result.outputs
        if o.topic == TOPICS.province_completeness
    )
    return int(payload["communes_reported"])


def test_an_old_code_report_counts_toward_its_new_communes_by_share() -> None:
    worker = Worker()
    result = worker.batch(report(CONG_VI, tthc_received=1000.0))
    assert result.outcomes[Outcome.ACCEPTED] == 1
    ngoc_ha = worker.tables.latest[state_key(NGOC_HA, PERIOD)]
    giang_vo = worker.tables.latest[state_key(GIANG_VO, PERIOD)]
    assert ngoc_ha["indicators"] == {"tthc_received": apportion(1000.0, SHARE_NGOC_HA)}
    assert giang_vo["indicators"] == {"tthc_received": 492.42}
    assert ngoc_ha["legacy"] and ngoc_ha["approximate"]
    # The old report is kept as sent, under its old code.
    assert worker.tables.latest[state_key(CONG_VI, PERIOD)]["indicators"] == {
        "tthc_received": 1000.0
    }
    assert figure(result, "tthc_received")["value"] == math.fsum([507.58, 492.42])
    assert reported(result) == 2

    # A whole predecessor adds its full value to Ngọc Hà, and is no approximation by itself.
    result = worker.batch(report(LIEU_GIAI, tthc_received=10.0))
    assert worker.tables.latest[state_key(NGOC_HA, PERIOD)]["indicators"] == {
        "tthc_received": math.fsum([507.58, 10.0])
    }
    assert figure(result, "tthc_received")["value"] == math.fsum([507.58, 10.0, 492.42])
    assert reported(result) == 2


def test_max_and_min_of_a_split_commune_count_in_its_primary_successor_only() -> None:
    worker = Worker()
    worker.batch(report(CONG_VI, tthc_received=4.0, party_congress_held=1.0))
    assert worker.tables.latest[state_key(NGOC_HA, PERIOD)]["indicators"] == {
        "tthc_received": 2.03,
        "party_congress_held": 1.0,
    }
    assert worker.tables.latest[state_key(GIANG_VO, PERIOD)]["indicators"] == {
        "tthc_received": 1.97
    }


def test_a_report_under_the_new_code_wins_and_the_old_ones_are_not_counted_twice() -> None:
    worker = Worker()
    worker.batch(report(CONG_VI, tthc_received=1000.0), report(LIEU_GIAI, tthc_received=10.0))
    result = worker.batch(report(NGOC_HA, tthc_received=300.0))
    assert result.outcomes[Outcome.ACCEPTED] == 1
    assert worker.tables.latest[state_key(NGOC_HA, PERIOD)]["indicators"] == {
        "tthc_received": 300.0
    }
    assert figure(result, "tthc_received")["value"] == math.fsum([300.0, 492.42])
    # A later revision of the split old commune now counts toward Giảng Võ only.
    result = worker.batch(report(CONG_VI, 2, tthc_received=2000.0))
    assert worker.tables.latest[state_key(NGOC_HA, PERIOD)]["indicators"] == {
        "tthc_received": 300.0
    }
    assert figure(result, "tthc_received")["value"] == math.fsum([300.0, 984.85])
    assert reported(result) == 2


def test_bad_old_codes_are_dead_lettered_and_change_nothing() -> None:
    worker = Worker()
    worker.batch(report(CONG_VI, tthc_received=1000.0))
    before = {name: dict(getattr(worker.tables, name)) for name in ("latest", "figures")}
    result = worker.batch(
        report("L99999", tthc_received=1.0),
        report(CONG_VI, period="2025-08", tthc_received=1.0),
    )
    letters = [DEAD_LETTERS.decode(o.value) for o in result.outputs]
    assert [[r["code"] for r in letter["reasons"]] for letter in letters] == [
        ["unknown_legacy_commune"],
        ["legacy_commune_after_merger"],
    ]
    assert {name: dict(getattr(worker.tables, name)) for name in ("latest", "figures")} == before
