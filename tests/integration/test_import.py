"""``baocao import`` against the real Kafka: the accepted rows of a sheet land on the
commune-reports topic as the same Avro events ``baocao publish`` writes; refused rows do not."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import invoke
from support.gateway import drop_topics, read_reports_topic

from baocao.core.avro import codec_for
from baocao.core.models import parse_report
from baocao.core.settings import Settings


@pytest.fixture(autouse=True)
def _drop_topics_afterwards(test_settings: Settings) -> Iterator[None]:
    yield
    drop_topics(test_settings)


def test_import_publishes_the_accepted_rows(test_settings: Settings, tmp_path: Path) -> None:
    sheet = tmp_path / "weekly.csv"
    made = invoke("template", "-t", "weekly", "-o", str(sheet), settings=test_settings)
    assert made.exit_code == 0, made.stderr
    with sheet.open("a", encoding="utf-8", newline="") as stream:
        header = sheet.read_text(encoding="utf-8-sig").splitlines()[0].split(",")
        writer = csv.DictWriter(stream, fieldnames=header)
        writer.writerow(
            {"commune_code": "70", "province_code": "1", "period": "2025-W31", "revision": "1",
             "submitted_at": "2025-08-04T08:00:00", "tthc_received": "40", "tthc_online": "12"}
        )  # fmt: skip
        writer.writerow(
            {"commune_code": "00073", "province_code": "01", "period": "2025-W31",
             "revision": "2", "tthc_received": "7"}
        )  # fmt: skip
        writer.writerow(
            {"commune_code": "00070", "province_code": "01", "period": "2025-W31",
             "revision": "1", "tthc_received": "-3"}
        )  # fmt: skip
    result = invoke("import", str(sheet), settings=test_settings)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "published 2, rejected 1 (of 3 rows" in result.stdout
    assert "value_out_of_range" in result.stdout and "G (tthc_received)" in result.stdout

    codec = codec_for("commune_report.v1")
    events = []
    for record in read_reports_topic(test_settings):
        report, reasons = parse_report(codec.decode(record.value))
        assert report is not None and reasons == []
        events.append(report)
    events.sort(key=lambda r: r.commune_code)
    assert [(r.commune_code, r.province_code, r.period, r.revision) for r in events] == [
        ("00070", "01", "2025-W31", 1),
        ("00073", "01", "2025-W31", 2),
    ]
    assert dict(events[0].indicators) == {"tthc_received": 40.0, "tthc_online": 12.0}
    assert events[0].submitted_at.isoformat() == "2025-08-04T01:00:00+00:00"  # Vietnam time

    again = invoke("import", str(sheet), settings=test_settings)
    assert again.exit_code == 0
    ids = sorted(r.report_id for r in events)
    republished = sorted(
        r.report_id
        for r in (parse_report(codec.decode(x.value))[0] for x in read_reports_topic(test_settings))
        if r is not None
    )
    assert republished == sorted(ids * 2)  # the same generated report ids both times


def test_an_import_scoped_to_a_commune_publishes_only_its_rows(
    test_settings: Settings, tmp_path: Path
) -> None:
    sheet = tmp_path / "weekly.csv"
    assert (
        invoke("template", "-t", "weekly", "-o", str(sheet), settings=test_settings).exit_code == 0
    )
    header = sheet.read_text(encoding="utf-8-sig").splitlines()[0].split(",")
    with sheet.open("a", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=header)
        for commune in ("00070", "00073"):  # the second is another commune of the province
            writer.writerow(
                {"commune_code": commune, "province_code": "01", "period": "2025-W31",
                 "revision": "1", "tthc_received": "4"}
            )  # fmt: skip

    result = invoke("import", str(sheet), "--commune", "00070", settings=test_settings)

    assert result.exit_code == 0, result.stdout + result.stderr
    assert "published 1, rejected 1 (of 2 rows" in result.stdout
    assert "outside_import_scope" in result.stdout
    codec = codec_for("commune_report.v1")
    published = [parse_report(codec.decode(r.value))[0] for r in read_reports_topic(test_settings)]
    assert [r.commune_code for r in published if r is not None] == ["00070"]
