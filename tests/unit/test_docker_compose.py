"""Static checks that keep docker-compose.yml and the Dockerfile honest.

No Docker engine runs in this project's CI, so the compose file is never started there. These
tests hold it to the code instead: every ``BAOCAO_*`` variable must be one the settings read,
every ``baocao ...`` command one the CLI has, every ``depends_on`` one Compose can satisfy, the
published ports the ones the host defaults point at. The valid names come from the code itself
(``baocao.core.settings``, ``baocao.app.cli``), never from a list kept here, so a renamed setting or
command breaks this test rather than a user's ``docker compose up``.

Each rule (:mod:`support.compose`) returns the problems it found, so the negative tests at
the bottom can feed it a broken document and show that the rule really bites.
"""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
import typer.main
from support.compose import (
    CLICKHOUSE_IMAGES,
    DOCKERFILE,
    DOCKERIGNORE,
    GRAFANA_PLUGIN,
    KAFKA_IMAGE,
    REQUIRED_ENV,
    ROOT,
    CliCommand,
    Compose,
    check_app_endpoints,
    check_baocao_commands,
    check_baocao_environment,
    check_clickhouse_ports,
    check_depends_on,
    check_grafana,
    check_image_or_build,
    check_kafka_major,
    check_kafka_partitions,
    check_kafka_ports,
    check_no_secrets,
    check_pinned_images,
    check_required_secrets,
    check_volumes,
    cli_env_names,
    command_args,
    default_kafka_host_port,
    environment,
    find_service,
    interpolate,
    is_app_service,
    load,
    load_raw,
    parse_listeners,
    services,
    settings_env_names,
    subcommands,
)
from support.dockerignore import dockerignore_excludes, dockerignore_patterns

from baocao.core.settings import ClickHouseSettings, KafkaSettings, StackSettings


@pytest.fixture(scope="module")
def cli() -> CliCommand:
    from baocao.app.cli import app  # imports every command module: a broken one fails here

    command = typer.main.get_command(app)
    assert subcommands(command), "the baocao CLI is not a group of commands"
    return command


@pytest.fixture(scope="module")
def valid_env_names(cli: CliCommand) -> set[str]:
    return settings_env_names() | cli_env_names(cli)


@pytest.fixture(scope="module")
def compose() -> Compose:
    return load(env=REQUIRED_ENV)


# -- the compose file passes every rule --------------------------------------------------------


def test_every_service_has_an_image_or_a_build(compose: Compose) -> None:
    assert check_image_or_build(compose) == []


def test_depends_on_names_real_services_with_satisfiable_conditions(compose: Compose) -> None:
    assert check_depends_on(compose) == []


def test_baocao_environment_variables_are_read_by_the_code(
    compose: Compose, valid_env_names: set[str]
) -> None:
    assert check_baocao_environment(compose, valid_env_names) == []


def test_services_run_real_baocao_commands(compose: Compose, cli: CliCommand) -> None:
    assert check_baocao_commands(compose, cli) == []


def test_pipeline_services_are_all_there(compose: Compose) -> None:
    commands = {
        name: command_args(svc)[:1]
        for name, svc in services(compose).items()
        if is_app_service(svc)
    }
    assert commands == {
        "migrate": ["migrate"],
        "worker": ["worker"],
        "sink": ["sink"],
        "simulator": ["simulate"],
        "bi-access": ["bi"],
        "kafka-access": ["kafka-access"],
    }


def test_images_are_pinned(compose: Compose) -> None:
    assert check_pinned_images(compose) == []


def test_kafka_is_version_4_or_later(compose: Compose) -> None:
    assert check_kafka_major(compose) == []


def test_kafka_is_published_where_the_host_default_points(compose: Compose) -> None:
    assert default_kafka_host_port() == 19092
    assert check_kafka_ports(compose, host_port=default_kafka_host_port()) == []


def test_kafka_creates_topics_with_the_project_partitions(compose: Compose) -> None:
    partitions = KafkaSettings.model_fields["partitions"].default
    assert check_kafka_partitions(compose, partitions=partitions) == []


def test_clickhouse_is_published_where_the_host_defaults_point(compose: Compose) -> None:
    native = ClickHouseSettings.model_fields["port"].default
    http = StackSettings.model_fields["clickhouse_http_port"].default
    assert (native, http) == (19000, 18123)
    assert check_clickhouse_ports(compose, native_port=native, http_port=http) == []


def test_apps_reach_the_servers_inside_the_network(compose: Compose) -> None:
    assert check_app_endpoints(compose) == []


