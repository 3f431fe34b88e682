"""The issue-3 BI views on the real ClickHouse: completeness, missing reports, status,
the national tier, history and as-of queries, warnings and approvals.

Rows go straight into the fact tables through the sink's own row builders (the sink itself is
tested in ``test_sink.py``), each version in its own insert, so the views must be right before
any background merge. Periods are chosen relative to now, so a deadline has passed or has not
without waiting: PAST is the month that ended over two months ago (deadline long gone),
FUTURE is today's daily period (due at the end of tomorrow, local time).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from clickhouse_driver import Client
from support import records
from support.dashboard import insert
from support.records import due

from baocao.core.clickhouse import connect
from baocao.core.periods import ReportType, period_containing
from baocao.core.reference import load_reference
from baocao.core.settings import Settings
from baocao.sinks.clickhouse.migrate import migrate
from baocao.sinks.clickhouse.rows.tables import (
    APPROVAL_DECISIONS,
    COMMUNE_REPORTS,
    PROVINCE_COMPLETENESS_VALUES,
    PROVINCE_INDICATOR_CHANGES,
    PROVINCE_INDICATOR_VALUES,
    REPORT_WARNINGS_LOG,
    REPORTING_OBLIGATIONS,
    REPORTING_PERIODS,
)

NOW = datetime.now(UTC)
PAST = period_containing(ReportType.MONTHLY, NOW - timedelta(days=70)).text
FUTURE = period_containing(ReportType.DAILY, NOW).text
#: A period nobody announced, only reported on.
WEEK = period_containing(ReportType.WEEKLY, NOW - timedelta(days=30)).text
REFERENCE = load_reference()
ALL_COMMUNES = len(REFERENCE.communes)
#: The smallest province, and one that nobody reports from in these tests.
SMALL = min(REFERENCE.provinces, key=REFERENCE.communes_expected)
QUIET = next(code for code in sorted(REFERENCE.provinces) if code not in {"01", "79", SMALL})


def second(moment: datetime) -> datetime:
    """``moment`` as a ClickHouse ``DateTime`` reads back (whole seconds)."""
    return moment.replace(microsecond=0)


def communes(province: str) -> list[str]:
    return list(REFERENCE.communes_by_province[province])


@pytest.fixture
def db(test_settings: Settings, clickhouse_db: str) -> Iterator[Client]:
    migrate(test_settings.clickhouse)
    client = connect(test_settings.clickhouse)
    yield client
    client.disconnect()


def announce(client: Client, *periods: str) -> None:
    for period in periods:
        record = records.reporting_period(period, NOW - timedelta(hours=1))
        insert(client, REPORTING_PERIODS, record)


# -- completeness -------------------------------------------------------------------------


def test_completeness_has_every_province_and_period_with_zeros_and_percentages(
    db: Client,
) -> None:
    announce(db, PAST, FUTURE)
    announce(db, PAST)  # announced again on the next tick: still one period
    small = REFERENCE.communes_expected(SMALL)
    hanoi = REFERENCE.communes_expected("01")
    for fact in (
        records.completeness("01", PAST, 1, reported=1, on_time=1),
        records.completeness("01", PAST, 3, reported=5, on_time=4),
        records.completeness("01", PAST, 2, reported=2, on_time=2),  # late duplicate: older
        records.completeness("79", PAST, 1, reported=1, on_time=0),
        records.completeness(SMALL, PAST, 1, reported=small, on_time=small - 1),
        records.completeness("01", WEEK, 1, reported=2, on_time=2),
    ):
        insert(db, PROVINCE_COMPLETENESS_VALUES, fact)
    insert(db, APPROVAL_DECISIONS, records.decision("79", PAST, NOW - timedelta(days=3)))

    per_period = db.execute(
        "SELECT report_type, period, count(), uniqExact(province_code)"
        " FROM province_completeness GROUP BY report_type, period ORDER BY report_type, period"
    )
    assert per_period == [
        ("daily", FUTURE, 34, 34),
        ("monthly", PAST, 34, 34),
        ("weekly", WEEK, 34, 34),
    ]

    def row(province: str, period: str) -> tuple[Any, ...]:
        rows = db.execute(
            "SELECT * FROM province_completeness WHERE province_code = %(p)s AND period = %(t)s",
            {"p": province, "t": period},
        )
        assert len(rows) == 1
        return tuple(rows[0])

    past_due = second(due(PAST))
    assert row("01", PAST) == (
        "01",
        "monthly",
        PAST,
        hanoi,
        5,
        4,
        1,
        hanoi - 5,
        round(5 / hanoi * 100, 1),
        round(4 / hanoi * 100, 1),
        past_due,
        REFERENCE.provinces["01"].name,
        "final",
    )
    assert row(SMALL, PAST)[4:10] == (
        small,
        small - 1,
        1,
        0,
        100.0,
        round((small - 1) / small * 100, 1),
    )
    quiet = REFERENCE.communes_expected(QUIET)
    assert row(QUIET, PAST) == (
        QUIET,
        "monthly",
        PAST,
        quiet,
        0,
        0,
        0,
        quiet,
        0.0,
        0.0,
        past_due,
        REFERENCE.provinces[QUIET].name,
        "final",
    )
    assert row("79", PAST)[-1] == "approved"
    assert row("01", FUTURE)[4:] == (
        0,
        0,
        0,
        hanoi,
        0.0,
        0.0,
        second(due(FUTURE)),
        REFERENCE.provinces["01"].name,
        "provisional",
    )
    assert row(QUIET, WEEK)[3:8] == (quiet, 0, 0, 0, quiet)  # reported elsewhere: zeros here

    national = db.execute("SELECT * FROM national_completeness ORDER BY report_type, period")
    # Đặc khu Hoàng Sa owes no report of an announced period (units_not_due): its province
    # expects one unit less; a period nobody announced has no known last day, every unit counts.
    due_units = ALL_COMMUNES - 1
    reported = 5 + 1 + small
    on_time = 4 + 0 + small - 1
    assert national == [
        (
            "daily",
            FUTURE,
            due_units,
            0,
            0,
            0,
            due_units,
            0.0,
            0.0,
            second(due(FUTURE)),
            0,
            0,
            "provisional",
        ),
        (
            "monthly",
            PAST,
            due_units,
            reported,
            on_time,
            reported - on_time,
            due_units - reported,
            round(reported / due_units * 100, 1),
            round(on_time / due_units * 100, 1),
            past_due,
            1,  # SMALL reported completely
            1,  # 79 approved
            "final",
        ),
        (
            "weekly",
            WEEK,
            ALL_COMMUNES,
            2,
            2,
            0,
            ALL_COMMUNES - 2,
            0.1,
            0.1,
            second(due(WEEK)),
            0,
            0,
            "final",
        ),
    ]


# -- missing reports ----------------------------------------------------------------------


def test_da_nang_has_no_missing_report_once_all_but_hoang_sa_reported(db: Client) -> None:
    announce(db, PAST)
    da_nang = communes("48")
    (hoang_sa,) = (c for c in da_nang if REFERENCE.communes[c].name == "Đặc khu Hoàng Sa")
    assert db.execute(
        "SELECT report_type FROM reporting_exemptions WHERE commune_code = %(c)s"
        " ORDER BY report_type",
        {"c": hoang_sa},
    ) == [("daily",), ("monthly",), ("quarterly",), ("weekly",), ("yearly",)]
    others = [c for c in da_nang if c != hoang_sa]
    for commune in others[:-1]:
        insert(db, COMMUNE_REPORTS, records.accepted_report(commune, PAST, 1))
    missing = (
        "SELECT commune_code FROM missing_reports WHERE province_code = '48' AND period = %(p)s"
    )
    assert db.execute(missing, {"p": PAST}) == [(others[-1],)]
    insert(db, COMMUNE_REPORTS, records.accepted_report(others[-1], PAST, 1))
    assert db.execute(missing, {"p": PAST}) == []


def test_missing_reports_and_completeness_follow_the_latest_obligation_event(db: Client) -> None:
    announce(db, PAST)
    da_nang = communes("48")
    (hoang_sa,) = (c for c in da_nang if REFERENCE.communes[c].name == "Đặc khu Hoàng Sa")
    others = [c for c in da_nang if c != hoang_sa]
    for commune in others[:-2]:
        insert(db, COMMUNE_REPORTS, records.accepted_report(commune, PAST, 1))
    missing = (
        "SELECT commune_code FROM missing_reports WHERE province_code = '48' AND period = %(p)s"
        " ORDER BY commune_code"
    )
    expected = (
        "SELECT communes_expected FROM province_completeness"
        " WHERE province_code = '48' AND period = %(p)s"
    )
    assert db.execute(missing, {"p": PAST}) == [(c,) for c in sorted(others[-2:])]
    assert db.execute(expected, {"p": PAST}) == [(len(others),)]
    first_day = date.fromisoformat(f"{PAST}-01")
    insert(
        db,
        REPORTING_OBLIGATIONS,
        # Ended the day before the period began: not due.
        records.obligation(others[-1], "end", NOW, ends_on=first_day - timedelta(days=1)),
        # Due again from the period's first day (an earlier exemption, replaced).
        records.obligation(hoang_sa, "exempt", NOW - timedelta(days=2)),
        records.obligation(hoang_sa, "set", NOW - timedelta(days=1), starts_on=first_day),
    )
    assert db.execute(missing, {"p": PAST}) == [(c,) for c in sorted([others[-2], hoang_sa])]
    assert db.execute(expected, {"p": PAST}) == [(len(others),)]  # one out, one in
    # A later exemption of Hoàng Sa wins over the "set" before it.
    insert(db, REPORTING_OBLIGATIONS, records.obligation(hoang_sa, "exempt", NOW))
    assert db.execute(missing, {"p": PAST}) == [(others[-2],)]
    assert db.execute(expected, {"p": PAST}) == [(len(others) - 1,)]
    by_type = (
        "SELECT sum(communes_expected) FROM division_type_completeness"
        " WHERE province_code = '48' AND period = %(p)s"
    )
    assert db.execute(by_type, {"p": PAST}) == [(len(others) - 1,)]
    # A period only reported on (not announced): the exempt units are left out.
    insert(db, COMMUNE_REPORTS, records.accepted_report(others[0], WEEK, 1))
    assert db.execute(by_type, {"p": WEEK}) == [(len(others),)]
    # Hoàng Sa's other report types keep their default exemption.
    assert db.execute(
        "SELECT commune_code, report_type, action, recorded_by FROM unit_obligations"
        " WHERE province_code = '48' ORDER BY commune_code, report_type",
    ) == sorted(
        [(others[-1], "monthly", "end", "o48-1"), (hoang_sa, "monthly", "exempt", "o48-1")]
        + [(hoang_sa, t, "exempt", "default") for t in ("daily", "quarterly", "weekly", "yearly")]
    )


def test_missing_reports_list_exactly_the_communes_without_a_report_and_overdue_flips(
    db: Client,
) -> None:
    announce(db, PAST, FUTURE)
    hanoi = communes("01")
    reported_past = hanoi[:3]
    for commune in reported_past:
        report = records.accepted_report(commune, PAST, 1)
        insert(db, COMMUNE_REPORTS, report)
    insert(db, COMMUNE_REPORTS, records.accepted_report(hanoi[0], PAST, 2))
    insert(db, COMMUNE_REPORTS, records.accepted_report(hanoi[5], FUTURE, 1))
    # A report on a period nobody announced does not make anyone missing for it.
    insert(db, COMMUNE_REPORTS, records.accepted_report(hanoi[6], WEEK, 1))

    rows = db.execute(
        "SELECT commune_code, commune_name, report_type, deadline, overdue FROM missing_reports"
        " WHERE province_code = '01' AND period = %(p)s ORDER BY commune_code",
        {"p": PAST},
    )
    assert rows == [
        (code, REFERENCE.communes[code].name, "monthly", second(due(PAST)), 1)
        for code in sorted(set(hanoi) - set(reported_past))
    ]
    future = db.execute(
        "SELECT commune_code, report_type, deadline, overdue FROM missing_reports"
        " WHERE province_code = '01' AND period = %(p)s ORDER BY commune_code",
        {"p": FUTURE},
    )
    assert future == [
        (code, "daily", second(due(FUTURE)), 0) for code in sorted(set(hanoi) - {hanoi[5]})
    ]
    totals = db.execute(
        "SELECT period, count(), sum(overdue), uniqExact(province_code) FROM missing_reports"
        " GROUP BY period ORDER BY period"
    )
    # Đặc khu Hoàng Sa owes no report (no administration on site): never missing.
    due_communes = ALL_COMMUNES - 1
    assert sorted(totals) == sorted(
        [(PAST, due_communes - 3, due_communes - 3, 34), (FUTURE, due_communes - 1, 0, 34)]
    )
    # commune_indicators carries the report type and the worker's timeliness verdict.
    assert db.execute(
        "SELECT period, revision, report_type, on_time, amended FROM commune_indicators"
        " WHERE commune_code = %(c)s ORDER BY period",
        {"c": hanoi[0]},
    ) == [(PAST, 2, "monthly", 1, 0)]


# -- figures: status and the national tier ------------------------------------------------


def test_province_figures_are_provisional_final_then_approved(db: Client) -> None:
    insert(
        db,
        PROVINCE_INDICATOR_VALUES,
        records.figure("01", FUTURE, "fires", 1, 2.0),
    )
    insert(
        db,
        PROVINCE_INDICATOR_VALUES,
        records.figure("79", PAST, "fires", 1, 7.0),
    )
    insert(
        db,
        PROVINCE_INDICATOR_VALUES,
        records.figure("01", PAST, "fires", 1, 3.0, communes_reported=2),
    )
    insert(
        db,
        PROVINCE_INDICATOR_VALUES,
        records.figure(
            "01",
            PAST,
            "fires",
            2,
            4.0,
            communes_reported=3,
            communes_with_warnings=1,
            communes_amended=1,
        ),
    )
    query = (
        "SELECT province_code, period, value, communes_reported, report_type, deadline, status,"
        " communes_with_warnings, communes_amended FROM province_indicators"
        " ORDER BY province_code, report_type, period"
    )
    assert db.execute(query) == [
        ("01", FUTURE, 2.0, 1, "daily", second(due(FUTURE)), "provisional", 0, 0),
        ("01", PAST, 4.0, 3, "monthly", second(due(PAST)), "final", 1, 1),
        ("79", PAST, 7.0, 1, "monthly", second(due(PAST)), "final", 0, 0),
    ]
    insert(db, APPROVAL_DECISIONS, records.decision("01", PAST, NOW))
    insert(db, APPROVAL_DECISIONS, records.decision("01", FUTURE, NOW))
    assert [row[6] for row in db.execute(query)] == ["approved", "approved", "final"]


def test_national_figures_are_sums_of_sums_extremes_of_extremes_and_ratios_of_sums(
    db: Client,
) -> None:
    def figure(province: str, code: str, version: int, value: float | None, **more: Any) -> None:
        record = records.figure(province, PAST, code, version, value, **more)
        insert(db, PROVINCE_INDICATOR_VALUES, record)

    hanoi, hcmc = REFERENCE.communes_expected("01"), REFERENCE.communes_expected("79")
    figure("01", "tthc_resolved", 1, 1.0, communes_reported=1)  # superseded below
    figure("01", "tthc_resolved", 2, 10.0, communes_reported=hanoi)
    figure("79", "tthc_resolved", 1, 100.0, communes_reported=hcmc)
    figure("01", "tthc_resolved_on_time", 2, 9.0, communes_reported=hanoi)
    figure("79", "tthc_resolved_on_time", 1, 10.0, communes_reported=hcmc)
    # Hanoi resolved 90% on time, Ho Chi Minh City 10%: nationally 19 of 110 dossiers.
    figure(
        "01", "tthc_on_time_rate", 2, 0.9, numerator=9.0, denominator=10.0, communes_reported=hanoi
    )
    figure(
        "79", "tthc_on_time_rate", 1, 0.1, numerator=10.0, denominator=100.0, communes_reported=hcmc
    )
    # A province whose denominator is zero: no rate, but it changes no sum.
    figure(QUIET, "tthc_on_time_rate", 1, None, numerator=0.0, denominator=0.0, communes_reported=0)
    figure("01", "internet_coverage_pct_max", 1, 80.0, communes_reported=4)
    figure("79", "internet_coverage_pct_max", 1, 95.0, communes_reported=5)
    figure("01", "party_congress_earliest_day", 1, 12.0, communes_reported=4)
    figure("79", "party_congress_earliest_day", 1, 3.0, communes_reported=5)
    figure(
        "01",
        "budget_revenue_plan_rate",
        1,
        None,
        numerator=0.0,
        denominator=0.0,
        communes_reported=2,
    )

    rows = {
        row[1]: row
        for row in db.execute("SELECT * FROM national_indicators WHERE period = %(p)s", {"p": PAST})
    }
    past_due = second(due(PAST))
    assert rows["tthc_resolved"] == (
        PAST,
        "tthc_resolved",
        110.0,
        2,
        hanoi + hcmc,
        ALL_COMMUNES,
        "monthly",
        past_due,
        "final",
    )
    rate = rows["tthc_on_time_rate"]
    assert rate[2] == pytest.approx(19 / 110)
    assert rate[2] != pytest.approx((0.9 + 0.1) / 2)  # never the average of provincial rates
    assert rate[3:6] == (2, hanoi + hcmc, ALL_COMMUNES)
    assert rows["internet_coverage_pct_max"][2:5] == (95.0, 2, 9)
    assert rows["party_congress_earliest_day"][2:5] == (3.0, 2, 9)
    assert rows["budget_revenue_plan_rate"][2:5] == (None, 1, 2)

    for province in REFERENCE.provinces:
        insert(db, APPROVAL_DECISIONS, records.decision(province, PAST, NOW))
    assert {row[0] for row in db.execute("SELECT DISTINCT status FROM national_indicators")} == {
        "approved"
    }


# -- history, warnings, approvals ---------------------------------------------------------


def test_history_keeps_every_change_and_answers_as_of_queries(db: Client) -> None:
    t1, t2, t3 = (second(NOW - timedelta(hours=h)) for h in (30, 20, 10))
    c1, c2 = communes("01")[:2]

    def cause(commune: str, revision: int, before: float | None, after: float | None) -> dict:
        return {
            "commune_code": commune,
            "report_id": f"{commune}-r{revision}",
            "revision": revision,
            "previous_value": before,
            "value": after,
        }

    first = records.change(
        "01", PAST, "tthc_on_time_rate", 1, 0.5, None, t1, [cause(c1, 1, None, 0.5)]
    )
    second_change = records.change(
        "01",
        PAST,
        "tthc_on_time_rate",
        4,
        0.75,
        0.5,
        t2,
        [cause(c1, 2, 0.5, 1.0), cause(c2, 1, None, 0.5)],
    )
    third = records.change(
        "01", PAST, "tthc_on_time_rate", 7, None, 0.75, t3, [cause(c2, 2, 0.5, None)]
    )
    for record in (first, third, second_change, second_change):  # out of order, one replayed
        insert(db, PROVINCE_INDICATOR_CHANGES, record)

    rows = db.execute(
        "SELECT province_name, report_type, version, value, previous_value, change, known_at,"
        " cause_commune_codes, cause_report_ids, cause_revisions, cause_previous_values,"
        " cause_values FROM province_indicator_history ORDER BY version"
    )
    name = REFERENCE.provinces["01"].name
    assert rows == [
        (name, "monthly", 1, 0.5, None, None, t1, [c1], [f"{c1}-r1"], [1], [None], [0.5]),
        (
            name,
            "monthly",
            4,
            0.75,
            0.5,
            0.25,
            t2,
            [c1, c2],
            [f"{c1}-r2", f"{c2}-r1"],
            [2, 1],
            [0.5, None],
            [1.0, 0.5],
        ),
        (name, "monthly", 7, None, 0.75, None, t3, [c2], [f"{c2}-r2"], [2], [0.5], [None]),
    ]

    def as_of(moment: datetime) -> list[tuple[Any, ...]]:
        return db.execute(
            "SELECT argMax(tuple(value), version).1 FROM province_indicator_history"
            " WHERE province_code = '01' AND period = %(p)s"
            " AND indicator_code = 'tthc_on_time_rate' AND known_at <= %(t)s",
            {"p": PAST, "t": moment},
        )

    assert as_of(t1) == [(0.5,)]
    assert as_of(t2 - timedelta(seconds=1)) == [(0.5,)]  # the earlier value, as then known
    assert as_of(t3 - timedelta(seconds=1)) == [(0.75,)]
    assert as_of(NOW) == [(None,)]  # as currently corrected: no rate (denominator zero)


def test_report_warnings_are_those_of_each_communes_latest_revision(db: Client) -> None:
    c1, c2 = communes("79")[:2]
    first = records.accepted_report(c1, PAST, 1, indicators={"tthc_received": 100.0})
    latest = records.accepted_report(c1, PAST, 2, indicators={"tthc_received": 5.0})
    other = records.accepted_report(c2, PAST, 1, indicators={"tthc_received": 7.0})
    for report in (first, latest, other):
        insert(db, COMMUNE_REPORTS, report)
    warnings = [
        records.warning(first, "far_from_history", "tthc_received"),
        records.warning(latest, "resolved_exceeds_received", None),
        records.warning(other, "resolved_parts_mismatch", "tthc_received"),
    ]
    insert(db, REPORT_WARNINGS_LOG, *warnings)
    insert(db, REPORT_WARNINGS_LOG, warnings[1])  # replayed

    rows = db.execute("SELECT * FROM report_warnings ORDER BY commune_code")
    assert rows == [
        (
            warnings[1]["warning_id"],
            latest["report_id"],
            c1,
            REFERENCE.communes[c1].name,
            "79",
            "monthly",
            PAST,
            2,
            "resolved_exceeds_received",
            None,
            None,
            1.0,
            "resolved_exceeds_received on None",
            "cảnh báo resolved_exceeds_received",
            second(latest["submitted_at"]),
        ),
        (
            warnings[2]["warning_id"],
            other["report_id"],
            c2,
            REFERENCE.communes[c2].name,
            "79",
            "monthly",
            PAST,
            1,
            "resolved_parts_mismatch",
            "tthc_received",
            7.0,
            1.0,
            "resolved_parts_mismatch on tthc_received",
            "cảnh báo resolved_parts_mismatch",
            second(other["submitted_at"]),
        ),
    ]
    assert db.execute("SELECT count() FROM report_warnings_log FINAL") == [(3,)]


def test_period_approvals_show_the_approval_that_holds_from_the_workers_decisions(
    db: Client,
) -> None:
    """Issue 19: approve, unapprove (with a reason), approve again, and a refused step: the
    view shows the second approval; in 79 an unapproved period is not shown at all."""
    day = timedelta(days=1)
    first = records.decision("01", PAST, second(NOW - 3 * day), actor="pho-chu-tich")
    reopened = records.decision(
        "01",
        PAST,
        second(NOW - 2 * day),
        action="unapprove",
        state="open",
        version=2,
        actor="pho-chu-tich",
        note="sai số liệu xã",
    )
    again = records.decision(
        "01",
        PAST,
        second(NOW - day),
        state="approved",
        version=3,
        actor="chu-tich",
        note="đã rà soát",
    )
    refused = records.decision(
        "01",
        PAST,
        second(NOW),
        action="return",
        state="approved",
        version=3,
        outcome="refused",
        reason_code="period_approved",
        commune_code="00004",
    )
    insert(db, APPROVAL_DECISIONS, first, reopened)
    insert(db, APPROVAL_DECISIONS, again, refused, again)  # one replayed
    insert(
        db,
        APPROVAL_DECISIONS,
        records.decision("79", PAST, second(NOW - 2 * day)),
        records.decision(
            "79", PAST, second(NOW - day), action="unapprove", state="open", version=2, note="x"
        ),
    )
    assert db.execute("SELECT * FROM period_approvals") == [
        (
            "01",
            "monthly",
            PAST,
            "chu-tich",
            again["acted_at"],
            "đã rà soát",
            REFERENCE.provinces["01"].name,
            again["approval_id"],
            2,
            "approved",
        )
    ]
    audit = db.execute(
        "SELECT action, actor, outcome, reason_code, note FROM approval_audit"
        " WHERE province_code = '01' ORDER BY acted_at"
    )
    assert audit == [
        ("approve", "pho-chu-tich", "applied", None, None),
        ("unapprove", "pho-chu-tich", "applied", None, "sai số liệu xã"),
        ("approve", "chu-tich", "applied", None, "đã rà soát"),
        ("return", "so-noi-vu-01", "refused", "period_approved", None),
    ]


def test_a_returned_report_shows_until_its_correction(db: Client) -> None:
    back = records.decision(
        "01",
        PAST,
        second(NOW - timedelta(hours=2)),
        action="return",
        state="open",
        commune_code="00004",
        note="thiếu số liệu",
        actor="o01-1",
    )
    insert(db, APPROVAL_DECISIONS, back)
    assert db.execute("SELECT commune_code, note, returned_by FROM returned_reports") == [
        ("00004", "thiếu số liệu", "o01-1")
    ]
    corrected = records.decision(
        "01",
        PAST,
        second(NOW - timedelta(hours=1)),
        action="correction",
        state="open",
        version=1,
        commune_code="00004",
        actor="00004",
    )
    insert(db, APPROVAL_DECISIONS, corrected)
    assert db.execute("SELECT count() FROM returned_reports") == [(0,)]
