"""Run the ClickHouse migrations and the BI views on a *current* ClickHouse (chdb, in process),
and optionally compare every view's answer with a server (the local 18.16).

CI runs it (``make check-current-clickhouse``: a venv of its own, ``.venv-chdb``, with the
pinned chdb of ``scripts/chdb-requirements.txt`` installed without its optional dependencies,
then both modes below). See docs/clickhouse.md. By hand::

    make check-current-clickhouse
    .venv-chdb/bin/python scripts/check_current_clickhouse.py --server http://127.0.0.1:18123

What it does, on a fresh database of each engine:

1. applies every packaged migration in order, the way ``baocao migrate`` does (an ``ALTER
   TABLE ... ADD COLUMN`` whose columns all exist is skipped), then applies them all a second
   time, as after a failed run that recorded nothing: every statement must be re-runnable;
2. inserts a small fixture (two provinces, five communes, rows in every fact table, a row of
   the first release without deadline, periods whose deadline has passed and one in 2099);
3. reads every view and checks the figures that matter (completeness zeros, national ratio
   of sums, missing communes, status, as-of history, warnings, earliest approval);
4. runs ``baocao rebuild swap``'s statements for a current ClickHouse (``EXCHANGE TABLES``,
   ``RENAME DATABASE``; :mod:`baocao.app.rebuild.statements`) on two migrated databases and
   reads every view of the live one (chdb only: 18.16 has neither statement);
5. reads every period slice of the read model (``baocao.app.views.slices.CHECKED``: the
   views' own queries with the period filter inside) for the fixture's periods and checks
   that each answers the rows its view answers for the same filter;
6. with ``--server``, does the same on that server over HTTP in a scratch database and
   compares each view's columns, types and rows with chdb's.

Only the standard library, chdb, ``baocao.sinks.clickhouse.sql`` and ``baocao.app.views.slices``
(both stdlib-only) are imported, so
the venv needs nothing else. The server's login is ``BAOCAO_CLICKHOUSE_USER`` and
``BAOCAO_CLICKHOUSE_PASSWORD`` when set (as for every client of the project), else the local
stack's ``baocao_admin`` from ``$BAOCAO_STACK_HOME/secrets/clickhouse.json``, else ``default``
without a password. Exit status 0 when everything matches, 1 on any difference or error.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from baocao.app.rebuild.statements import current_swap_statements  # noqa: E402
from baocao.app.views.slices import CHECKED  # noqa: E402
from baocao.sinks.clickhouse.sql import added_columns, split_statements  # noqa: E402

MIGRATIONS = REPO / "sinks" / "clickhouse" / "migrations"

FIXTURE = """
INSERT INTO provinces VALUES ('01','Hà Nội','thành phố',3), ('02','Tuyên Quang','tỉnh',2);
INSERT INTO communes VALUES ('00001','A','01','xã'), ('00002','B','01','xã'),
    ('00003','C','01','xã'), ('00004','D','02','xã'), ('00005','E','02','xã');
INSERT INTO indicators VALUES
    ('births','Sinh','Births','người','pop','sum',NULL,NULL,['monthly']),
    ('peak','Đỉnh','Peak','x','d','max',NULL,NULL,['monthly']),
    ('rate','Tỷ lệ','Rate','%','d','ratio','num','den',['monthly']),
    ('num','Tử','Numerator','x','d','sum',NULL,NULL,['monthly']),
    ('den','Mẫu','Denominator','x','d','sum',NULL,NULL,['monthly']);
INSERT INTO commune_reports (report_id, commune_code, province_code, period, revision,
    submitted_at, indicator_codes, indicator_values)
VALUES ('old','00005','02','2025-07',1,'2025-08-02 00:00:00',['births'],[7]);
INSERT INTO commune_reports (report_id, commune_code, province_code, period, revision,
    submitted_at, indicator_codes, indicator_values, report_type, first_submitted_at,
    accepted_at, deadline, on_time, amended)
VALUES ('r1','00001','01','2025-08',1,'2025-09-01 00:00:00',['births'],[1],'monthly',
        '2025-09-01 00:00:00','2025-09-01 00:00:00','2025-09-05 16:59:59',1,0);
