"""The pure parts of BI access: names, passwords, the 18.16 files and DDL, the modern SQL."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from baocao.app.bi.access import BI_USER, AccessPlan, province_user
from baocao.app.bi.apply import ServerKind, kind_of_version
from baocao.app.bi.catalog import Relation
from baocao.app.bi.credentials import (
    Credentials,
    ensure_credentials,
    read_credentials,
    sha256_hex,
)
from baocao.app.bi.exceptions import BiApplyError, CredentialsError, UnsupportedServerError
from baocao.app.bi.legacy import mart_of, plan_marts, point_at, references
from baocao.app.bi.modern import grant_statements
from baocao.app.stack.clickhouse_access import users_config_xml
from baocao.core.reference import load_reference

PLAN = AccessPlan(database="baocao", provinces=("01", "79"))
CREDENTIALS = Credentials({user: f"pw-{user}" for user in PLAN.all_users()})
FIGURES = (("province_code", "String"), ("period", "String"), ("value", "Nullable(Float64)"))


VIEW_SQL = (
    "CREATE VIEW baocao.province_indicators (province_code String, period String, value"
    " Nullable(Float64)) AS SELECT province_code, period, value FROM"
    " baocao.province_indicator_values FINAL ANY LEFT JOIN (SELECT province_code FROM"
    " baocao.provinces) AS names USING (province_code)"
)


def view(
    name: str, columns: tuple[tuple[str, str], ...] = FIGURES, *, sql: str = VIEW_SQL
) -> Relation:
    return Relation(name=name, engine="View", engine_full="", columns=columns, create_query=sql)


def table(
    name: str, columns: tuple[tuple[str, str], ...] = FIGURES, *, engine: str = "MergeTree"
) -> Relation:
    return Relation(name=name, engine=engine, engine_full=f"{engine} ...", columns=columns)


SOURCE = [
    view("province_indicators"),
    view(
        "national_indicators",
        (("period", "String"), ("value", "Nullable(Float64)")),
        sql="CREATE VIEW baocao.national_indicators AS SELECT period FROM baocao.poison",
    ),
    table("province_indicator_values", engine="ReplacingMergeTree"),
    table("provinces", (("province_code", "String"), ("province_name", "String"))),
    table("sink_poison_messages", (("error", "String"),)),
]


def test_names_follow_the_province_codes() -> None:
    plan = AccessPlan.for_reference("baocao", load_reference())
    assert len(plan.provinces) == 34
    assert plan.province_users()["01"] == "baocao_p01"
    assert plan.province_database("79") == "baocao_p79"
    assert plan.feed_database == "baocao_bi_feed"
    assert plan.login_users()[0] == BI_USER
    # No internal account; the dashboard's province logins are not handed to BI tools.
    assert plan.dashboard_users()["01"] == "baocao_dash_p01"
    assert plan.all_users() == (*plan.login_users(), *plan.dashboard_users().values())


@pytest.mark.parametrize("database", ["bao-cao", "1db", "x; DROP", ""])
def test_a_database_name_that_would_need_quoting_is_refused(database: str) -> None:
    with pytest.raises(ValueError, match="not a plain identifier"):
        AccessPlan(database=database, provinces=("01",))


@pytest.mark.parametrize("code", ["1", "001", "a1", "01'"])
def test_a_province_code_must_be_two_digits(code: str) -> None:
    with pytest.raises(ValueError, match="two digits"):
        province_user(code)
    with pytest.raises(ValueError):
        AccessPlan(database="baocao", provinces=(code,))


def test_passwords_are_generated_once_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "home" / "bi" / "credentials.json"
    first = ensure_credentials(path, PLAN.all_users())
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert len({first.password(user) for user in PLAN.all_users()}) == len(PLAN.all_users())
    assert all(len(first.password(user)) >= 40 for user in PLAN.all_users())
    before = path.read_text()
    again = ensure_credentials(path, PLAN.all_users())
    assert again == first and path.read_text() == before
    # One more user later: only that one is added.
    more = ensure_credentials(path, [*PLAN.all_users(), "baocao_p02"])
    assert {u: more.password(u) for u in PLAN.all_users()} == dict(first.passwords)


def test_a_password_from_the_environment_wins_and_is_not_stored(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    credentials = ensure_credentials(path, PLAN.all_users(), overrides={BI_USER: "from-env"})
    assert credentials.password(BI_USER) == "from-env"
    assert BI_USER not in json.loads(path.read_text())["users"]
    assert "from-env" not in path.read_text()
    assert read_credentials(path, overrides={BI_USER: "x"}).password(BI_USER) == "x"
    with pytest.raises(CredentialsError, match="baocao stack up"):
        read_credentials(path).password(BI_USER)


def test_a_malformed_credentials_file_is_an_error_with_a_way_out(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text('{"users": {"baocao_bi": ""}}')
    with pytest.raises(CredentialsError, match="move it away"):
        ensure_credentials(path, PLAN.all_users())


def test_users_file_holds_digests_profiles_and_allowed_databases() -> None:
    text = users_config_xml(PLAN, CREDENTIALS)
    root = ET.fromstring(text.split("\n", 2)[2])
    assert root.tag == "yandex"
    profile = root.find("profiles/baocao_bi")
    assert profile is not None
    assert profile.findtext("readonly") == "1"
    assert profile.findtext("allow_ddl") == "0"
    assert profile.findtext("max_execution_time") == "60"
    assert profile.findtext("max_concurrent_queries_for_user") == "4"
    assert profile.findtext("max_memory_usage") == "2000000000"
    dashboard = root.find("profiles/baocao_dashboard")
    assert dashboard is not None and dashboard.findtext("readonly") == "1"
    assert dashboard.findtext("log_queries") == "1"
    users = {user.tag: user for user in root.findall("users/*")}
    assert list(users) == [
        BI_USER,
        "baocao_p01",
        "baocao_p79",
        "baocao_dash_p01",
        "baocao_dash_p79",
    ]
    allowed = {
        name: [db.text for db in user.findall("allow_databases/database")]
        for name, user in users.items()
    }
    assert allowed == {
        BI_USER: ["baocao"],
        "baocao_p01": ["baocao_p01"],
        "baocao_p79": ["baocao_p79"],
        "baocao_dash_p01": ["baocao_p01"],
        "baocao_dash_p79": ["baocao_p79"],
    }
    for name, user in users.items():
        assert user.findtext("password_sha256_hex") == sha256_hex(f"pw-{name}")
        profile_name = "baocao_dashboard" if "_dash_" in name else "baocao_bi"
        assert user.findtext("profile") == profile_name
        assert [ip.text for ip in user.findall("networks/ip")] == ["127.0.0.1", "::1"]
        assert f"pw-{name}" not in text
    assert "<default>" not in text  # the locked default user lives in users.xml


def test_view_queries_are_read_and_moved_by_database() -> None:
    assert references(VIEW_SQL, "baocao") == {"province_indicator_values", "provinces"}
    moved = point_at(VIEW_SQL, "baocao", "baocao_p01")
    assert moved.startswith("CREATE VIEW baocao_p01.province_indicators (")
    assert "FROM baocao_p01.province_indicator_values FINAL" in moved
    assert "baocao." not in moved
    # A database whose name ends like another is not touched.
    assert point_at("SELECT 1 FROM xbaocao.t, baocao.t", "baocao", "p") == (
        "SELECT 1 FROM xbaocao.t, p.t"
    )


def test_a_province_database_holds_copies_of_what_its_views_read_and_nothing_else() -> None:
    mart = mart_of(PLAN, SOURCE)
    assert [t.name for t in mart.feeds] == ["province_indicator_values"]
    assert [t.name for t in mart.snapshots] == ["provinces"]
    assert mart.published() == ("province_indicators",)
    statements = plan_marts(PLAN, SOURCE, existing={})
    assert statements[0] == "CREATE DATABASE IF NOT EXISTS `baocao_bi_feed`"
    assert (
        "CREATE MATERIALIZED VIEW `baocao_bi_feed`.`p79__province_indicator_values`"
        " TO `baocao_p79`.`province_indicator_values` AS SELECT `province_code`, `period`,"
        " `value` FROM `baocao`.`province_indicator_values` WHERE province_code = '79'"
    ) in statements
    assert (
        "INSERT INTO `baocao_p01`.`provinces` (`province_code`, `province_name`) SELECT"
        " `province_code`, `province_name` FROM `baocao`.`provinces` WHERE province_code = '01'"
    ) in statements
    assert point_at(VIEW_SQL, "baocao", "baocao_p01") in statements
    # The views of a province database read nothing but that database.
    for statement in statements:
        if statement.startswith("CREATE VIEW"):
            assert references(statement, "baocao") == set(), statement
    assert not [s for s in statements if "national" in s or "poison" in s]


def test_a_province_view_over_a_private_table_is_refused() -> None:
    leaky = view(
        "province_leak",
        sql="CREATE VIEW baocao.province_leak AS SELECT * FROM baocao.sink_poison_messages",
    )
    with pytest.raises(BiApplyError, match="sink_poison_messages"):
        plan_marts(PLAN, [*SOURCE, leaky], existing={})


def test_province_databases_change_only_what_changed() -> None:
    first = plan_marts(PLAN, SOURCE, existing={})
    values, provinces = SOURCE[2], SOURCE[3]
    existing = {
        "baocao_bi_feed": [
            Relation(f"p{code}__province_indicator_values", "MaterializedView", "", FIGURES)
            for code in PLAN.provinces
        ],
        **{
            PLAN.province_database(code): [
                values,
                provinces,
                view("province_indicators", sql=point_at(VIEW_SQL, "baocao", f"baocao_p{code}")),
            ]
            for code in PLAN.provinces
        },
    }
    assert first and plan_marts(PLAN, SOURCE, existing) == []
    # A column added to a main table: its copy and feed are rebuilt and refilled, nothing else.
    wider = table("province_indicator_values", (*FIGURES, ("status", "String")))
    wider = Relation(wider.name, "ReplacingMergeTree", "ReplacingMergeTree ...", wider.columns)
    changed = plan_marts(PLAN, [SOURCE[0], wider, provinces], existing)
    assert [s.split(" AS ")[0].split(" (")[0] for s in changed] == [
        stmt
        for code in PLAN.provinces
        for stmt in (
            f"DROP TABLE IF EXISTS `baocao_bi_feed`.`p{code}__province_indicator_values`",
            f"DROP TABLE IF EXISTS `baocao_p{code}`.`province_indicator_values`",
            f"CREATE TABLE `baocao_p{code}`.`province_indicator_values`",
            f"CREATE MATERIALIZED VIEW `baocao_bi_feed`.`p{code}__province_indicator_values`"
            f" TO `baocao_p{code}`.`province_indicator_values`",
            f"INSERT INTO `baocao_p{code}`.`province_indicator_values`",
        )
    ]
    # The first release's relay and its Distributed tables are replaced.
    old = {
        "baocao_bi_relay": [],
        "baocao_p01": [Relation("province_indicators", "Distributed", "Distributed(...)", FIGURES)],
    }
    upgrade = plan_marts(PLAN, SOURCE, old)
    assert upgrade[0] == "DROP DATABASE IF EXISTS `baocao_bi_relay`"
    assert "DROP TABLE IF EXISTS `baocao_p01`.`province_indicators`" in upgrade


def test_modern_sql_grants_filters_and_hides_the_passwords() -> None:
    statements = grant_statements(PLAN, SOURCE, CREDENTIALS)
    text = "\n".join(statements)
    for user in PLAN.login_users():
        assert f"pw-{user}" not in text
        assert f"IDENTIFIED WITH sha256_hash BY '{sha256_hex(f'pw-{user}')}'" in text
    assert "readonly = 2" in statements[0] and "max_execution_time = 60 MAX 60" in statements[0]
    assert "GRANT SELECT ON `baocao`.* TO baocao_bi_reader" in statements
    assert "GRANT baocao_bi_reader TO baocao_bi" in statements
    for relation in ("province_indicators", "province_indicator_values"):
        assert f"GRANT SELECT ON `baocao`.`{relation}` TO baocao_p01" in statements
        assert (
            f"CREATE ROW POLICY OR REPLACE baocao_p79 ON `baocao`.`{relation}` AS PERMISSIVE"
            f" FOR SELECT USING province_code = '79' TO baocao_p79"
        ) in statements
        assert (
            f"CREATE ROW POLICY OR REPLACE baocao_unrestricted ON `baocao`.`{relation}` AS"
            " PERMISSIVE FOR SELECT USING 1 TO ALL EXCEPT baocao_p01, baocao_p79"
        ) in statements
    # Relations without a province column are not granted to province users at all.
    assert not [s for s in statements if "baocao_p" in s and ("national" in s or "poison" in s)]


@pytest.mark.parametrize(
    ("version", "kind"),
    [((18, 16), ServerKind.LEGACY), ((19, 17), ServerKind.LEGACY), ((25, 8), ServerKind.MODERN)],
)
def test_the_server_version_picks_the_mechanism(version: tuple[int, int], kind: ServerKind) -> None:
    assert kind_of_version(version) is kind


def test_an_early_access_management_release_is_refused() -> None:
    with pytest.raises(UnsupportedServerError, match="21 and later"):
        kind_of_version((20, 8))


def test_grafana_password_files_hold_one_province_login_each(tmp_path: Path) -> None:
    from baocao.app.bi.grafana import province_datasources_yaml, write_password_files

    written = write_password_files(tmp_path / "secrets", PLAN, CREDENTIALS)
    assert [path.name for path in written] == ["baocao_p01", "baocao_p79"]
    for path in written:
        assert path.read_text() == f"pw-{path.name}"
        assert path.stat().st_mode & 0o777 == 0o644
    text = province_datasources_yaml(PLAN, secrets_dir="/s")
    assert "password: $__file{/s/baocao_p79}" in text and "pw-" not in text
    assert "username: baocao_p01" in text and BI_USER not in text.replace("baocao_bi_", "")


def test_the_system_table_statements_keep_query_texts_from_the_bi_logins() -> None:
    from baocao.app.bi.modern import system_table_statements

    statements = system_table_statements(PLAN)
    assert statements[:2] == [
        "REVOKE SELECT ON system.processes FROM baocao_bi_reader, baocao_p01, baocao_p79",
        "REVOKE SELECT ON system.query_log FROM baocao_bi_reader, baocao_p01, baocao_p79",
    ]
    granted = " ".join(statements[2:])
    assert "system.tables" in granted and "processes" not in granted and "query_log" not in granted


def test_on_replicas_a_feed_copy_replicates_under_its_own_path_and_a_snapshot_is_local() -> None:
    zk = "'/clickhouse/tables/{{shard}}/baocao/{table}', '{{replica}}'"
    figures = Relation(
        "province_indicator_values",
        "ReplicatedReplacingMergeTree",
        f"ReplicatedReplacingMergeTree({zk.format(table='province_indicator_values')}, version)"
        " ORDER BY (province_code, period)",
        FIGURES,
    )
    decisions = Relation(
        "approval_decisions",
        "ReplicatedMergeTree",
        f"ReplicatedMergeTree({zk.format(table='approval_decisions')}) ORDER BY province_code",
        FIGURES,
    )
    reads_both = view(
        "province_indicators",
        sql=VIEW_SQL.replace("baocao.provinces", "baocao.approval_decisions"),
    )
    source = [reads_both, figures, decisions]
    mart = mart_of(PLAN, source)
    assert [t.name for t in mart.feeds] == ["province_indicator_values"]
    assert [t.name for t in mart.snapshots] == ["approval_decisions"]
    statements = plan_marts(PLAN, source, existing={})
    assert (
        "CREATE TABLE `baocao_p79`.`province_indicator_values` AS"
        " `baocao`.`province_indicator_values` ENGINE = ReplicatedReplacingMergeTree("
        "'/clickhouse/tables/{shard}/baocao_p79/province_indicator_values', '{replica}',"
        " version) ORDER BY (province_code, period)"
    ) in statements
    assert (
        "CREATE TABLE `baocao_p01`.`approval_decisions` AS `baocao`.`approval_decisions`"
        " ENGINE = MergeTree ORDER BY province_code"
    ) in statements
