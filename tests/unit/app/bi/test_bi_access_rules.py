"""The pure parts of BI access: names, passwords, the 18.16 files and DDL, the modern SQL."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from baocao.app.bi.access import BI_USER, RELAY_USER, AccessPlan, province_user
from baocao.app.bi.apply import ServerKind, kind_of_version
from baocao.app.bi.catalog import Relation
from baocao.app.bi.credentials import (
    Credentials,
    ensure_credentials,
    read_credentials,
    sha256_hex,
)
from baocao.app.bi.exceptions import CredentialsError, UnsupportedServerError
from baocao.app.bi.legacy import plan_marts
from baocao.app.bi.modern import grant_statements
from baocao.app.stack.clickhouse_access import cluster_config_xml, users_config_xml
from baocao.core.reference import load_reference

PLAN = AccessPlan(database="baocao", provinces=("01", "79"))
CREDENTIALS = Credentials({user: f"pw-{user}" for user in PLAN.all_users()})
FIGURES = (("province_code", "String"), ("period", "String"), ("value", "Nullable(Float64)"))


def view(name: str, columns: tuple[tuple[str, str], ...] = FIGURES) -> Relation:
    return Relation(name=name, engine="View", engine_full="View", columns=columns)


def table(name: str, columns: tuple[tuple[str, str], ...] = FIGURES) -> Relation:
    return Relation(name=name, engine="MergeTree", engine_full="MergeTree ...", columns=columns)


SOURCE = [
    view("province_indicators"),
    view("national_indicators", (("period", "String"), ("value", "Nullable(Float64)"))),
    table("province_indicator_values"),
    table("sink_poison_messages", (("error", "String"),)),
]


def test_names_follow_the_province_codes() -> None:
    plan = AccessPlan.for_reference("baocao", load_reference())
    assert len(plan.provinces) == 34
    assert plan.province_users()["01"] == "baocao_p01"
    assert plan.province_database("79") == "baocao_p79"
    assert plan.relay_database == "baocao_bi_relay"
    assert plan.login_users()[0] == BI_USER and RELAY_USER not in plan.login_users()
    assert plan.all_users()[-1] == RELAY_USER


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
    assert profile.findtext("prefer_localhost_replica") == "0"
    users = {user.tag: user for user in root.findall("users/*")}
    assert list(users) == [BI_USER, "baocao_p01", "baocao_p79", RELAY_USER]
    allowed = {
        name: [db.text for db in user.findall("allow_databases/database")]
        for name, user in users.items()
    }
    assert allowed == {
        BI_USER: ["baocao"],
        "baocao_p01": ["baocao_p01"],
        "baocao_p79": ["baocao_p79"],
        RELAY_USER: ["baocao", "baocao_bi_relay"],
    }
    for name, user in users.items():
        assert user.findtext("password_sha256_hex") == sha256_hex(f"pw-{name}")
        assert user.findtext("profile") == "baocao_bi"
        assert [ip.text for ip in user.findall("networks/ip")] == ["127.0.0.1", "::1"]
        assert f"pw-{name}" not in text
    assert "<default>" not in text  # the default user is never redefined


def test_relay_cluster_is_this_server_as_the_relay_user() -> None:
    root = ET.fromstring(cluster_config_xml(PLAN, CREDENTIALS, tcp_port=19000).split("\n", 2)[2])
    replica = root.find("remote_servers/baocao_bi_relay/shard/replica")
    assert replica is not None
    assert [(child.tag, child.text) for child in replica] == [
        ("host", "127.0.0.1"),
        ("port", "19000"),
        ("user", RELAY_USER),
        ("password", f"pw-{RELAY_USER}"),
    ]


def test_province_databases_publish_only_views_with_a_province_column() -> None:
    statements = plan_marts(PLAN, SOURCE, existing={})
    assert statements[0] == "CREATE DATABASE IF NOT EXISTS `baocao_bi_relay`"
    assert (
        "CREATE VIEW `baocao_bi_relay`.`p01__province_indicators` AS SELECT `province_code`,"
        " `period`, `value` FROM `baocao`.`province_indicators` WHERE province_code = '01'"
    ) in statements
    assert (
        "CREATE TABLE `baocao_p79`.`province_indicators` (`province_code` String, `period`"
        " String, `value` Nullable(Float64)) ENGINE = Distributed(baocao_bi_relay,"
        " baocao_bi_relay, p79__province_indicators)"
    ) in statements
    assert "CREATE DATABASE IF NOT EXISTS `baocao_p01`" in statements
    assert not [s for s in statements if "national" in s or "poison" in s or "_values" in s]
    assert len(statements) == 1 + 2 + 2 * 2  # relay db, 2 relay views, 2 x (db + table)


def test_province_databases_change_only_what_changed() -> None:
    statements = plan_marts(PLAN, SOURCE, existing={})
    relay = [
        view(f"p{code}__province_indicators") for code in PLAN.provinces
    ]  # as the server describes them
    existing = {
        "baocao_bi_relay": relay,
        **{
            PLAN.province_database(code): [
                Relation(
                    "province_indicators",
                    "Distributed",
                    f"Distributed(baocao_bi_relay, baocao_bi_relay, p{code}__province_indicators)",
                    FIGURES,
                )
            ]
            for code in PLAN.provinces
        },
    }
    assert statements and plan_marts(PLAN, SOURCE, existing) == []
    # A column added to the view: both objects of every province are rebuilt, nothing else.
    wider = (*FIGURES, ("status", "String"))
    changed = plan_marts(PLAN, [view("province_indicators", wider)], existing)
    assert [s.split(" (")[0].split(" AS ")[0] for s in changed] == [
        "DROP TABLE IF EXISTS `baocao_bi_relay`.`p01__province_indicators`",
        "CREATE VIEW `baocao_bi_relay`.`p01__province_indicators`",
        "DROP TABLE IF EXISTS `baocao_bi_relay`.`p79__province_indicators`",
        "CREATE VIEW `baocao_bi_relay`.`p79__province_indicators`",
        "DROP TABLE IF EXISTS `baocao_p01`.`province_indicators`",
        "CREATE TABLE `baocao_p01`.`province_indicators`",
        "DROP TABLE IF EXISTS `baocao_p79`.`province_indicators`",
        "CREATE TABLE `baocao_p79`.`province_indicators`",
    ]
    # A view that disappeared is dropped from every province.
    assert plan_marts(PLAN, [], existing) == [
        "DROP TABLE IF EXISTS `baocao_bi_relay`.`p01__province_indicators`",
        "DROP TABLE IF EXISTS `baocao_bi_relay`.`p79__province_indicators`",
        "DROP TABLE IF EXISTS `baocao_p01`.`province_indicators`",
        "DROP TABLE IF EXISTS `baocao_p79`.`province_indicators`",
    ]


def test_modern_sql_grants_filters_and_hides_the_passwords() -> None:
    statements = grant_statements(PLAN, SOURCE, CREDENTIALS)
    text = "\n".join(statements)
    for user in PLAN.login_users():
        assert f"pw-{user}" not in text
        assert f"IDENTIFIED WITH sha256_hash BY '{sha256_hex(f'pw-{user}')}'" in text
    assert RELAY_USER not in text  # the relay exists on 18.16 only
    assert "readonly = 2" in statements[0] and "MAX 300" in statements[0]
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