def test_no_secret_is_written_in_the_file() -> None:
    assert check_no_secrets(load_raw()) == []


def test_clickhouse_password_is_the_same_for_server_and_apps() -> None:
    """The server's password and the apps' password come from the same variable."""
    raw = load_raw()
    _, clickhouse = find_service(raw, *CLICKHOUSE_IMAGES)
    source = environment(clickhouse)["CLICKHOUSE_PASSWORD"]
    for name, svc in services(raw).items():
        if is_app_service(svc):
            assert environment(svc)["BAOCAO_CLICKHOUSE_PASSWORD"] == source, name
    with_password = load(env={**REQUIRED_ENV, "BAOCAO_CLICKHOUSE_PASSWORD": "s3cret"})
    assert (
        environment(find_service(with_password, *CLICKHOUSE_IMAGES)[1])["CLICKHOUSE_PASSWORD"]
        == "s3cret"
    )
    assert environment(services(with_password)["sink"])["BAOCAO_CLICKHOUSE_PASSWORD"] == "s3cret"


def test_administrator_passwords_are_required() -> None:
    assert check_required_secrets(load_raw()) == []


@pytest.mark.parametrize("variable", sorted(REQUIRED_ENV))
@pytest.mark.parametrize("value", [None, ""])
def test_compose_refuses_to_start_without_a_password(variable: str, value: str | None) -> None:
    env = {key: secret for key, secret in REQUIRED_ENV.items() if key != variable}
    if value is not None:
        env[variable] = value
    with pytest.raises(ValueError, match=variable):
        load(env=env)


def test_rejects_a_password_with_a_default() -> None:
    def change(d: Compose) -> None:
        d["services"]["clickhouse"]["environment"]["CLICKHOUSE_PASSWORD"] = (
            "${BAOCAO_CLICKHOUSE_PASSWORD:-}"
        )
        d["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] = (
            "${GRAFANA_ADMIN_PASSWORD:-admin}"
        )

    assert check_required_secrets(broken(load_raw(), change)) == [
        "clickhouse: CLICKHOUSE_PASSWORD is '${BAOCAO_CLICKHOUSE_PASSWORD:-}', not a required"
        " ${VAR:?message}",
        "grafana: GF_SECURITY_ADMIN_PASSWORD is '${GRAFANA_ADMIN_PASSWORD:-admin}', not a"
        " required ${VAR:?message}",
    ]


def test_the_province_data_sources_are_generated_from_the_reference() -> None:
    from baocao.app.bi.access import AccessPlan
    from baocao.app.bi.grafana import province_datasources_yaml
    from baocao.core.reference import load_reference

    committed = ROOT / "grafana" / "provisioning" / "datasources" / "provinces.yml"
    plan = AccessPlan.for_reference("baocao", load_reference())
    assert committed.read_text(encoding="utf-8") == province_datasources_yaml(plan)


def test_grafana_is_provisioned_with_the_read_only_bi_user() -> None:
    # Raw document: the password must be the same *variable* in both services.
    assert check_grafana(load_raw()) == []


def test_bi_access_keeps_its_passwords_on_a_volume_the_image_prepares(compose: Compose) -> None:
    service = services(compose)["bi-access"]
    home = environment(service)["BAOCAO_STACK_HOME"]
    volume = f"{home}/bi"
    assert any(str(entry).endswith(f":{volume}") for entry in service["volumes"])
    assert re.search(rf"install -d .*{re.escape(volume)}\b", DOCKERFILE.read_text(encoding="utf-8"))
    assert command_args(service)[:3] == ["bi", "apply", "--require-env-password"]


def test_data_lives_on_named_volumes(compose: Compose) -> None:
    assert check_volumes(compose) == []


def test_simulator_only_runs_on_demand(compose: Compose) -> None:
    simulator = services(compose)["simulator"]
    assert simulator.get("profiles") == ["demo"]
    assert simulator.get("restart") == "no"
    assert services(compose)["migrate"].get("restart") == "no"


def test_dockerfile_builds_a_non_root_baocao_image(compose: Compose) -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", text, re.M)
    assert re.search(r"^RUN pip install \.$", text, re.M)
    assert re.search(r'^ENTRYPOINT \["baocao"\]$', text, re.M)
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1] not in ("root", "0"), users
    # The worker's state dir must exist in the image, owned by that user; a named volume
    # mounted there then starts with that owner instead of root.
    data_dir = environment(services(compose)["worker"])["BAOCAO_WORKER_DATA_DIR"]
    assert re.search(rf"install -d -o {users[-1]} -g {users[-1]} {re.escape(data_dir)}\b", text)
    for name, svc in services(compose).items():
        if is_app_service(svc):
            assert svc["build"] == {"context": ".", "dockerfile": "Dockerfile"}, name


