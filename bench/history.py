"""Does the read side grow with history? Every dashboard route, the exports, a province
officer's pages and the BI query of a province login, timed at 1 month and at N years.

In one run, on the local stack with a database and topics of its own:

1. **1 month** (2026-11) of every commune (5% corrections) goes through the real pipeline:
   ``baocao worker`` and ``baocao sink`` as subprocesses, as ``bench.pipeline`` runs them.
   The BI province databases of Hà Nội (01) and Hồ Chí Minh City (79) are made as
   ``baocao bi apply`` makes them (their feeds copy every later insert). A copy of that
   database (``<db>_month``, with its own province databases) is the baseline.
2. **N years** of history before it, monthly and quarterly (``--years 10``: 119 months and
   39 quarters, 551,000 commune reports with the corrections), are loaded as the worker
   writes them: for each period, every commune's accepted report (quarterly ones carry the
   quarterly indicators), and for every 2,000 reports the province figures and completeness,
   as ``bench.sink``'s backlog.
   They are produced to the pipeline's own topics and landed by the same running
   ``baocao sink``: the sink's own code path (decoding, rows, inserts, the BI feeds), not
   the worker's. Why not the worker: through the worker a historic load runs at
   ~2,000 reports/s on a quiet machine, so 10 years would take 5 to 15 minutes alone;
   through the sink, ~14,000 records/s. The timed reads only see what the tables hold,
   which is the same either way.
   Then ``baocao compact``'s own code merges each closed year (before 2026) into one part, in
   both states, as the daily run leaves a database that has lived those years.
3. Each route is requested ``--requests`` times on both databases, interleaved (one month,
   N years, one month, ...: a neighbour's burst of load on the shared machine falls on both),
   through the web app in-process (FastAPI's TestClient: routing, the read model,
   ClickHouse and the rendering, no socket).

Prints each route's p50 and p95 at 1 month and at N years, and the ratio of the p50s. The
officer reads go through the province's own database (``<db>_p01``), as a signed-in officer's
do; they connect as the benchmark's admin there (the shared server has no dashboard login of
the benchmark's database), which reads the same tables and views with the same queries.

Usage: ``python -m bench.history [--years 10] [--requests 15]`` (needs ``baocao stack up``).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from baocao.app.bi.access import AccessPlan
from baocao.app.bi.apply import apply_access
from baocao.app.bi.credentials import Credentials
from baocao.app.compact import compact_databases
from baocao.app.dashboard.door import OfficerDoor
from baocao.app.dashboard.officers import OfficerDatabase, add_officer
from baocao.app.web import create_app
from baocao.core.avro import codec_for
from baocao.core.catalogue import load_catalogue
from baocao.core.clickhouse import connect
from baocao.core.kafka import admin_client, producer
from baocao.core.logins import LoginStore
from baocao.core.periods import deadline, parse_period
from baocao.core.reference import load_reference
from baocao.core.settings import ClickHouseSettings, DashboardSettings, DeadlineSettings, Settings
from baocao.core.topics import Topics
from baocao.producers.simulate import generate_reports
from baocao.sinks.clickhouse.migrate import migrate
from bench.pipeline import drop_everything, isolated_settings, pipeline, running_pipeline
from bench.retention import settle
from bench.sink import _SCHEMAS, WORKER_BATCH, _chunks, _end_offsets, _keyed

#: The month the routes ask for, loaded through the whole pipeline.
PERIOD = "2026-11"
#: The provinces whose BI databases are made (an officer of 01; 79 for its export).
PROVINCES = ("01", "79")
#: The BI query of the issue, run in the province's own database.
BI_QUERY = (
    "SELECT indicator_code, value FROM province_indicators"
    f" WHERE province_code = '01' AND period = '{PERIOD}'"
)

Record = tuple[str, bytes, dict[str, Any]]  # topic attribute, key, record


def history_periods(years: int) -> list[str]:
    """The ``years`` years of months and quarters before :data:`PERIOD`, oldest first."""
    end_year, end_month = 2026, 11
    months = []
    for back in range(1, 12 * years):
        index = end_year * 12 + end_month - 1 - back
        months.append(f"{index // 12}-{index % 12 + 1:02d}")
    quarters = [
        f"{year}-Q{quarter}"
        for year in range(end_year - years + 1, end_year + 1)
        for quarter in range(1, 5)
        if f"{year}-Q{quarter}" < "2026-Q4"  # 2026-Q4 ends after the asked month
    ]
    return sorted(months) + quarters


def worker_outputs(period: str, *, version: int, seed: int = 7) -> Iterator[Record]:
    """What the worker writes for ``period`` of every commune (see the module docstring);
    figure versions start after ``version``. A quarter's reports are the simulator's reports
    of its last month with the quarterly indicators."""
    reference, catalogue = load_reference(), load_catalogue()
    parsed = parse_period(period)
    report_type = str(parsed.report_type)
    indicators = [i.code for i in catalogue.for_report_type(report_type)]
    month = period if report_type == "monthly" else f"{period[:4]}-{int(period[-1]) * 3:02d}"
    due = deadline(parsed, DeadlineSettings()).astimezone(UTC)
    rng = random.Random(f"{seed}:{period}")
    reports = list(generate_reports(reference, catalogue, period=month, seed=seed, revisions=0.05))
    reported: dict[str, set[str]] = {}
    wanted = set(indicators)
    for batch in _chunks(reports, WORKER_BATCH):
        version += 1
        for report in batch:
            submitted = report.submitted_at.astimezone(UTC)
            yield (
                "accepted_reports",
                *_keyed(
                    "accepted_reports",
                    {
                        "report_id": str(
                            uuid.uuid5(uuid.NAMESPACE_URL, f"{report.report_id}/{period}")
                        ),
                        "commune_code": report.commune_code,
                        "province_code": report.province_code,
                        "period": period,
                        "revision": report.revision,
                        "submitted_at": submitted,
                        "indicators": {k: v for k, v in report.indicators.items() if k in wanted},
                        "report_type": report_type,
                        "first_submitted_at": submitted,
                        "accepted_at": submitted + timedelta(seconds=1),
                        "deadline": due,
                        "on_time": submitted <= due,
                        "amended": report.revision > 1,
                    },
                ),
            )
            reported.setdefault(report.province_code, set()).add(report.commune_code)
        updated_at = max(r.submitted_at for r in batch).astimezone(UTC)
        for province in sorted({r.province_code for r in batch}):
            count = len(reported[province])
            for code in indicators:
                yield (
                    "province_indicators",
                    *_keyed(
                        "province_indicators",
                        {
                            "province_code": province,
                            "period": period,
                            "indicator_code": code,
                            "value": rng.uniform(0, 1e6),
                            "numerator": None,
                            "denominator": None,
                            "communes_reported": count,
                            "version": version,
                            "updated_at": updated_at,
                            "report_type": report_type,
                            "deadline": due,
                            "communes_with_warnings": 0,
                            "communes_amended": 0,
                        },
                    ),
                )
            yield (
                "province_completeness",
                *_keyed(
                    "province_completeness",
                    {
                        "province_code": province,
                        "report_type": report_type,
                        "period": period,
                        "deadline": due,
                        "communes_expected": reference.communes_expected(province),
                        "communes_reported": count,
                        "communes_on_time": count,
                        "communes_late": 0,
                        "version": version,
                        "updated_at": updated_at,
                    },
                ),
            )


def load_history(settings: Settings, periods: list[str]) -> tuple[int, int, float]:
    """Produce the worker's outputs of ``periods`` and wait until the running sink has
    committed every offset: (reports, records, seconds)."""
    topics = Topics(settings.kafka.topic_prefix)
    codecs = {attribute: codec_for(schema) for attribute, schema in _SCHEMAS.items()}
    names = {attribute: getattr(topics, attribute) for attribute in _SCHEMAS}
    writer = producer(settings.kafka)
    reports = records = 0
    started = time.monotonic()
    try:
        for number, period in enumerate(periods):
            # Versions above the live month's: each period's start far apart.
            for attribute, key, record in worker_outputs(period, version=1_000 * (number + 1)):
                writer.send(names[attribute], key=key, value=codecs[attribute].encode(record))
                records += 1
                reports += attribute == "accepted_reports"
        writer.flush(timeout=300)
    finally:
        writer.close()
    ends = _end_offsets(settings)
    admin = admin_client(settings.kafka)
    group = settings.sink.group_id
    try:
        while True:
            offsets = admin.list_group_offsets(group).get(group, {})
            done = {tp: meta.offset for tp, meta in offsets.items()}
            if all(done.get(tp, -1) >= end for tp, end in ends.items()):
                break
            time.sleep(0.5)
    finally:
        admin.close()
    return reports, records, time.monotonic() - started


def _get(client: TestClient, url: str) -> Callable[[], Any]:
    def request() -> Any:
        answer = client.get(url)
        if answer.status_code != 200:
            raise RuntimeError(f"{url}: {answer.status_code} {answer.text[:200]}")
        return answer

    return request


def _province_settings(admin: ClickHouseSettings, plan: AccessPlan) -> Callable[[str], Any]:
    def login(code: str) -> ClickHouseSettings:
        return admin.model_copy(update={"database": plan.province_database(code)})

    return login


class Routes:
    """The web app over one database (``clickhouse``'s), a national and a Hà Nội officer
    signed in, and the province login's database for the BI query."""

    def __init__(self, clickhouse: ClickHouseSettings, plan: AccessPlan, home: Path) -> None:
        database = OfficerDatabase(home / f"officers-{plan.database}.db").open()
        logins = LoginStore(database)
        door = OfficerDoor(database, DashboardSettings())
        app = create_app(clickhouse, door=door, province_login=_province_settings(clickhouse, plan))
        self.clients = {}
        for who, province in (("national", None), ("officer 01", "01")):
            login, password = add_officer(logins, province=province, name=who)
            client = TestClient(app)
            answer = client.post(
                "/api/session",
                json={"login": login.login_id, "password": password},
                headers={"Origin": "http://testserver"},
            )
            answer.raise_for_status()
            self.clients[who] = client
        self.bi = connect(clickhouse.model_copy(update={"database": plan.province_database("01")}))
        self.commune = next(iter(load_reference().communes_by_province["01"]))

    def requests(self) -> dict[str, Callable[[], Any]]:
        asked = f"report_type=monthly&period={PERIOD}"
        national, officer = self.clients["national"], self.clients["officer 01"]
        return {
            f"/api/provinces/01?{asked}": _get(national, f"/api/provinces/01?{asked}"),
            "/api/provinces/79/export.xlsx": _get(
                national, f"/api/provinces/79/export.xlsx?{asked}"
            ),
            f"/api/overview?{asked}": _get(national, f"/api/overview?{asked}"),
            "/api/national/export.xlsx": _get(national, f"/api/national/export.xlsx?{asked}"),
            "/api/periods/default": _get(national, "/api/periods/default"),
            "/api/periods": _get(national, "/api/periods"),
            f"/api/communes/{self.commune}": _get(
                national, f"/api/communes/{self.commune}?period={PERIOD}"
            ),
            "officer 01: /api/provinces/01": _get(officer, f"/api/provinces/01?{asked}"),
            "officer 01: /api/overview": _get(officer, f"/api/overview?{asked}"),
            "officer 01: /api/provinces/01/export.xlsx": _get(
                officer, f"/api/provinces/01/export.xlsx?{asked}"
            ),
            "BI (province 01's database): province_indicators": lambda: self.bi.execute(BI_QUERY),
        }


Timings = dict[str, tuple[tuple[float, float], tuple[float, float]]]


def measure(month: Routes, history: Routes, count: int) -> Timings:
    """Each route of both databases, their requests interleaved (one month, N years, one
    month...), so a neighbour's burst of load on the shared machine falls on both alike."""
    results: Timings = {}
    history_requests = history.requests()
    for route, at_month in month.requests().items():
        at_history = history_requests[route]
        at_month(), at_history()  # warm-up, untimed
        times: tuple[list[float], list[float]] = ([], [])
        for _ in range(count):
            for request, kept in ((at_month, times[0]), (at_history, times[1])):
                started = time.perf_counter()
                request()
                kept.append((time.perf_counter() - started) * 1000)
        results[route] = (_percentiles(times[0]), _percentiles(times[1]))
    return results


def _percentiles(times: list[float]) -> tuple[float, float]:
    """p50 and p95 of ``times``."""
    ordered = sorted(times)
    return statistics.median(ordered), ordered[round(0.95 * (len(ordered) - 1))]


def copy_database(source: ClickHouseSettings, target: ClickHouseSettings) -> None:
    """``target`` migrated, with a copy of every row the sink wrote to ``source`` (the
    ReplacingMergeTree tables; migrate loads the reference tables itself)."""
    migrate(target)
    client = connect(target)
    try:
        tables = client.execute(
            "SELECT name FROM system.tables WHERE database = %(db)s AND engine LIKE 'Replacing%%'",
            {"db": source.database},
        )
        for (table,) in tables:
            client.execute(
                f"INSERT INTO `{target.database}`.`{table}`"
                f" SELECT * FROM `{source.database}`.`{table}`"
            )
    finally:
        client.disconnect()


def drop_databases(clickhouse: ClickHouseSettings, plans: list[AccessPlan]) -> None:
    client = connect(clickhouse, use_database=False)
    try:
        for plan in plans:
            for database in (
                plan.feed_database,
                *map(plan.province_database, PROVINCES),
                plan.database,
            ):
                client.execute(f"DROP DATABASE IF EXISTS `{database}`")
    finally:
        client.disconnect()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.history", description=__doc__)
    parser.add_argument("--years", type=int, default=10, help="Years of history to load.")
    parser.add_argument("--requests", type=int, default=15, help="Timed requests per route.")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="Keep both databases and their province databases for inspection (prints names).",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.years <= 10:
        parser.error("--years must be between 1 and 10")
    name = f"bench{uuid.uuid4().hex[:8]}"
    periods = history_periods(args.years)
    with tempfile.TemporaryDirectory() as state_dir:
        home = Path(state_dir)
        settings = isolated_settings(name, home)
        plan = AccessPlan(database=name, provinces=PROVINCES)
        month = settings.clickhouse.model_copy(update={"database": f"{name}_month"})
        month_plan = AccessPlan(database=month.database, provinces=PROVINCES)
        try:
            migrate(settings.clickhouse)
            apply_access(settings.clickhouse, plan, Credentials())
            with running_pipeline(settings):
                live, _ = pipeline(settings, [PERIOD])
                settle(settings)
                copy_database(settings.clickhouse, month)
                apply_access(month, month_plan, Credentials())
                reports, records, seconds = load_history(settings, periods)
            # What the daily `baocao compact` leaves of closed years (both states alike).
            compacted = [
                compact_databases(state, before_year=int(PERIOD[:4]))
                for state in (month, settings.clickhouse)
            ]
            timings = measure(
                Routes(month, month_plan, home),
                Routes(settings.clickhouse, plan, home),
                args.requests,
            )
        finally:
            if args.keep:
                print(f"kept: {name} (N years), {month.database} (1 month) and BI databases")
            else:
                drop_everything(settings)
                drop_databases(settings.clickhouse, [plan, month_plan])
    print(
        f"1 month: {live:,} reports through the worker and the sink; history: {len(periods)}"
        f" periods ({args.years} years of months and quarters), {reports:,} reports,"
        f" {records:,} records through the sink in {seconds:.0f} s; `baocao compact` merged"
        f" {len(compacted[1].partitions)} year partitions in {compacted[1].seconds:.1f} s"
        f" ({len(compacted[0].partitions)} at 1 month)"
    )
    print(f"{'route (p50 / p95 ms)':52} {'1 month':>15} {f'{args.years} years':>15} {'x p50':>6}")
    for route, ((p50, p95), (later50, later95)) in timings.items():
        print(
            f"{route:52} {p50:7.1f} /{p95:6.1f} {later50:7.1f} /{later95:6.1f} {later50 / p50:6.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
