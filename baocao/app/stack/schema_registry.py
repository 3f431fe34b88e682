"""A Confluent-compatible Schema Registry (Apicurio Registry) for the integration tests,
fetched once into the shared jar cache like the Kafka jars.

Rule: production runs no registry (deployments that have one set
``BAOCAO_SCHEMA_REGISTRY_URL``); this one exists to prove :mod:`baocao.core.registry` against
a real server. Why Apicurio, and which Java it needs: docs/stack.md.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from baocao.app.stack.jars import DEPENDENCY_PLUGIN_VERSION, CachedDownload
from baocao.app.stack.preflight import java_major_version
from baocao.app.stack.templates import render

__all__ = [
    "CCOMPAT_PATH",
    "REGISTRY_MIN_JAVA",
    "REGISTRY_VERSION",
    "fetch_schema_registry",
    "find_java",
    "schema_registry_command",
    "schema_registry_dir",
    "schema_registry_present",
]

logger = logging.getLogger(__name__)

REGISTRY_VERSION = "3.3.3"
#: Apicurio Registry 3 classes are Java 21 bytecode (class file version 65).
REGISTRY_MIN_JAVA = 21
#: The Confluent Schema Registry API (v7) of Apicurio Registry 3.
CCOMPAT_PATH = "/apis/ccompat/v7"
_RUNNER = "quarkus-run.jar"


def schema_registry_dir(*, cache_dir: Path, version: str = REGISTRY_VERSION) -> Path:
    """The folder of the unpacked application (``java -jar <it>/quarkus-run.jar``)."""
    return cache_dir.expanduser().absolute() / f"apicurio-registry-{version}" / "app"


def _pom(version: str) -> str:
    return render(
        "schema-registry-pom.xml",
        registry_version=version,
        dependency_plugin_version=DEPENDENCY_PLUGIN_VERSION,
    )


def _download(cache_dir: Path, version: str) -> CachedDownload:
    return CachedDownload(
        final=schema_registry_dir(cache_dir=cache_dir, version=version),
        pom_text=_pom(version),
        goal_args=("dependency:unpack-dependencies",),
        expect=_RUNNER,
        what=f"Apicurio Registry {version}",
    )


def schema_registry_present(*, cache_dir: Path, version: str = REGISTRY_VERSION) -> bool:
    """Whether the cache holds a complete copy made from the pom this code would use now."""
    return _download(cache_dir, version).present()


def fetch_schema_registry(
    *, cache_dir: Path, version: str = REGISTRY_VERSION, mvn: str = "mvn"
) -> Path:
    """Return the application folder of ``version``, downloading it first when needed.

    Raises:
        JarFetchError: Maven is missing or failed (its output is in the message).
    """
    return _download(cache_dir, version).fetch(mvn=mvn)


def find_java(*, minimum: int = REGISTRY_MIN_JAVA) -> str | None:
    """A ``java`` of at least version ``minimum``: ``JAVA_HOME``'s, ``PATH``'s, then the
    newest under ``/usr/lib/jvm`` (where Debian and Temurin packages install); ``None`` if
    there is none."""
    candidates: list[str] = []
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidates.append(str(Path(java_home) / "bin" / "java"))
    on_path = shutil.which("java")
    if on_path:
        candidates.append(on_path)
    candidates += [str(p) for p in sorted(Path("/usr/lib/jvm").glob("*/bin/java"), reverse=True)]
    best: tuple[int, str] | None = None
    for java in candidates:
        major = java_major_version(java)
        if major is not None and major >= minimum and (best is None or major > best[0]):
            best = (major, java)
    return None if best is None else best[1]


def schema_registry_command(*, java: str, app: Path, port: int, heap: str = "512m") -> list[str]:
    """The command line of a registry on ``127.0.0.1:port`` that keeps schemas in memory.

    Quarkus' separate management interface (health, metrics) would bind ``0.0.0.0:9000``;
    it is switched off so two registries (two test runs) never meet on a fixed port.
    """
    return [
        java,
        f"-Xmx{heap}",
        "-Djava.awt.headless=true",
        "-Dquarkus.http.host=127.0.0.1",
        f"-Dquarkus.http.port={port}",
        "-Dquarkus.management.enabled=false",
        "-jar",
        str(app / _RUNNER),
    ]
