"""Static checks that keep docker-compose.yml and the Dockerfile honest.

No Docker engine runs in this project's CI, so the compose file is never started there. These
tests hold it to the code instead: every ``BAOCAO_*`` variable must be one the settings read,
every ``baocao ...`` command one the CLI has, every ``depends_on`` one Compose can satisfy, the
published ports the ones the host defaults point at. The valid names come from the code itself
(``baocao.core.settings``, ``baocao.app.cli``), never from a list kept here, so a renamed setting or
command breaks this test rather than a user's ``docker compose up``.

Each rule is a function returning the problems it found, so the negative tests at the bottom
can feed it a broken document and show that the rule really bites.
"""

from __future__ import annotations

import copy
import re
import shlex
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from pydantic_settings import BaseSettings

from baocao.core.settings import ClickHouseSettings, KafkaSettings, Settings, StackSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

#: The native-protocol port of the clickhouse/clickhouse-server image (a fact of the image).
CLICKHOUSE_NATIVE_PORT = 9000
CLICKHOUSE_HTTP_PORT = 8123
KAFKA_IMAGE = "apache/kafka"
CLICKHOUSE_IMAGES = ("clickhouse/clickhouse-server", "clickhouse")
DEPENDS_ON_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN")
#: Secrets Compose must refuse to start without (``${VAR:?message}``): the ClickHouse
#: administrator's password, Grafana's BI login and Grafana's own admin, Kafka's admin, broker
#: and controller passwords.
REQUIRED_ENV = {
    "BAOCAO_CLICKHOUSE_PASSWORD": "ch-admin-secret",
    "BAOCAO_BI_PASSWORD": "bi-secret",
    "GRAFANA_ADMIN_PASSWORD": "grafana-secret",
    "SCRAM_ADMIN_PASSWORD": "kafkaadmin1",
    "SCRAM_BROKER_PASSWORD": "kafkabroker1",
    "CONTROLLER_PASSWORD": "kafkacontroller1",
}

Compose = dict[str, Any]
Problems = list[str]
#: A command of the CLI as typer builds it: a click command, or typer's own copy of click's
#: classes in newer typer releases; only ``params`` and a group's ``commands`` are used.
CliCommand = Any


# -- loading ------------------------------------------------------------------------------------

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}"
    r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    """Resolve ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}`` and ``$$`` the way Compose
    does, so the checks see the values a user with ``env`` would get."""
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    if not isinstance(node, str):
        return node

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["plain"]
        value = env.get(name)
        op = match["op"] or ""
        if op == ":-":
            return value if value else match["arg"]
        if op == "-":
            return value if value is not None else match["arg"]
        if op in (":?", "?") and (value is None or (op == ":?" and not value)):
            raise ValueError(f"required variable {name} is not set: {match['arg']}")
        return value or ""

    return _VARIABLE.sub(replace, node)


def load_raw(path: Path = COMPOSE_FILE) -> Compose:
    """The compose document as written (anchors and merge keys resolved, variables not)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{path} is not a YAML mapping"
    return document


def load(path: Path = COMPOSE_FILE, env: Mapping[str, str] | None = None) -> Compose:
    """The compose document as Compose sees it with ``env`` (default: nothing set)."""
    resolved = interpolate(load_raw(path), env or {})
    assert isinstance(resolved, dict)
    return resolved


# -- reading a compose document ----------------------------------------------------------------


def services(compose: Compose) -> dict[str, dict[str, Any]]:
    return dict(compose.get("services") or {})


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment, from either the mapping or the ``KEY=value`` list form."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in env)
        return {key: value for key, value in pairs}
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def command_args(service: Mapping[str, Any]) -> list[str]:
    command = service.get("command")
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """``repo[:tag][@digest]`` -> (repo, tag, digest); a registry port is not a tag."""
    reference, _, digest = image.partition("@")
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > slash:
        return reference[:colon], reference[colon + 1 :], digest or None
    return reference, None, digest or None


def find_service(compose: Compose, *repositories: str) -> tuple[str, dict[str, Any]]:
    """The one service running an image of one of ``repositories``."""
    found = [
        (name, svc)
        for name, svc in services(compose).items()
        if "image" in svc and split_image(str(svc["image"]))[0] in repositories
    ]
    assert len(found) == 1, f"expected one service of image {repositories}, found {found}"
    return found[0]


def is_app_service(service: Mapping[str, Any]) -> bool:
    """Services built from this repository run the ``baocao`` entry point."""
    return "build" in service


def published_ports(service: Mapping[str, Any]) -> list[tuple[int | None, int]]:
    """(host port, container port) of every ``ports`` entry, short or long syntax."""
    result: list[tuple[int | None, int]] = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            published = entry.get("published")
            result.append((int(published) if published else None, int(entry["target"])))
            continue
        spec = str(entry).split("/", 1)[0]
        parts = spec.rsplit(":", 2)
        container = int(parts[-1])
        host = int(parts[-2]) if len(parts) >= 2 and parts[-2] else None
        result.append((host, container))
    return result


def parse_listeners(value: str) -> dict[str, tuple[str, int]]:
    """``NAME://host:port,...`` -> {NAME: (host, port)}."""
    listeners: dict[str, tuple[str, int]] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, _, address = item.partition("://")
        host, _, port = address.rpartition(":")
        listeners[name] = (host, int(port))
    return listeners


