"""The wheel installs one namespace (issue 8): ``baocao`` is the only top-level package it puts
into site-packages (no generic ``producers``, ``streams``, ``sinks`` or ``schemas`` to collide
with), it carries its migrations and Avro schemas, and its ``baocao`` command runs outside the
repository.

The wheel is built from a copy of the working tree (symlinks kept: ``baocao/producers`` ->
``../producers`` ...) with ``pip wheel`` (build isolation fetches setuptools through pip, as any
build does) and installed without dependencies into a fresh virtual environment. The
dependencies come from this project's ``.venv`` through ``PYTHONPATH``: ``.pth`` files are not
processed on ``PYTHONPATH``, so the editable install of the repository stays out of the way and
every ``baocao`` module must come from the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: What the copy leaves out: environments, caches, build output, server data.
IGNORED = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".baocao",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    "node_modules",
    ".hypothesis",
    "ci-artifacts",
)


@dataclass(frozen=True)
class Installed:
    wheel: Path
    python: Path
    command: Path
    site_packages: Path
    before: frozenset[str]
    env: dict[str, str]
    cwd: Path

    def run(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(a) for a in args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def _run(*args: str | Path, cwd: Path | None = None) -> None:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"{' '.join(map(str, args))}:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("packaging")
    source = root / "source"
    shutil.copytree(REPO, source, symlinks=True, ignore=IGNORED)
    wheels = root / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", wheels, source)
    [wheel] = wheels.glob("baocao-*.whl")

    venv = root / "fresh"
    _run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    site_packages = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    before = frozenset(p.name for p in site_packages.iterdir())
    _run(python, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", wheel)

    elsewhere = root / "elsewhere"  # a working directory with nothing of the repository
    elsewhere.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
    }
    env["PYTHONPATH"] = sysconfig.get_paths()["purelib"]  # the dependencies, not the project
    yield Installed(
        wheel=wheel,
        python=python,
        command=venv / "bin" / "baocao",
        site_packages=site_packages,
        before=before,
        env=env,
        cwd=elsewhere,
    )


def test_baocao_is_the_only_top_level_entry_the_wheel_adds(installed: Installed) -> None:
    after = {p.name for p in installed.site_packages.iterdir()}
    added = after - installed.before
    assert added == {"baocao", "baocao-0.1.0.dist-info"}
    with zipfile.ZipFile(installed.wheel) as wheel:
        tops = {name.split("/", 1)[0] for name in wheel.namelist()}
    assert tops == {"baocao", "baocao-0.1.0.dist-info"}
    top_level = installed.site_packages / "baocao-0.1.0.dist-info" / "top_level.txt"
    if top_level.exists():
        assert top_level.read_text().split() == ["baocao"]


def test_the_packages_import_from_the_fresh_environment(installed: Installed) -> None:
    probe = (
        "import baocao.producers.publisher as p, baocao.sinks.clickhouse.migrate as m\n"
        "import baocao.streams.step as s, baocao.app.cli as c, baocao.core.topics as t\n"
        "print(p.__file__); print(m.__file__); print(s.__file__); print(c.__file__)\n"
        "print(t.__file__)\n"
        "import importlib.util\n"
        "print(sorted(n for n in ('producers', 'streams', 'sinks', 'schemas')"
        " if importlib.util.find_spec(n) is not None))\n"
    )
    done = installed.run(installed.python, "-c", probe)
    assert done.returncode == 0, done.stderr
    *files, stray = done.stdout.splitlines()
    assert len(files) == 5
    for file in files:
        path = Path(file).resolve()
        assert path.is_relative_to(installed.site_packages.resolve()), path
        assert not path.is_relative_to(REPO), path
    assert stray == "[]", "a generic top-level package is importable"


def test_the_wheel_carries_the_migrations_and_the_avro_schemas(installed: Installed) -> None:
    package = installed.site_packages / "baocao"
    migrations = sorted(p.name for p in (package / "sinks/clickhouse/migrations").glob("*.sql"))
    schemas = sorted(p.name for p in (package / "schemas/avro").glob("*.avsc"))
    assert migrations == sorted(
        p.name for p in (REPO / "sinks/clickhouse/migrations").glob("*.sql")
    )
    assert schemas == sorted(p.name for p in (REPO / "schemas/avro").glob("*.avsc"))
    assert "0002_commune_reports.sql" in migrations and "commune_report.v2.avsc" in schemas
    # The installed code finds them through its own package, not through the repository.
    probe = (
        "from baocao.sinks.clickhouse.migrate import load_migrations\n"
        "from baocao.schemas import avro_schema_path\n"
        "print(len(load_migrations())); print(avro_schema_path('commune_report.v2'))\n"
    )
    done = installed.run(installed.python, "-c", probe)
    assert done.returncode == 0, done.stderr
    count, schema_path = done.stdout.splitlines()
    assert int(count) == len(migrations)
    assert Path(schema_path).resolve().is_relative_to(installed.site_packages.resolve())


def test_the_baocao_command_runs_outside_the_repository(installed: Installed) -> None:
    done = installed.run(installed.command, "--help")
    assert done.returncode == 0, done.stdout + done.stderr
    for command in ("migrate", "worker", "sink", "publish", "gateway", "stack"):
        assert command in done.stdout
    assert str(installed.python) in installed.command.read_text()  # the fresh venv's python


def test_the_wheel_carries_the_commune_app(installed: Installed) -> None:
    """The gateway serves the app's files from its own package: every one is in the wheel."""
    from baocao.producers.gateway.webapp import SHELL_FILES

    probe = (
        "from baocao.producers.gateway.webapp import SHELL_FILES, asset\n"
        "print(sum(len(asset(p).body) > 0 for p in SHELL_FILES))\n"
    )
    done = installed.run(installed.python, "-c", probe)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == len(SHELL_FILES)


def test_the_wheel_carries_the_notifier_templates(installed: Installed) -> None:
    """Every kind of message in every language, found through the installed package."""
    from baocao.app.notifier.templates import KINDS, LANGUAGES

    probe = "from baocao.app.notifier.templates import template_names\nprint(template_names())\n"
    done = installed.run(installed.python, "-c", probe)
    assert done.returncode == 0, done.stderr
    expected = sorted(f"{kind}.{language}.txt" for kind in KINDS for language in LANGUAGES)
    assert done.stdout.strip() == str(expected)