INSERT INTO commune_reports (report_id, commune_code, province_code, period, revision,
    submitted_at, indicator_codes, indicator_values, report_type, first_submitted_at,
    accepted_at, deadline, on_time, amended)
VALUES ('r2','00001','01','2025-08',2,'2025-09-09 00:00:00',['births'],[2],'monthly',
        '2025-09-01 00:00:00','2025-09-09 00:00:00','2025-09-05 16:59:59',1,0),
       ('r3','00004','02','2025-08',1,'2025-09-07 00:00:00',['births'],[5],'monthly',
        '2025-09-07 00:00:00','2025-09-07 00:00:00','2025-09-05 16:59:59',0,0);
INSERT INTO reporting_periods (report_type, period, starts_at, ends_at, deadline, locks_at,
    announced_at)
VALUES ('monthly','2025-08','2025-07-31 17:00:00','2025-08-31 17:00:00','2025-09-05 16:59:59',
        '2025-10-05 16:59:59','2025-09-03 00:00:00'),
       ('daily','2099-01-01','2098-12-31 17:00:00','2099-01-01 17:00:00','2099-01-02 16:59:59',
        '2099-02-01 16:59:59','2099-01-01 00:00:00');
INSERT INTO province_completeness_values (province_code, report_type, period, deadline,
    communes_expected, communes_reported, communes_on_time, communes_late, version, updated_at)
VALUES ('01','monthly','2025-08','2025-09-05 16:59:59',3,1,1,0,2,'2025-09-09 00:00:00'),
       ('01','monthly','2025-08','2025-09-05 16:59:59',3,1,0,0,1,'2025-09-01 00:00:00'),
       ('02','monthly','2025-08','2025-09-05 16:59:59',2,1,0,1,1,'2025-09-07 00:00:00'),
       ('02','weekly','2025-W35','2025-09-02 16:59:59',2,2,2,0,1,'2025-09-01 00:00:00');
INSERT INTO province_indicator_values (province_code, period, indicator_code, value, numerator,
    denominator, communes_reported, version, updated_at)
VALUES ('02','2025-07','births',7,NULL,NULL,1,1,'2025-08-02 00:00:00');
INSERT INTO province_indicator_values (province_code, period, indicator_code, value, numerator,
    denominator, communes_reported, version, updated_at, report_type, deadline,
    communes_with_warnings, communes_amended)
VALUES ('01','2025-08','births',1,NULL,NULL,1,1,'2025-09-01 00:00:00','monthly',
        '2025-09-05 16:59:59',0,0),
       ('01','2025-08','births',2,NULL,NULL,1,2,'2025-09-09 00:00:00','monthly',
        '2025-09-05 16:59:59',1,0),
       ('02','2025-08','births',5,NULL,NULL,1,1,'2025-09-07 00:00:00','monthly',
        '2025-09-05 16:59:59',0,0),
       ('01','2025-08','rate',0.9,9,10,1,2,'2025-09-09 00:00:00','monthly',
        '2025-09-05 16:59:59',0,0),
       ('02','2025-08','rate',0.1,10,100,1,1,'2025-09-07 00:00:00','monthly',
        '2025-09-05 16:59:59',0,0),
       ('01','2025-08','peak',3,NULL,NULL,1,2,'2025-09-09 00:00:00','monthly',
        '2025-09-05 16:59:59',0,0),
       ('02','2025-08','peak',8,NULL,NULL,1,1,'2025-09-07 00:00:00','monthly',
        '2025-09-05 16:59:59',0,0),
       ('01','2099-01-01','births',1,NULL,NULL,1,1,'2099-01-01 00:00:00','daily',
        '2099-01-02 16:59:59',0,0);
INSERT INTO approvals (approval_id, province_code, report_type, period, approved_by,
    approved_at, note)
VALUES ('ap2','02','monthly','2025-08','lan','2025-09-12 00:00:00','again'),
       ('ap1','02','monthly','2025-08','minh','2025-09-10 00:00:00',NULL);