# -- what the code accepts ---------------------------------------------------------------------


def settings_env_names() -> set[str]:
    """Every environment variable a settings group reads: its env_prefix + field name."""
    names: set[str] = set()
    for group in Settings.model_fields.values():
        group_class = group.annotation
        assert isinstance(group_class, type) and issubclass(group_class, BaseSettings)
        prefix = str(group_class.model_config.get("env_prefix", ""))
        names.update(f"{prefix}{field}".upper() for field in group_class.model_fields)
    return names


def subcommands(command: CliCommand) -> dict[str, CliCommand] | None:
    """A group's commands by name (loading the lazy ones); None for a plain command."""
    if not isinstance(getattr(command, "commands", None), Mapping):
        return None
    context = typer.Context(command)
    return {name: command.get_command(context, name) for name in command.list_commands(context)}


def walk_commands(command: CliCommand) -> Iterator[CliCommand]:
    yield command
    for sub in (subcommands(command) or {}).values():
        yield from walk_commands(sub)


def cli_env_names(cli: CliCommand) -> set[str]:
    """Environment variables the CLI's own options read (``--log-level`` / BAOCAO_LOG_LEVEL)."""
    names: set[str] = set()
    for command in walk_commands(cli):
        for param in command.params:
            envvar = param.envvar
            if isinstance(envvar, str):
                names.add(envvar)
            elif envvar:
                names.update(envvar)
    return names


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


# -- the rules ---------------------------------------------------------------------------------


def check_image_or_build(compose: Compose) -> Problems:
    return [
        f"service {name!r} has neither image nor build"
        for name, svc in services(compose).items()
        if not svc.get("image") and not svc.get("build")
    ]


def check_depends_on(compose: Compose) -> Problems:
    """Every dependency names a service and a condition Compose can wait for: the target of
    ``service_healthy`` has a healthcheck, the target of ``service_completed_successfully``
    is not restarted, and no always-on service waits for a profile-only one."""
    problems: Problems = []
    all_services = services(compose)
    for name, svc in all_services.items():
        depends = svc.get("depends_on") or {}
        if isinstance(depends, list):
            problems.append(f"{name}: depends_on is a list (no condition): {depends}")
            continue
        for target, spec in depends.items():
            condition = (spec or {}).get("condition")
            if condition not in DEPENDS_ON_CONDITIONS:
                problems.append(f"{name}: depends_on {target!r} has condition {condition!r}")
            if target not in all_services:
                problems.append(f"{name}: depends_on unknown service {target!r}")
                continue
            other = all_services[target]
            healthcheck = other.get("healthcheck") or {}
            if condition == "service_healthy" and (
                not healthcheck.get("test") or healthcheck.get("disable")
            ):
                problems.append(f"{name}: waits for {target!r} healthy, which has no healthcheck")
            if condition == "service_completed_successfully" and str(
                other.get("restart", "no")
            ) not in ("no", "on-failure"):
                problems.append(f"{name}: waits for {target!r} to complete, but it restarts")
            if other.get("profiles") and not svc.get("profiles"):
                problems.append(f"{name}: always started but depends on profile-only {target!r}")
    return problems


