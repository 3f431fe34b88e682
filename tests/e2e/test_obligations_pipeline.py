"""Who must report what, and this year against last year, through the public commands.

1. ``baocao obligations end`` takes a Đà Nẵng unit out of August 2025: the worker recomputes
   the province's completeness, the sink lands the event, and ``province_completeness`` reads
   100.0 % once every other unit but Hoàng Sa (exempt by default) has reported;
   ``missing_reports`` holds no Hoàng Sa row, and its report is kept and flagged. Bad input is
   refused by the command with its reasons, and dead-lettered by the worker when it is
   published anyway; nothing else changes.
2. Reports of 2024-08 and 2025-01..08 go through ``baocao publish --historic``; the 2025-08
   province and national workbooks' "Cùng kỳ năm trước" and "Lũy kế từ đầu năm" columns equal
   ``support.recompute.expected_comparisons`` over the published lines.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from support.cli import run, running_pipeline
from support.export import table
from support.recompute import expected_comparisons, expected_latest, expected_province_figures
from support.settings import environment, query
from support.wait import eventually

from baocao.app.export.labels import LABELS, Lang
from baocao.core.avro import codec_for
from baocao.core.kafka import producer
from baocao.core.reference import load_reference
from baocao.core.settings import Settings
from baocao.core.topics import REPORTING_OBLIGATIONS, Topics

REFERENCE = load_reference()
DA_NANG = "48"
AUGUST = "2025-08"
(HOANG_SA,) = (
    c
    for c in REFERENCE.communes_by_province[DA_NANG]
    if REFERENCE.communes[c].name == "Đặc khu Hoàng Sa"
)
OTHERS = [c for c in REFERENCE.communes_by_province[DA_NANG] if c != HOANG_SA]
#: The unit whose duty ends in July.
ENDED = OTHERS[-1]
#: The worker's clock: just before August's deadline, so it announces August.
WORKER_NOW = datetime(2025, 9, 3, 8, 0, tzinfo=UTC)


def line(commune: str, period: str, submitted_at: str, **values: float) -> dict[str, Any]:
    return {
        "report_id": str(uuid.uuid4()),
        "commune_code": commune,
        "province_code": REFERENCE.communes[commune].province_code,
        "period": period,
        "revision": 1,
        "submitted_at": submitted_at,
        "indicators": values,
    }


def publish_historic(env: dict[str, str], path: Path, lines: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in lines))
    result = run("publish", "--historic", "--file", str(path), env=env)
    assert result.returncode == 0, result.stdout + result.stderr


# -- 1. obligations ------------------------------------------------------------------------


@pytest.fixture
def obligations_env(test_settings: Settings) -> dict[str, str]:
    offset = (WORKER_NOW - datetime.now(UTC)).total_seconds()
    return environment(
        test_settings,
        BAOCAO_LOG_LEVEL="INFO",
        BAOCAO_WORKER_CLOCK_OFFSET_SECONDS=str(offset),
        # Announce August at once, not after the first minute.
        BAOCAO_WORKER_SCHEDULE_INTERVAL_SECONDS="2",
    )


@pytest.fixture
def obligations_pipeline(
    obligations_env: dict[str, str], tmp_path: Path, clickhouse_db: str
) -> Iterator[None]:
    with running_pipeline(obligations_env, tmp_path):
        yield


def test_an_ended_obligation_and_hoang_sa_s_exemption_make_da_nang_complete(
    obligations_pipeline: None,
    obligations_env: dict[str, str],
    test_settings: Settings,
    tmp_path: Path,
) -> None:
    env = obligations_env
    sent = [line(c, AUGUST, "2025-09-02T09:30:00+07:00", tthc_received=3.0) for c in OTHERS[:-1]]
    hoang_sa = line(HOANG_SA, AUGUST, "2025-09-02T09:30:00+07:00", tthc_received=1.0)
    publish_historic(env, tmp_path / "august.jsonl", [*sent, hoang_sa])

    completeness = (
        "SELECT communes_expected, communes_reported, completeness_pct FROM province_completeness"
        " WHERE province_code = %(p)s AND period = %(t)s"
    )
    missing = (
        "SELECT commune_code FROM missing_reports WHERE province_code = %(p)s AND period = %(t)s"
    )
    where = {"p": DA_NANG, "t": AUGUST}

    def before_the_event() -> bool:
        assert query(test_settings, completeness, where) == [
            (len(OTHERS), len(OTHERS) - 1, round((len(OTHERS) - 1) * 100 / len(OTHERS), 1))
        ]
        assert query(test_settings, missing, where) == [(ENDED,)]
        return True

    eventually(before_the_event, what="Đà Nẵng one unit short", timeout=120, interval=1.0)

    # Bad input: refused with its reasons, nothing published.
    for args, reason in (
        (["--start", "2025-08-01", "--end", "2025-07-31"], "obligation_ends_before_start"),
        (["--commune", "99999", "--end", "2025-07-31"], "unknown_commune"),
        (["--report-type", "fortnightly", "--end", "2025-07-31"], "unknown_report_type"),
    ):
        options = {"--commune": ENDED, "--report-type": "monthly", "--reason": "test"}
        options.update(dict(zip(args[::2], args[1::2], strict=True)))
        flat = [part for pair in options.items() for part in pair]
        refused = run("obligations", "end", *flat, env=env)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "refused, nothing published" in refused.stderr and reason in refused.stderr

    # Published anyway (a foreign client): the worker dead-letters it, the sink keeps it apart.
    topics = Topics(test_settings.kafka.topic_prefix)
    backwards = {
        "obligation_id": str(uuid.uuid4()),
        "commune_code": OTHERS[0],
        "province_code": DA_NANG,
        "report_type": "monthly",
        "action": "set",
        "starts_on": date(2025, 8, 1),
        "ends_on": date(2025, 7, 31),
        "reason": "forged",
        "recorded_by": "nobody",
        "recorded_at": datetime.now(UTC).replace(microsecond=0),
    }
    sender = producer(test_settings.kafka)
    try:
        sender.send(
            topics.reporting_obligations,
            key=REPORTING_OBLIGATIONS.key_bytes_of(backwards),
            value=codec_for(REPORTING_OBLIGATIONS.writes).encode(backwards),
        ).get(timeout=30)
    finally:
        sender.close(timeout=10)

    ended = run(
        "obligations", "end", "--commune", ENDED, "--report-type", "monthly",
        "--end", "2025-07-31", "--reason", "Nghị quyết sáp nhập", "--by", "o48-1", env=env,
    )  # fmt: skip
    assert ended.returncode == 0, ended.stdout + ended.stderr

    def after_the_event() -> bool:
        assert query(test_settings, completeness, where) == [
            (len(OTHERS) - 1, len(OTHERS) - 1, 100.0)
        ]
        assert query(test_settings, missing, where) == []
        return True

    eventually(after_the_event, what="Đà Nẵng complete at 100.0", timeout=120, interval=1.0)

    def bad_event_set_aside() -> bool:
        letters = query(
            test_settings,
            "SELECT report_id, reason_codes FROM rejections WHERE source_topic = %(t)s",
            {"t": topics.reporting_obligations},
        )
        assert [(r, list(codes)) for r, codes in letters] == [
            (backwards["obligation_id"], ["obligation_ends_before_start"])
        ]
        poison = query(
            test_settings,
            "SELECT error FROM sink_poison_messages WHERE source_topic = %(t)s",
            {"t": topics.reporting_obligations},
        )
        assert len(poison) == 1 and "obligation_ends_before_start" in poison[0][0]
        return True

    eventually(bad_event_set_aside, what="the bad event's dead letter", timeout=60, interval=1.0)
    # Only the valid event counts; Hoàng Sa keeps its default exemption.
    assert query(
        test_settings,
        "SELECT commune_code, action, ends_on, recorded_by FROM unit_obligations"
        " WHERE province_code = %(p)s AND report_type = 'monthly' ORDER BY commune_code",
        where,
    ) == sorted([(ENDED, "end", date(2025, 7, 31), "o48-1"), (HOANG_SA, "exempt", None, "default")])
    # Hoàng Sa's report is kept, counted in the figures, and flagged.
    assert query(
        test_settings,
        "SELECT count() FROM commune_reports FINAL WHERE commune_code = %(c)s",
        {"c": HOANG_SA},
    ) == [(1,)]
    assert query(
        test_settings,
        "SELECT rule_code FROM report_warnings WHERE commune_code = %(c)s",
        {"c": HOANG_SA},
    ) == [("reported_while_not_due",)]
    listed = run("obligations", "list", "--province", DA_NANG, "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert [
        (o["commune_code"], o["action"], o["ends_on"], o["recorded_by"])
        for o in json.loads(listed.stdout)
        if o["report_type"] == "monthly"
    ] == sorted([(ENDED, "end", "2025-07-31", "o48-1"), (HOANG_SA, "exempt", None, "default")])
    shown = run("obligations", "list", "--province", DA_NANG, env={**env, "COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    assert "… to 2025-07-31" in shown.stdout and "no administration on site" in shown.stdout


# -- 2. this year against last year --------------------------------------------------------


def months() -> list[str]:
    return ["2024-08", *(f"2025-{m:02d}" for m in range(1, 9))]


def comparison_lines() -> list[dict[str, Any]]:
    """A few units of Hà Nội and Hồ Chí Minh City, every month, with a sum, a ratio's parts
    and a max; some months without one unit, so the year to date is not a multiple."""
    units = [*REFERENCE.communes_by_province["01"][:3], *REFERENCE.communes_by_province["79"][:2]]
    lines = []
    for m, period in enumerate(months()):
        year, month = int(period[:4]), int(period[5:])
        after = date(year + (month == 12), month % 12 + 1, 3)
        for u, unit in enumerate(units):
            if (m + u) % 4 == 3:
                continue
            lines.append(
                line(
                    unit,
                    period,
                    f"{after.isoformat()}T09:00:00+07:00",
                    tthc_received=10.0 * (u + 1) + m * 1.5,
                    tthc_online=4.0 * (u + 1) + m,
                    party_congress_held=float((m + u) % 2),
                )
            )
    return lines


@pytest.mark.parametrize("lang", [Lang.VI])
def test_the_august_workbooks_compare_with_last_year_and_the_year_to_date(
    pipeline: None,
    env: dict[str, str],
    test_settings: Settings,
    tmp_path: Path,
    lang: Lang,
) -> None:
    lines = comparison_lines()
    publish_historic(env, tmp_path / "year.jsonl", lines)
    figures = expected_province_figures(expected_latest(lines))
    inputs = {key: (value, num, den) for key, (value, num, den, _) in figures.items()}
    expected = expected_comparisons(inputs)

    def landed() -> bool:
        rows = query(
            test_settings,
            "SELECT count() FROM province_indicators WHERE report_type = 'monthly'",
        )
        assert rows == [(len(figures),)]
        return True

    eventually(landed, what="every month's figures", timeout=180, interval=1.0)
    words = LABELS[lang]
    for scope, args in (("01", ["--province", "01"]), ("", ["--national"])):
        target = tmp_path / f"{scope or 'national'}.xlsx"
        exported = run(
            "export", "--report-type", "monthly", "--period", AUGUST, "-o", str(target),
            "--lang", lang.value, *args, env=env,
        )  # fmt: skip
        assert exported.returncode == 0, exported.stdout + exported.stderr
        columns, rows = table(load_workbook(target)[words["sheet_indicators"]])
        checked = set()
        for row in rows:
            code = row[columns[words["code"]]]
            if (scope, AUGUST, code) not in expected:
                continue
            last, to_date = expected[(scope, AUGUST, code)]
            assert row[columns[words["same_period_last_year"]]] == pytest.approx(last), code
            assert row[columns[words["year_to_date"]]] == pytest.approx(to_date), code
            checked.add(code)
        assert {"tthc_received", "tthc_online", "tthc_online_rate", "party_congress_held"} <= (
            checked
        ), scope
    # The recomputation is not trivial: last year and the year to date differ from August.
    august, (last, to_date) = (
        inputs[("01", AUGUST, "tthc_received")][0],
        expected[("01", AUGUST, "tthc_received")],
    )
    assert last is not None and last != august and to_date > august