INSERT INTO approval_decisions (approval_id, province_code, report_type, period, action,
    commune_code, actor, acted_at, note, outcome, reason_code, reason_en, reason_vi, state,
    version, decided_at)
VALUES ('d1','01','monthly','2025-08','return','00001','o01-1','2025-09-10 00:00:00','sai',
        'applied',NULL,NULL,NULL,'open',1,'2025-09-10 00:00:00'),
       ('d2','01','monthly','2025-08','approve',NULL,'o01-1','2025-09-11 00:00:00',NULL,
        'applied',NULL,NULL,NULL,'approved',2,'2025-09-11 00:00:00'),
       ('d3','01','monthly','2025-08','unapprove',NULL,'o01-2','2025-09-12 00:00:00','lý do',
        'applied',NULL,NULL,NULL,'open',3,'2025-09-12 00:00:00'),
       ('d4','01','monthly','2025-08','accept',NULL,'n-1','2025-09-13 00:00:00',NULL,
        'refused','not_approved','en','vi','open',3,'2025-09-13 00:00:00');
INSERT INTO province_indicator_changes (province_code, report_type, period, indicator_code,
    version, value, previous_value, known_at, cause_commune_codes, cause_report_ids,
    cause_revisions, cause_previous_values, cause_values)
VALUES ('01','monthly','2025-08','births',1,1,NULL,'2025-09-01 00:00:00',['00001'],['r1'],[1],
        [NULL],[1]),
       ('01','monthly','2025-08','births',2,2,1,'2025-09-09 00:00:00',['00001'],['r2'],[2],
        [1],[2]);
INSERT INTO report_warnings_log (warning_id, report_id, commune_code, province_code,
    report_type, period, revision, rule_code, indicator_code, value, reference_value,
    message_en, message_vi, raised_at)
VALUES ('r1|far|births','r1','00001','01','monthly','2025-08',1,'far_from_history','births',1,
        100,'en','vi','2025-09-01 00:00:00'),
       ('r2|far|births','r2','00001','01','monthly','2025-08',2,'far_from_history','births',2,
        100,'en2','vi2','2025-09-09 00:00:00');
INSERT INTO reporting_exemptions VALUES ('00003','monthly','no administration on site');
INSERT INTO reporting_obligations (obligation_id, commune_code, province_code, report_type,
    action, starts_on, ends_on, reason, recorded_by, recorded_at)
VALUES ('o1','00005','02','monthly','set',NULL,NULL,'due','t','2025-09-01 00:00:00'),
       ('o2','00005','02','monthly','end',NULL,'2025-07-31','merged','t','2025-09-02 00:00:00'),
       ('o3','00002','01','daily','set','2099-02-01',NULL,'later','t','2025-09-01 00:00:00');
INSERT INTO legacy_communes VALUES ('90001','Old X','xã','900','District','90','Old province'),
    ('90002','Old Y','phường','900','District','90','Old province');
INSERT INTO commune_lineage VALUES ('90001','00001',0.25,'split_by_area',0),
    ('90001','00002',0.75,'split_by_area',1), ('90002','00002',1,'whole',1);
INSERT INTO commune_reports (report_id, commune_code, province_code, period, revision,
    submitted_at, indicator_codes, indicator_values)
VALUES ('l1','L90001','01','2024-08',1,'2024-09-01 00:00:00',['births'],[4]),
       ('l2','L90002','01','2024-08',1,'2024-09-01 00:00:00',['births'],[6]),
       ('n2','00002','01','2024-08',1,'2024-09-02 00:00:00',['births'],[9]);