def check_baocao_environment(compose: Compose, valid: set[str]) -> Problems:
    """Every BAOCAO_* variable set anywhere is one that settings or the CLI actually read."""
    return [
        f"{name}: {key} is not read by baocao (no such settings field or CLI envvar)"
        for name, svc in services(compose).items()
        for key in environment(svc)
        if key.startswith("BAOCAO_") and key not in valid
    ]


def check_baocao_commands(compose: Compose, cli: CliCommand) -> Problems:
    """Every app service runs a real ``baocao`` (sub)command with options that command has."""
    problems: Problems = []
    for name, svc in services(compose).items():
        if not is_app_service(svc):
            continue
        args = command_args(svc)
        if args[:1] == ["baocao"]:
            args = args[1:]
        command = cli
        path: list[str] = []
        while (group := subcommands(command)) is not None:
            if not args or args[0].startswith("-"):
                problems.append(f"{name}: `baocao {' '.join(path)}` needs a subcommand")
                break
            word, args = args[0], args[1:]
            if word not in group:
                problems.append(f"{name}: `baocao {' '.join([*path, word])}` is not a command")
                break
            command = group[word]
            path.append(word)
        else:
            options = {
                opt for param in command.params for opt in (*param.opts, *param.secondary_opts)
            }
            for arg in args:
                option = arg.split("=", 1)[0]
                if option.startswith("-") and option not in options:
                    problems.append(f"{name}: `baocao {' '.join(path)}` has no option {option}")
    return problems


def check_pinned_images(compose: Compose) -> Problems:
    problems: Problems = []
    for name, svc in services(compose).items():
        if "image" not in svc:
            continue
        _, tag, digest = split_image(str(svc["image"]))
        if digest is None and tag in (None, "", "latest"):
            problems.append(f"{name}: image {svc['image']!r} is not pinned to a tag")
    return problems


def check_kafka_major(compose: Compose, *, minimum: int = 4) -> Problems:
    """KRaft without ZooKeeper, as the dev stack runs it: Kafka 4 or later."""
    name, svc = find_service(compose, KAFKA_IMAGE)
    _, tag, _ = split_image(str(svc["image"]))
    major = re.match(r"(\d+)\.", tag or "")
    if not major or int(major.group(1)) < minimum:
        return [f"{name}: image {svc['image']!r} is not Kafka {minimum} or later"]
    return []


def default_kafka_host_port() -> int:
    first = KafkaSettings.model_fields["bootstrap_servers"].default.split(",")[0]
    return int(first.rsplit(":", 1)[1])


def check_kafka_ports(compose: Compose, *, host_port: int) -> Problems:
    """The broker is published on the host port of the default bootstrap servers, and the
    listener behind it advertises that same host port (else host clients get redirected to an
    address they cannot reach)."""
    name, svc = find_service(compose, KAFKA_IMAGE)
    mappings = [(h, c) for h, c in published_ports(svc) if h == host_port]
    if not mappings:
        return [f"{name}: host port {host_port} (KafkaSettings default) is not published"]
    env = environment(svc)
    listeners = parse_listeners(env.get("KAFKA_LISTENERS", ""))
    advertised = parse_listeners(env.get("KAFKA_ADVERTISED_LISTENERS", ""))
    container_port = mappings[0][1]
    listener = next((ln for ln, (_, port) in listeners.items() if port == container_port), None)
    if listener is None:
        return [f"{name}: no listener on container port {container_port}"]
    host, port = advertised.get(listener, ("", 0))
    if port != host_port or host not in ("localhost", "127.0.0.1"):
        return [f"{name}: listener {listener} advertises {host}:{port}, not the host port"]
    return []


def check_kafka_partitions(compose: Compose, *, partitions: int) -> Problems:
    """Topics the broker creates on its own get the project's partition count, as under
    ``baocao stack``; otherwise a consumer racing the topic creation makes 1-partition topics."""
    name, svc = find_service(compose, KAFKA_IMAGE)
    value = environment(svc).get("KAFKA_NUM_PARTITIONS")
    if value != str(partitions):
        return [f"{name}: KAFKA_NUM_PARTITIONS is {value!r}, not {partitions}"]
    return []


