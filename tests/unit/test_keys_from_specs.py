"""Message keys come from the topic contract: every producer of a record takes its key from
``TopicSpec.key_of``, and the worker's table keys from ``state_key``. The key bytes are a wire
format: the examples below are the bytes every earlier release wrote."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support.keys import hand_made_keys, python_files

from baocao.core.avro import codec_for
from baocao.core.catalogue import load_catalogue
from baocao.core.models import CommuneReport
from baocao.core.reference import load_reference
from baocao.core.settings import DeadlineSettings
from baocao.core.topics import (
    ACCEPTED_REPORTS,
    APPROVALS,
    COMMUNE_REPORTS,
    DEAD_LETTER,
    HISTORIC_REPORTS,
    MISSING_REPORT_ALERTS,
    PROVINCE_COMPLETENESS,
    PROVINCE_INDICATORS,
    REPORTING_PERIODS,
    Topics,
    TopicSpec,
    state_key,
)
from baocao.producers.publisher import report_key
from baocao.streams.records import SourceRecord, Tables
from baocao.streams.schedule import Schedule
from baocao.streams.step import RollupStep

ROOT = Path(__file__).resolve().parents[2]
#: The shipped code (``producers``, ``streams`` and ``sinks`` are symlinked into it).
PACKAGE = ROOT / "baocao"
#: The one module allowed to join key fields.
CONTRACT = PACKAGE / "core" / "topics.py"
#: The one module allowed to build an ``OutputRecord`` field by field.
RECORDS = PACKAGE / "streams" / "records.py"
TOPICS = Topics("unit")
REFERENCE = load_reference()
HANOI = "01"
AT = datetime(2025, 9, 2, 2, 30, tzinfo=UTC)
REPORT = CommuneReport(
    report_id="6f1c2b0e-3d1f-4b7a-9a8e-1f2e3d4c5b6a",
    commune_code="00070",
    province_code=HANOI,
    period="2025-08",
    revision=1,
    submitted_at=AT,
    indicators={"tthc_received": 12.0},
)


# ------------------------------------------------------------------ no hand-made key


def test_the_package_makes_no_key_by_hand() -> None:
    sources = list(python_files(PACKAGE))
    folders = {path.relative_to(PACKAGE).parts[0] for path in sources}
    assert {"core", "producers", "streams", "sinks", "app"} <= folders
    found = [
        f"{path.relative_to(PACKAGE)}:{problem}"
        for path in sources
        for problem in hand_made_keys(
            path.read_text(encoding="utf-8"),
            may_join=path == CONTRACT,
            may_build=path == RECORDS,
        )
    ]
    assert not found, "keys come from TopicSpec.key_of or state_key:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        'key = f"{province}|{period}"',
        'key = f"{province}|monthly|{period}".encode()',
        'key = "|".join((province, period))',
        "producer.send(topic, key=report.province_code.encode(), value=value)",
        'producer.send(topic, key=b"01", value=value)',
        'OutputRecord(topic, f"{a}", schema, payload, value)',
        'def report_key(report):\n    return report.province_code.encode("utf-8")',
    ],
)
def test_the_check_finds_a_hand_made_key(source: str) -> None:
    assert hand_made_keys(source)


@pytest.mark.parametrize(
    "source",
    [
        'record = {"alert_id": f"{province}|{period}|{phase}"}',
        'FORM = re.compile(rf"^{_YEAR}-(?P<month>0[1-9]|1[0-2])$")',
        'uuid.uuid5(NAMESPACE, f"{commune}|{period}|{revision}")',
        "producer.send(topic, key=COMMUNE_REPORTS.key_bytes_of(report), value=value)",
        "OutputRecord.of(topics, PROVINCE_INDICATORS, payload)",
        "def report_key(report):\n    return COMMUNE_REPORTS.key_bytes_of(report)",
    ],
)
def test_the_check_lets_ids_and_spec_keys_pass(source: str) -> None:
    assert hand_made_keys(source) == []


# ------------------------------------------------------------------ the bytes of today


@pytest.mark.parametrize(
    ("spec", "payload", "key"),
    [
        (COMMUNE_REPORTS, REPORT, "01"),
        (HISTORIC_REPORTS, REPORT.to_avro(), "01"),
        (ACCEPTED_REPORTS, REPORT, "00070|2025-08"),
        (
            PROVINCE_INDICATORS,
            {"province_code": "01", "period": "2025-08", "indicator_code": "tthc_received"},
            "01|2025-08|tthc_received",
        ),
        (
            PROVINCE_COMPLETENESS,
            {"province_code": "01", "report_type": "monthly", "period": "2025-08"},
            "01|monthly|2025-08",
        ),
        (REPORTING_PERIODS, {"report_type": "weekly", "period": "2025-W31"}, "weekly|2025-W31"),
        (DEAD_LETTER, {"commune_code": "00070"}, "00070"),
        # A dead letter of an event that was no report has no commune: keyed "".
        (DEAD_LETTER, {"commune_code": None}, ""),
        (MISSING_REPORT_ALERTS, {"province_code": "79"}, "79"),
    ],
    ids=lambda value: value.attribute if isinstance(value, TopicSpec) else None,
)
def test_a_key_is_its_fields_joined_as_always(spec: TopicSpec, payload: Any, key: str) -> None:
    assert spec.key_of(payload) == key
    assert spec.key_bytes_of(payload) == key.encode("utf-8")


def test_a_state_key_of_latest_is_the_accepted_reports_key() -> None:
    assert state_key("00070", "2025-08") == "00070|2025-08"
    assert REPORT.key == state_key(REPORT.commune_code, REPORT.period)
    assert (
        REPORT.key == ACCEPTED_REPORTS.key_of(REPORT) == ACCEPTED_REPORTS.key_of(REPORT.to_avro())
    )


# ------------------------------------------------------------------ each producer


def test_the_publisher_keys_a_report_by_its_spec() -> None:
    assert report_key(REPORT) == COMMUNE_REPORTS.key_bytes_of(REPORT.to_avro()) == b"01"


def test_every_worker_output_is_keyed_by_its_spec() -> None:
    step = RollupStep(
        topics=TOPICS,
        reference=REFERENCE,
        catalogue=load_catalogue(),
        deadlines=DeadlineSettings(),
        clock=lambda: AT,
    )
    first = REFERENCE.communes_by_province[HANOI][0]
    good = CommuneReport(
        report_id=str(uuid.uuid4()),
        commune_code=first,
        province_code=HANOI,
        period="2025-08",
        revision=1,
        submitted_at=AT,
        indicators={"tthc_received": 1000.0, "tthc_resolved_on_time": 2000.0},
    )
    codec = codec_for(COMMUNE_REPORTS.writes)
    values = [codec.encode(good.to_avro()), b"not avro"]
    records = [
        SourceRecord(TOPICS.commune_reports, 0, offset, b"01", value, 1_756_780_000_000)
        for offset, value in enumerate(values)
    ]
    result = step.run(records, tables=Tables(latest={}, versions={}, approvals={}, figures={}))
    keyed = {TOPICS.spec(o.topic).attribute for o in result.outputs}
    assert keyed >= {"accepted_reports", "report_warnings", "province_indicators"}
    assert keyed >= {"province_indicator_changes", "province_completeness", "dead_letter"}
    for output in result.outputs:
        spec = TOPICS.spec(output.topic)
        assert output.key == spec.key_of(codec_for(spec.writes).decode(output.value))
    [dead] = [o for o in result.outputs if o.topic == TOPICS.dead_letter]
    assert dead.key == ""
    assert {o.key for o in result.outputs if o.topic == TOPICS.accepted_reports} == {
        f"{first}|2025-08"
    }


def test_every_schedule_output_is_keyed_by_its_spec() -> None:
    rules = DeadlineSettings(lock_days=30, alert_horizon_hours=72)
    now = datetime(2025, 9, 6, tzinfo=UTC)
    schedule = Schedule(topics=TOPICS, reference=REFERENCE, deadlines=rules, clock=lambda: now)
    tick = schedule.plan([HANOI], {})
    topics = {o.topic for o in tick.outputs}
    assert topics == {TOPICS.reporting_periods, TOPICS.missing_report_alerts}
    for output in tick.outputs:
        spec = TOPICS.spec(output.topic)
        assert output.key == spec.key_of(codec_for(spec.writes).decode(output.value))
    assert "monthly|2025-08" in {o.key for o in tick.outputs}


def test_a_topics_attribute_must_name_its_own_spec() -> None:
    from baocao.core import topics

    with pytest.raises((TypeError, RuntimeError)) as refused:  # 3.11 wraps it in RuntimeError

        class Wrong:
            commune_reports = topics._TopicName(APPROVALS)

    error = refused.value.__cause__ or refused.value
    assert "names the spec of 'approvals'" in str(error)