"""

#: Each view read in a stable order.
VIEWS = {
    "province_indicators": "ORDER BY province_code, period, indicator_code",
    "commune_indicators": "ORDER BY commune_code, period, indicator_code",
    "latest_commune_reports": "ORDER BY commune_code, period",
    "rejected_reports": "ORDER BY rejection_id, reason_code",
    "province_completeness": "ORDER BY report_type, period, province_code",
    "national_completeness": "ORDER BY report_type, period",
    "missing_reports": "ORDER BY period, commune_code",
    "unit_obligations": "ORDER BY commune_code, report_type",
    "units_not_due": "ORDER BY commune_code, report_type, period",
    "national_indicators": "ORDER BY report_type, period, indicator_code",
    "province_indicator_history": "ORDER BY province_code, indicator_code, version",
    "report_warnings": "ORDER BY warning_id",
    "period_approvals": "ORDER BY province_code, report_type, period",
    "legacy_reports": "ORDER BY legacy_code, commune_code",
    "indicator_comparisons": "ORDER BY province_code, report_type, period, indicator_code",
    "division_type_completeness": "ORDER BY province_code, division_type, report_type, period",
    "division_type_indicators": "ORDER BY province_code, division_type, period, indicator_code",
    "national_division_type_completeness": "ORDER BY division_type, report_type, period",
    "national_division_type_indicators": "ORDER BY division_type, period, indicator_code",
    "national_indicator_comparisons": "ORDER BY report_type, period, indicator_code",
    "approval_audit": "ORDER BY province_code, approval_id",
    "returned_reports": "ORDER BY province_code, commune_code",
    "commune_receipts": "ORDER BY commune_code, period",
}

#: Rows (tab-separated, as both engines print them) that must be in each view's answer.
EXPECTED = {
    "province_indicators": [
        "01\tHà Nội\t2025-08\tbirths\t2\t1\t3\t2025-09-09 00:00:00\tmonthly"
        "\t2025-09-05 16:59:59\tfinal\t1\t0",
        "01\tHà Nội\t2099-01-01\tbirths\t1\t1\t3\t2099-01-01 00:00:00\tdaily"
        "\t2099-01-02 16:59:59\tprovisional\t0\t0",
        "02\tTuyên Quang\t2025-07\tbirths\t7\t1\t2\t2025-08-02 00:00:00\tmonthly\t\\N"
        "\tprovisional\t0\t0",
        "02\tTuyên Quang\t2025-08\tbirths\t5\t1\t2\t2025-09-07 00:00:00\tmonthly"
        "\t2025-09-05 16:59:59\tapproved\t0\t0",
    ],
    "commune_indicators": [
        "00005\tE\t02\t2025-07\tbirths\t7\t1\t2025-08-02 00:00:00\tmonthly\t\\N\t0",
    ],
    "latest_commune_reports": [
        "r2\t00001\t01\t2025-08\t2\t2025-09-09 00:00:00\tmonthly\t['births']\t[2]",
    ],
    "national_indicators": [
        "2025-08\trate\t0.17272727272727273\t2\t2\t5\tmonthly\t2025-09-05 16:59:59\tfinal",
        "2025-08\tbirths\t7\t2\t2\t5\tmonthly\t2025-09-05 16:59:59\tfinal",
        "2025-08\tpeak\t8\t2\t2\t5\tmonthly\t2025-09-05 16:59:59\tfinal",
    ],
    "province_completeness": [
        "02\tdaily\t2099-01-01\t2\t0\t0\t0\t2\t0\t0\t2099-01-02 16:59:59\tTuyên Quang\tprovisional",
        # Not counted by the worker: Hà Nội's 3 units less 00002, not due before February.
        "01\tdaily\t2099-01-01\t2\t0\t0\t0\t2\t0\t0\t2099-01-02 16:59:59\tHà Nội\tprovisional",
        "01\tmonthly\t2025-08\t3\t1\t1\t0\t2\t33.3\t33.3\t2025-09-05 16:59:59\tHà Nội\tfinal",
        "02\tmonthly\t2025-08\t2\t1\t0\t1\t1\t50\t0\t2025-09-05 16:59:59\tTuyên Quang\tapproved",
        "01\tweekly\t2025-W35\t3\t0\t0\t0\t3\t0\t0\t2025-09-02 16:59:59\tHà Nội\tfinal",
    ],
    "national_completeness": [
        "monthly\t2025-08\t5\t2\t1\t1\t3\t40\t20\t2025-09-05 16:59:59\t0\t1\tfinal",
    ],
    # 00005's monthly obligation ended on 31 July (its latest event); 00002's daily one
    # starts in February 2099; 00003 is exempt from monthly reports by default.
    "missing_reports": [
        "01\t00002\tB\tmonthly\t2025-08\t2025-09-05 16:59:59\t1",
        "01\t00001\tA\tdaily\t2099-01-01\t2099-01-02 16:59:59\t0",
    ],
    "unit_obligations": [
        "00002\t01\tdaily\tset\t2099-02-01\t\\N\tlater\tt\t2025-09-01 00:00:00",
        "00003\t01\tmonthly\texempt\t\\N\t\\N\tno administration on site\tdefault\t\\N",
        "00005\t02\tmonthly\tend\t\\N\t2025-07-31\tmerged\tt\t2025-09-02 00:00:00",
    ],
    "units_not_due": [
        "00002\t01\tdaily\t2099-01-01",
        "00003\t01\tmonthly\t2025-08",
        "00005\t02\tmonthly\t2025-08",
    ],
    "report_warnings": [
        "r2|far|births\tr2\t00001\tA\t01\tmonthly\t2025-08\t2\tfar_from_history\tbirths\t2\t100"
        "\ten2\tvi2\t2025-09-09 00:00:00",
    ],
    "period_approvals": [
        # Approved before the worker decided steps: the earliest approval, state approved.
        "02\tmonthly\t2025-08\tminh\t2025-09-10 00:00:00\t\\N\tTuyên Quang\tap1\t2\tapproved",
    ],
    # Issue 19: approved, then unapproved (01 is not in period_approvals: its only row is 02),
    # a refused acceptance kept with its reason, and a send-back still open.
    "approval_audit": [
        "01\tHà Nội\tmonthly\t2025-08\td4\taccept\t\\N\tn-1\t2025-09-13 00:00:00\t\\N"
        "\trefused\tnot_approved\ten\tvi\topen\t3",
    ],
    "returned_reports": [
        "01\tmonthly\t2025-08\t00001\tsai\to01-1\t2025-09-10 00:00:00",
    ],
    "division_type_completeness": [
        "01\txã\tmonthly\t2025-08\t2\t1\t50",
    ],
    # Less 00003 (exempt by default) and 00005 (its obligation ended in July).
    "national_division_type_completeness": [
        "xã\tmonthly\t2025-08\t3\t2\t66.7",
    ],
    "division_type_indicators": [
        "01\txã\tmonthly\t2025-08\tbirths\t2\t1",
    ],
    "national_division_type_indicators": [
        "xã\tmonthly\t2025-08\tbirths\t7\t2",
    ],
    "indicator_comparisons": [
        "01\tmonthly\t2025-08\tbirths\tsum\t2\t\\N\t2\t\\N\t\\N\t\\N",
        "02\tmonthly\t2025-08\tbirths\tsum\t5\t\\N\t12\t\\N\t\\N\t\\N",
    ],
    "national_indicator_comparisons": [
        "monthly\t2025-08\trate\tratio\t0.17272727272727273\t\\N\t0.17272727272727273"
        "\t\\N\t\\N\t\\N",
    ],
    "legacy_reports": [
        "L90001\tOld X\t00001\tA\t01\t2024-08\t1\t0.25\tsplit_by_area\t0\t1\t0",
        "L90001\tOld X\t00002\tB\t01\t2024-08\t1\t0.75\tsplit_by_area\t1\t1\t1",
        "L90002\tOld Y\t00002\tB\t01\t2024-08\t1\t1\twhole\t1\t0\t1",
    ],
}

AS_OF = (
    "SELECT argMax(tuple(value), version).1 FROM province_indicator_history"
    " WHERE province_code = '01' AND period = '2025-08' AND indicator_code = 'births'"
    " AND known_at <= '2025-09-05 00:00:00'"
)

#: The filters the slices are read with (province, report type, period, commune).
SLICED = (
    {"c": "01", "t": "monthly", "p": "2025-08", "u": "00001"},
    {"c": "02", "t": "monthly", "p": "2025-08", "u": "00004"},
    {"c": "02", "t": "monthly", "p": "2025-07", "u": "00005"},
    {"c": "01", "t": "monthly", "p": "2024-08", "u": "00002"},
    {"c": "01", "t": "weekly", "p": "2025-W35", "u": "00001"},
    {"c": "01", "t": "daily", "p": "2099-01-01", "u": "00001"},
)

Query = Callable[[str], str]


@dataclass(frozen=True)
class Engine:
    """A ClickHouse to check: its name, how to run one statement, how to clean up."""

    name: str
    query: Query
    close: Callable[[], object]


def chdb_engine() -> Engine:
    from chdb import session  # only this script needs chdb

    folder = tempfile.mkdtemp(prefix="baocao-chdb-")
    sess = session.Session(folder)
    sess.query("CREATE DATABASE baocao_check")
    sess.query("USE baocao_check")
    version = str(sess.query("SELECT version()", "TSV")).strip()
    return Engine(
        f"ClickHouse {version} (chdb)",
        lambda sql: str(sess.query(sql, "TSV")).strip(),
        lambda: shutil.rmtree(folder, ignore_errors=True),
    )


def server_login() -> tuple[str, str]:
    """The login for ``--server``: BAOCAO_CLICKHOUSE_USER/_PASSWORD when set, else the local
    stack's administrator from its home (every login of the stack has a password; ``default``
    is locked), else ``default`` without a password (a server the stack did not configure)."""
    user = os.environ.get("BAOCAO_CLICKHOUSE_USER") or ""
    password = os.environ.get("BAOCAO_CLICKHOUSE_PASSWORD", "")
    if user:
        return user, password
    home = Path(os.environ.get("BAOCAO_STACK_HOME") or ".baocao").absolute()
    try:
        logins = json.loads((home / "secrets" / "clickhouse.json").read_text(encoding="utf-8"))
        return "baocao_admin", str(logins["users"]["baocao_admin"])
    except (OSError, ValueError, KeyError):
        return "default", password


def server_engine(url: str, user: str, password: str) -> Engine:
    database = f"baocao_check_{uuid.uuid4().hex[:8]}"
    login = {"X-ClickHouse-User": user, "X-ClickHouse-Key": password}

    def post(sql: str, db: str | None) -> str:
        params = {"database": db} if db else {}
        address = f"{url.rstrip('/')}/?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(
            address, data=sql.encode("utf-8"), headers=login, method="POST"
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return str(response.read().decode("utf-8")).strip()

    post(f"CREATE DATABASE {database}", None)
    version = post("SELECT version()", None)

    def query(sql: str) -> str:
        if sql.lstrip().upper().startswith(("SELECT", "DESCRIBE")):
            sql = f"{sql} FORMAT TabSeparated"
        return post(sql, database)

    return Engine(
        f"ClickHouse {version} at {url}",
        query,
        lambda: post(f"DROP DATABASE IF EXISTS {database}", None),
    )


def migrate(query: Query) -> int:
    """Apply every migration, then all of them again; return the statements run."""
    count = 0
    for _ in range(2):
        for path in sorted(MIGRATIONS.glob("*.sql")):
            for statement in split_statements(path.read_text(encoding="utf-8")):
                addition = added_columns(statement)
                if addition is not None:
                    existing = set(
                        query(
                            "SELECT name FROM system.columns WHERE database = currentDatabase()"
                            f" AND table = '{addition.table}'"
                        ).splitlines()
                    )
                    if set(addition.columns) <= existing:
                        continue
                try:
                    query(statement)
                except Exception as exc:
                    raise SystemExit(f"{path.name}: {statement.splitlines()[0]}: {exc}") from exc
                count += 1
    return count


def read_views(query: Query) -> dict[str, tuple[str, str]]:
    """Each view's columns with types, and its rows."""
    answers = {}
    for view, order in VIEWS.items():
        columns = "\n".join(
            "\t".join(line.split("\t")[:2]) for line in query(f"DESCRIBE TABLE {view}").splitlines()
        )
        answers[view] = (columns, query(f"SELECT * FROM {view} {order}"))
    answers["as_of"] = ("", query(AS_OF))
    return answers