def check_clickhouse_ports(compose: Compose, *, native_port: int, http_port: int) -> Problems:
    name, svc = find_service(compose, *CLICKHOUSE_IMAGES)
    ports = published_ports(svc)
    problems: Problems = []
    for host_port, container_port, what in (
        (native_port, CLICKHOUSE_NATIVE_PORT, "native"),
        (http_port, CLICKHOUSE_HTTP_PORT, "HTTP"),
    ):
        if (host_port, container_port) not in ports:
            problems.append(f"{name}: {what} port {container_port} not published as {host_port}")
    return problems


def check_app_endpoints(compose: Compose) -> Problems:
    """Inside the network the apps reach Kafka through a listener that advertises exactly
    their bootstrap address, and ClickHouse by service name on its native port."""
    problems: Problems = []
    kafka_name, kafka = find_service(compose, KAFKA_IMAGE)
    clickhouse_name, _ = find_service(compose, *CLICKHOUSE_IMAGES)
    advertised = set(
        parse_listeners(environment(kafka).get("KAFKA_ADVERTISED_LISTENERS", "")).values()
    )
    for name, svc in services(compose).items():
        if not is_app_service(svc):
            continue
        env = environment(svc)
        for server in env.get("BAOCAO_KAFKA_BOOTSTRAP_SERVERS", "").split(","):
            host, _, port = server.rpartition(":")
            if host != kafka_name or (host, int(port or 0)) not in advertised:
                problems.append(f"{name}: bootstrap {server!r} is not an advertised listener")
        if env.get("BAOCAO_CLICKHOUSE_HOST") != clickhouse_name:
            problems.append(f"{name}: BAOCAO_CLICKHOUSE_HOST is not {clickhouse_name!r}")
        if env.get("BAOCAO_CLICKHOUSE_PORT") != str(CLICKHOUSE_NATIVE_PORT):
            problems.append(f"{name}: BAOCAO_CLICKHOUSE_PORT is not {CLICKHOUSE_NATIVE_PORT}")
    return problems


def check_no_secrets(raw: Compose) -> Problems:
    """Secrets are never written in the file: each is a ``${VARIABLE}`` reference."""
    return [
        f"{name}: {key} holds a literal value; use ${{{key}:-}} from the environment"
        for name, svc in services(raw).items()
        for key, value in environment(svc).items()
        if any(word in key for word in SECRET_WORDS)
        and value
        and not re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*(:?[-?][^}]*)?\}", value)
    ]


def check_required_secrets(raw: Compose) -> Problems:
    """The administrator passwords have no default: each is ``${VAR:?message}``, so Compose
    refuses to start when the variable is unset or empty."""
    required = {
        "CLICKHOUSE_PASSWORD",
        "BAOCAO_CLICKHOUSE_PASSWORD",
        "BAOCAO_BI_PASSWORD",
        "GF_SECURITY_ADMIN_PASSWORD",
        "SCRAM_ADMIN_PASSWORD",
        "SCRAM_BROKER_PASSWORD",
        "CONTROLLER_PASSWORD",
        "BAOCAO_KAFKA_SASL_PASSWORD",
    }
    return [
        f"{name}: {key} is {value!r}, not a required ${{VAR:?message}}"
        for name, svc in services(raw).items()
        for key, value in environment(svc).items()
        if key in required and not re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*:\?[^}]+\}", value)
    ]