def test_dockerignore_sends_the_packages_and_nothing_local() -> None:
    patterns = dockerignore_patterns(DOCKERIGNORE)
    find = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]["packages"]["find"]
    packages = [pattern.rstrip("*") for pattern in find["include"]]
    assert packages and "baocao" in packages
    needed = ["pyproject.toml", *packages, *(f"{package}/__init__.py" for package in packages)]
    assert [path for path in needed if dockerignore_excludes(patterns, path)] == []
    local = [".venv", ".git", ".env", ".baocao", "tests", ".pytest_cache", "baocao.egg-info"]
    assert [path for path in local if not dockerignore_excludes(patterns, path)] == []


# -- the rules bite: broken documents are rejected ---------------------------------------------


def broken(compose: Compose, change: Callable[[Compose], None]) -> Compose:
    document = copy.deepcopy(compose)
    change(document)
    return document


def test_rejects_a_service_with_neither_image_nor_build(compose: Compose) -> None:
    document = broken(compose, lambda d: d["services"].update(ghost={"command": ["x"]}))
    assert check_image_or_build(document) == ["service 'ghost' has neither image nor build"]


def test_rejects_bad_depends_on(compose: Compose) -> None:
    def change(d: Compose) -> None:
        d["services"]["sink"]["depends_on"] = {
            "kafak": {"condition": "service_healthy"},
            "kafka": {},
            "worker": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }
        d["services"]["migrate"]["restart"] = "unless-stopped"
        d["services"]["worker"]["depends_on"] = ["kafka"]

    problems = check_depends_on(broken(compose, change))
    assert "sink: depends_on unknown service 'kafak'" in problems
    assert "sink: depends_on 'kafka' has condition None" in problems
    assert "sink: waits for 'worker' healthy, which has no healthcheck" in problems
    assert "sink: waits for 'migrate' to complete, but it restarts" in problems
    assert "worker: depends_on is a list (no condition): ['kafka']" in problems

    def profile_only(d: Compose) -> None:
        d["services"]["sink"]["depends_on"]["simulator"] = {"condition": "service_started"}

    assert check_depends_on(broken(compose, profile_only)) == [
        "sink: always started but depends on profile-only 'simulator'"
    ]


def test_rejects_an_unknown_baocao_variable(compose: Compose, valid_env_names: set[str]) -> None:
    def change(d: Compose) -> None:
        d["services"]["sink"]["environment"]["BAOCAO_KAFKA_BOOTSTRAP_SERVER"] = "kafka:9092"
        d["services"]["worker"]["environment"] = ["BAOCAO_WORKER_DATADIR=/x"]

    assert check_baocao_environment(broken(compose, change), valid_env_names) == [
        "worker: BAOCAO_WORKER_DATADIR is not read by baocao (no such settings field or "
        "CLI envvar)",
        "sink: BAOCAO_KAFKA_BOOTSTRAP_SERVER is not read by baocao (no such settings field or "
        "CLI envvar)",
    ]
    assert {"BAOCAO_KAFKA_BOOTSTRAP_SERVERS", "BAOCAO_WORKER_DATA_DIR", "BAOCAO_LOG_LEVEL"} <= (
        valid_env_names
    )


def test_rejects_an_unknown_command_or_option(compose: Compose, cli: CliCommand) -> None:
    def change(d: Compose) -> None:
        d["services"]["migrate"]["command"] = ["migrat"]
        d["services"]["worker"]["command"] = "baocao indicators --jsn"
        d["services"]["sink"]["command"] = ["stack"]
        d["services"]["simulator"]["command"] = ["stack", "restart"]

    assert check_baocao_commands(broken(compose, change), cli) == [
        "migrate: `baocao migrat` is not a command",
        "worker: `baocao indicators` has no option --jsn",
        "sink: `baocao stack` needs a subcommand",
        "simulator: `baocao stack restart` is not a command",
    ]

    def valid(d: Compose) -> None:
        d["services"]["worker"]["command"] = "baocao indicators --json"

    assert check_baocao_commands(broken(compose, valid), cli) == []


def test_rejects_unpinned_images(compose: Compose) -> None:
    def change(d: Compose) -> None:
        d["services"]["kafka"]["image"] = "apache/kafka:latest"
        d["services"]["clickhouse"]["image"] = "registry.local:5000/clickhouse/clickhouse-server"

    assert check_pinned_images(broken(compose, change)) == [
        "kafka: image 'apache/kafka:latest' is not pinned to a tag",
        "clickhouse: image 'registry.local:5000/clickhouse/clickhouse-server' is not pinned "
        "to a tag",
    ]