def read_slices(query: Query) -> dict[str, tuple[str, str]]:
    """Each slice's rows and its view's, sorted, per filter of :data:`SLICED`."""
    answers = {}
    for checked in CHECKED:
        for values in SLICED:
            literal = {key: f"'{value}'" for key, value in values.items()}
            where = checked.where % literal
            key = f"slice {checked.view} {checked.cut} {values}"
            viewed = query(f"SELECT * FROM {checked.view} WHERE {where}")
            answers[key] = (
                "\n".join(sorted(query(checked.sql() % literal).splitlines())),
                "\n".join(sorted(viewed.splitlines())),
            )
    return answers


def check(name: str, answers: dict[str, tuple[str, str]]) -> list[str]:
    problems = []
    for view, rows in EXPECTED.items():
        lines = answers[view][1].splitlines()
        problems += [f"{name}: {view} lacks {row!r}" for row in rows if row not in lines]
    if answers["as_of"][1] != "1":
        problems.append(f"{name}: the as-of query answered {answers['as_of'][1]!r}, not 1")
    for key, (sliced, viewed) in answers.items():
        if key.startswith("slice ") and sliced != viewed:
            problems.append(f"{name}: {key} answers\n    {sliced}\n  its view\n    {viewed}")
    return problems


def run(engine: Engine) -> dict[str, tuple[str, str]]:
    try:
        statements = migrate(engine.query)
        for statement in split_statements(FIXTURE):
            engine.query(statement)
        print(f"{engine.name}: every migration applied twice ({statements} statements run)")
        return read_views(engine.query) | read_slices(engine.query)
    finally:
        engine.close()