def check_volumes(compose: Compose) -> Problems:
    """Data lives on declared named volumes: Kafka's log dirs, ClickHouse's data and the
    worker's RocksDB state dir."""
    problems: Problems = []
    declared = set(compose.get("volumes") or {})

    def named_mounts(svc: Mapping[str, Any]) -> dict[str, str]:
        mounts: dict[str, str] = {}
        for entry in svc.get("volumes") or []:
            if isinstance(entry, dict):
                if entry.get("type", "volume") == "volume" and entry.get("source"):
                    mounts[str(entry["target"])] = str(entry["source"])
                continue
            source, _, rest = str(entry).partition(":")
            if rest and not source.startswith((".", "/", "~")):
                mounts[rest.split(":", 1)[0]] = source
        return mounts

    for name, svc in services(compose).items():
        for target, source in named_mounts(svc).items():
            if source not in declared:
                problems.append(f"{name}: volume {source!r} (at {target}) is not declared")
    wanted: list[tuple[str, str]] = []
    kafka_name, kafka = find_service(compose, KAFKA_IMAGE)
    for log_dir in filter(None, environment(kafka).get("KAFKA_LOG_DIRS", "").split(",")):
        wanted.append((kafka_name, log_dir))
    if not environment(kafka).get("KAFKA_LOG_DIRS"):
        problems.append(f"{kafka_name}: KAFKA_LOG_DIRS is not set (the default is under /tmp)")
    clickhouse_name, _ = find_service(compose, *CLICKHOUSE_IMAGES)
    wanted.append((clickhouse_name, "/var/lib/clickhouse"))
    workers = [n for n, s in services(compose).items() if command_args(s)[:1] == ["worker"]]
    if not workers:
        problems.append("no service runs `baocao worker`")
    for name in workers:
        data_dir = environment(services(compose)[name]).get("BAOCAO_WORKER_DATA_DIR")
        if not data_dir or not data_dir.startswith("/"):
            problems.append(f"{name}: BAOCAO_WORKER_DATA_DIR must be an absolute path")
            continue
        wanted.append((name, data_dir))
    for name, path in wanted:
        if path not in named_mounts(services(compose)[name]):
            problems.append(f"{name}: {path} is not on a named volume")
    return problems


GRAFANA_IMAGE = "grafana/grafana"
GRAFANA_PLUGIN = "grafana-clickhouse-datasource"


def bind_mounts(service: Mapping[str, Any]) -> dict[str, str]:
    """Container path -> host path of every bind mount (``./x:/y[:ro]``)."""
    mounts: dict[str, str] = {}
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            if entry.get("type") == "bind":
                mounts[str(entry["target"])] = str(entry["source"])
            continue
        source, _, rest = str(entry).partition(":")
        if rest and source.startswith((".", "/")):
            mounts[rest.split(":", 1)[0]] = source
    return mounts


PROVINCE_UID = "baocao-clickhouse-p"


def check_province_datasources(
    name: str, svc: Mapping[str, Any], sources: list[dict[str, Any]], compose: Compose
) -> Problems:
    """One data source per province, logged in as that province's user, its password read
    from a file on a volume that ``bi-access`` writes with ``--password-files``."""
    from baocao.app.bi.access import AccessPlan
    from baocao.core.reference import load_reference

    plan = AccessPlan.for_reference("baocao", load_reference())
    problems: Problems = []
    users = [(s.get("jsonData") or {}).get("username") for s in sources]
    if users != list(plan.province_users().values()):
        problems.append(f"{name}: the province data sources log in as {users}")
    writer = services(compose).get("bi-access") or {}
    args = command_args(writer)
    folder = args[args.index("--password-files") + 1] if "--password-files" in args else None
    mounted = {str(v).split(":")[1] for v in svc.get("volumes") or [] if ":" in str(v)}
    written = {str(v).split(":")[1] for v in writer.get("volumes") or [] if ":" in str(v)}
    if folder is None or folder not in mounted or folder not in written:
        problems.append(f"{name}: bi-access does not write the province passwords it reads")
    for source in sources:
        password = str((source.get("secureJsonData") or {}).get("password", ""))
        login = (source.get("jsonData") or {}).get("username")
        if password != f"$__file{{{folder}/{login}}}":
            problems.append(f"{name}: {source.get('uid')} reads its password from {password!r}")
    return problems