def test_rejects_kafka_before_4(compose: Compose) -> None:
    document = broken(compose, lambda d: d["services"]["kafka"].update(image="apache/kafka:3.9.0"))
    assert check_kafka_major(document) == [
        "kafka: image 'apache/kafka:3.9.0' is not Kafka 4 or later"
    ]


def test_rejects_ports_that_miss_the_host_defaults(compose: Compose) -> None:
    def unpublished(d: Compose) -> None:
        d["services"]["kafka"]["ports"] = ["127.0.0.1:9092:19092"]
        d["services"]["clickhouse"]["ports"] = [
            {"target": 9000, "published": 9000},
            "18123:8123",
        ]

    document = broken(compose, unpublished)
    assert check_kafka_ports(document, host_port=19092) == [
        "kafka: host port 19092 (KafkaSettings default) is not published"
    ]
    assert check_clickhouse_ports(document, native_port=19000, http_port=18123) == [
        "clickhouse: native port 9000 not published as 19000"
    ]

    def wrong_advertised(d: Compose) -> None:
        d["services"]["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"] = (
            "INTERNAL://kafka:9092,HOST://kafka:19092"
        )

    assert check_kafka_ports(broken(compose, wrong_advertised), host_port=19092) == [
        "kafka: listener HOST advertises kafka:19092, not the host port"
    ]


def test_rejects_a_partition_count_other_than_the_settings(compose: Compose) -> None:
    def change(d: Compose) -> None:
        d["services"]["kafka"]["environment"]["KAFKA_NUM_PARTITIONS"] = 1

    assert check_kafka_partitions(broken(compose, change), partitions=4) == [
        "kafka: KAFKA_NUM_PARTITIONS is '1', not 4"
    ]


def test_rejects_apps_pointed_at_unreachable_servers(compose: Compose) -> None:
    def change(d: Compose) -> None:
        d["services"]["sink"]["environment"]["BAOCAO_KAFKA_BOOTSTRAP_SERVERS"] = "kafka:19092"
        d["services"]["sink"]["environment"]["BAOCAO_CLICKHOUSE_HOST"] = "127.0.0.1"
        d["services"]["sink"]["environment"]["BAOCAO_CLICKHOUSE_PORT"] = "19000"

    assert check_app_endpoints(broken(compose, change)) == [
        "sink: bootstrap 'kafka:19092' is not an advertised listener",
        "sink: BAOCAO_CLICKHOUSE_HOST is not 'clickhouse'",
        "sink: BAOCAO_CLICKHOUSE_PORT is not 9000",
    ]


def test_dockerignore_rule_is_last_match_wins() -> None:
    patterns = ["*", "!baocao", "baocao/secret", "!pyproject.toml", "**/__pycache__"]
    assert dockerignore_excludes(patterns, ".env")
    assert not dockerignore_excludes(patterns, "baocao")
    assert not dockerignore_excludes(patterns, "baocao/stack/kafka.py")
    assert dockerignore_excludes(patterns, "baocao/secret/key")
    assert dockerignore_excludes(patterns, "baocao/stack/__pycache__/kafka.pyc")
    assert dockerignore_excludes(patterns, "streams/app.py")
    assert dockerignore_excludes(["**/*.py[cod]"], "baocao/cli.pyc")
    assert not dockerignore_excludes(["**/*.py[cod]"], "baocao/cli.py")
    # Anchored at the context's root, unlike .gitignore.
    assert dockerignore_excludes(["secret"], "secret/key")
    assert not dockerignore_excludes(["secret"], "baocao/secret")


def test_rejects_a_literal_password() -> None:
    def change(d: Compose) -> None:
        d["services"]["clickhouse"]["environment"]["CLICKHOUSE_PASSWORD"] = "hunter2"

    assert check_no_secrets(broken(load_raw(), change)) == [
        "clickhouse: CLICKHOUSE_PASSWORD holds a literal value; use ${CLICKHOUSE_PASSWORD:-} "
        "from the environment"
    ]


