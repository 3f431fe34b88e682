"""Tools that hold docker-compose.yml and the Dockerfile to the code: Compose's variable
interpolation, readers of a compose document, and the rules (``check_*``), each returning
the problems it found so a test can also feed it a broken document.

Rule: the valid names (settings, CLI commands, topics) come from the code itself, never from a
list kept here.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import typer.main
import yaml
from pydantic_settings import BaseSettings

from baocao.core.settings import KafkaSettings, Settings

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


def merged(base: Compose, *overrides: Compose) -> Compose:
    """``base`` with ``overrides`` merged on as Compose does for ``-f a.yml -f b.yml``: a
    service's mapping keys (environment) replace or add to the base's, lists and scalars are
    replaced, new services and volumes are added."""
    result: Compose = {
        "services": {name: dict(spec) for name, spec in services(base).items()},
        "volumes": dict(base.get("volumes") or {}),
    }
    for override in overrides:
        for name, spec in services(override).items():
            into = result["services"].setdefault(name, {})
            for key, value in spec.items():
                if isinstance(value, dict) and isinstance(into.get(key), dict):
                    into[key] = {**into[key], **value}
                else:
                    into[key] = value
        result["volumes"].update(override.get("volumes") or {})
    return result