def check_swap(query: Query) -> list[str]:
    """``baocao rebuild swap``'s statements for a current ClickHouse, in chdb: two migrated
    databases, the fixture in the rebuilt one only; afterwards the live database's views must
    answer the fixture, and the backup hold the live database's old (empty) tables. Leaves
    the session in ``baocao_check`` (chdb runs one server per process)."""
    try:
        for database in ("swap_live", "swap_rebuilt"):
            query(f"CREATE DATABASE {database}")
            query(f"USE {database}")
            migrate(query)
        for statement in split_statements(FIXTURE):
            query(statement)  # into `swap_rebuilt`, the database in use
        listed = (
            "SELECT name FROM system.tables WHERE database = 'swap_rebuilt' AND engine {} 'View'"
        )
        tables = query(listed.format("!=") + " ORDER BY name").splitlines()
        views = query(listed.format("=") + " ORDER BY name").splitlines()
        statements = current_swap_statements(
            "swap_live", "swap_rebuilt", "swap_before", tables, views
        )
        for statement in statements:
            query(statement)
        query("USE swap_live")
        problems = check("rebuild swap (chdb)", read_views(query))
        if query("SELECT count() FROM swap_before.commune_reports") != "0":
            problems.append("rebuild swap (chdb): the backup holds rows it did not have")
        if query("SELECT count() FROM system.databases WHERE name = 'swap_rebuilt'") != "0":
            problems.append("rebuild swap (chdb): the rebuilt database is still there")
        if not problems:
            print(f"rebuild swap (chdb): {len(tables)} tables exchanged, the live views read them")
        return problems
    finally:
        query("USE baocao_check")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", help="also run on this server's HTTP interface and compare")
    options = parser.parse_args()

    current_engine = chdb_engine()
    problems = check_swap(current_engine.query)
    current = run(current_engine)
    problems += check(current_engine.name, current)
    if options.server:
        server = server_engine(
            options.server,
            *server_login(),
        )
        other = run(server)
        problems += check(server.name, other)
        for view in current:
            for part, mine, theirs in zip(
                ("columns", "rows"), current[view], other[view], strict=True
            ):
                if mine != theirs:
                    problems.append(
                        f"{view}: {part} differ\n  {current_engine.name}:\n    {mine}"
                        f"\n  {server.name}:\n    {theirs}"
                    )
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    same = " and identically" if options.server else ""
    print(
        f"OK: {len(VIEWS)} views answer as expected{same}; {len(CHECKED)} read-model slices"
        f" answer what their views answer, for {len(SLICED)} filters each"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