def check_grafana(compose: Compose, *, root: Path = ROOT) -> Problems:
    """Grafana runs a pinned plugin, mounts provisioning that exists in the repository, and its
    data source logs in to the compose ClickHouse as the read-only BI user with the password
    the ``bi-access`` service gave that user (the same variable); it starts after them."""
    from baocao.app.bi.access import BI_USER

    problems: Problems = []
    name, svc = find_service(compose, GRAFANA_IMAGE)
    env = environment(svc)
    plugin = env.get("GF_INSTALL_PLUGINS", "")
    if not re.fullmatch(rf"{GRAFANA_PLUGIN} \d+\.\d+\.\d+", plugin):
        problems.append(f"{name}: GF_INSTALL_PLUGINS {plugin!r} is not a pinned {GRAFANA_PLUGIN}")
    if not (svc.get("healthcheck") or {}).get("test"):
        problems.append(f"{name}: no healthcheck")
    mounts = bind_mounts(svc)
    for target, source in mounts.items():
        if not (root / source).exists():
            problems.append(f"{name}: mounts {source} (at {target}), which is not in the repo")
    provisioning = mounts.get("/etc/grafana/provisioning")
    if provisioning is None:
        return [*problems, f"{name}: /etc/grafana/provisioning is not mounted from the repo"]
    sources = root / provisioning / "datasources"
    datasources = [
        source
        for path in sorted(sources.glob("*.y*ml"))
        for source in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get(
            "datasources", []
        )
        if source.get("type") == GRAFANA_PLUGIN
    ]
    everyone = [d for d in datasources if not str(d.get("uid", "")).startswith(PROVINCE_UID)]
    if len(everyone) != 1:
        return [*problems, f"{name}: expected one {GRAFANA_PLUGIN} data source: {everyone}"]
    problems += check_province_datasources(
        name, svc, [d for d in datasources if d not in everyone], compose
    )
    source = everyone[0]
    data = source.get("jsonData") or {}
    clickhouse_name, _ = find_service(compose, *CLICKHOUSE_IMAGES)
    if data.get("username") != BI_USER:
        problems.append(f"{name}: the data source logs in as {data.get('username')!r}")
    if (data.get("host"), int(data.get("port") or 0)) != (clickhouse_name, CLICKHOUSE_NATIVE_PORT):
        problems.append(f"{name}: the data source points at {data.get('host')}:{data.get('port')}")
    password = (source.get("secureJsonData") or {}).get("password", "")
    variable = re.fullmatch(r"\$\{?(\w+)\}?", str(password))
    if variable is None:
        problems.append(f"{name}: the data source password is not an environment variable")
    else:
        raw = services(compose)
        wanted = environment(raw.get("bi-access") or {}).get("BAOCAO_BI_PASSWORD")
        if variable.group(1) not in env or env[variable.group(1)] != wanted or not wanted:
            problems.append(
                f"{name}: ${variable.group(1)} is not the BAOCAO_BI_PASSWORD of bi-access"
            )
    dashboards = mounts.get("/etc/grafana/dashboards/baocao")
    for path in sorted((root / (dashboards or "missing")).glob("*.json")):
        text = path.read_text(encoding="utf-8")
        # A panel names the data source, or the $datasource variable that defaults to it.
        uids = set(re.findall(r'"(?:uid|value)":\s*"([^"]+)"', text))
        if source.get("uid") not in uids:
            problems.append(f"{name}: {path.name} does not use data source {source.get('uid')}")
    if dashboards is None:
        problems.append(f"{name}: no dashboards mounted")
    depends = svc.get("depends_on") or {}
    if (depends.get("bi-access") or {}).get("condition") != "service_completed_successfully":
        problems.append(f"{name}: does not wait for bi-access to complete")
    return problems


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


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore glob as a regex: ``*`` and ``?`` stop at ``/``, ``**`` does not,
    ``[...]`` is a character class."""
    parts = re.split(r"(\*\*/?|\*|\?|\[[^\]]*\])", pattern.strip("/"))
    wildcards = {"**": ".*", "**/": "(?:.*/)?", "*": "[^/]*", "?": "[^/]"}
    return re.compile(
        "".join(
            wildcards.get(part, part if part.startswith("[") else re.escape(part)) for part in parts
        )
    )


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Docker's rule for ``path``: a pattern matching the path or one of its parents applies,
    the last one that applies wins, and ``!`` re-includes."""
    segments = path.split("/")
    prefixes = ["/".join(segments[: i + 1]) for i in range(len(segments))]
    excluded = False
    for pattern in patterns:
        regex = _glob_regex(pattern.removeprefix("!"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            excluded = not pattern.startswith("!")
    return excluded


def test_dockerignore_sends_the_packages_and_nothing_local() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
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