def test_rejects_state_off_named_volumes(compose: Compose) -> None:
    def change(d: Compose) -> None:
        d["services"]["worker"]["volumes"] = ["./state:/var/lib/baocao/worker"]
        d["services"]["clickhouse"]["volumes"] = ["ch-data:/var/lib/clickhouse"]
        del d["services"]["kafka"]["environment"]["KAFKA_LOG_DIRS"]

    assert check_volumes(broken(compose, change)) == [
        "clickhouse: volume 'ch-data' (at /var/lib/clickhouse) is not declared",
        "kafka: KAFKA_LOG_DIRS is not set (the default is under /tmp)",
        "worker: /var/lib/baocao/worker is not on a named volume",
    ]


def test_interpolation_follows_compose_rules() -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d} $$SET $SET", env) == (
        "x d  d $SET x"
    )
    with pytest.raises(ValueError, match="UNSET"):
        interpolate("${UNSET:?needed}", env)


def test_rejects_grafana_without_the_bi_user_or_its_files(tmp_path: Path) -> None:
    raw = load_raw()

    def change(d: Compose) -> None:
        grafana = d["services"]["grafana"]
        grafana["environment"]["GF_INSTALL_PLUGINS"] = GRAFANA_PLUGIN
        grafana["environment"]["BAOCAO_BI_PASSWORD"] = "${OTHER:-}"
        grafana["volumes"].append("./grafana/nowhere:/etc/x:ro")
        del grafana["depends_on"]["bi-access"]

    problems = check_grafana(broken(raw, change))
    assert f"grafana: GF_INSTALL_PLUGINS {GRAFANA_PLUGIN!r} is not a pinned {GRAFANA_PLUGIN}" in (
        problems
    )
    assert "grafana: mounts ./grafana/nowhere (at /etc/x), which is not in the repo" in problems
    assert "grafana: $BAOCAO_BI_PASSWORD is not the BAOCAO_BI_PASSWORD of bi-access" in problems
    assert "grafana: does not wait for bi-access to complete" in problems

    # A data source that logs in as `default` is refused too.
    (tmp_path / "grafana" / "provisioning" / "datasources").mkdir(parents=True)
    (tmp_path / "grafana" / "dashboards").mkdir()
    source = (ROOT / "grafana/provisioning/datasources/clickhouse.yml").read_text()
    (tmp_path / "grafana/provisioning/datasources/clickhouse.yml").write_text(
        source.replace("username: baocao_bi", "username: default")
    )
    provinces = "grafana/provisioning/datasources/provinces.yml"
    (tmp_path / provinces).write_text((ROOT / provinces).read_text())
    assert check_grafana(raw, root=tmp_path) == ["grafana: the data source logs in as 'default'"]


def test_rejects_a_province_data_source_with_another_login(tmp_path: Path) -> None:
    folder = tmp_path / "grafana" / "provisioning" / "datasources"
    folder.mkdir(parents=True)
    (tmp_path / "grafana" / "dashboards").mkdir()
    for name in ("clickhouse.yml", "provinces.yml"):
        text = (ROOT / "grafana/provisioning/datasources" / name).read_text()
        (folder / name).write_text(text.replace("username: baocao_p79", "username: baocao_bi"))
    problems = check_grafana(load_raw(), root=tmp_path)
    assert "province data sources log in as" in problems[0] and "'baocao_bi'" in problems[0]


def test_kafka_authenticates_every_listener_and_authorizes_by_acl(compose: Compose) -> None:
    _name, kafka = find_service(compose, KAFKA_IMAGE)
    env = environment(kafka)
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(protocols.values()) == {"SASL_PLAINTEXT"}, protocols
    assert set(protocols) == set(parse_listeners(env["KAFKA_LISTENERS"]))
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert kafka["entrypoint"][-1] == "/opt/baocao/kafka-entrypoint.sh"
    script = (ROOT / "docker" / "kafka-entrypoint.sh").read_text(encoding="utf-8")
    for password in ("SCRAM_ADMIN_PASSWORD", "SCRAM_BROKER_PASSWORD", "CONTROLLER_PASSWORD"):
        assert password in script and password in env  # required: the script refuses empty
    assert '"@$work/format.args"' in script  # SCRAM passwords never on a command line
    # every service that talks to Kafka finds its own principal's credential
    for service in ("worker", "sink", "simulator"):
        mounts = [str(v) for v in services(compose)[service]["volumes"]]
        assert "kafka-credentials:/var/lib/baocao/stack/kafka/credentials:ro" in mounts, service
        assert environment(services(compose)[service])["BAOCAO_STACK_HOME"] == (
            "/var/lib/baocao/stack"
        )
    assert "--historic" in command_args(services(compose)["simulator"])
    assert re.search(
        r"install -d -m 0700 .*/var/lib/baocao/stack/kafka/credentials",
        DOCKERFILE.read_text(encoding="utf-8"),
    )
