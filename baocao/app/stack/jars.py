"""The Kafka broker's jars, downloaded once from Maven Central and cached outside the repo.

The stack needs no Kafka release archive: ``kafka-pom.xml`` lists ``kafka_2.13`` and a logging
binding, and ``mvn dependency:copy-dependencies`` copies them with everything they need at run
time into ``<cache_dir>/kafka-<version>/libs``. The folder appears in one rename once the copy
is complete, so an interrupted download is never taken for a good one, and a file lock keeps
two ``baocao stack up`` (a developer's and a test's) from downloading at the same time.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from baocao.app.stack.exceptions import JarFetchError
from baocao.app.stack.locks import file_lock
from baocao.app.stack.templates import render, write_if_changed

__all__ = [
    "DEPENDENCY_PLUGIN_VERSION",
    "LOG4J_VERSION",
    "CachedDownload",
    "fetch_kafka_jars",
    "kafka_jars_dir",
    "kafka_jars_present",
    "maven_fetch",
]

logger = logging.getLogger(__name__)

#: Log4j 2 as shipped with Kafka 4.1's release archive.
LOG4J_VERSION = "2.24.3"
DEPENDENCY_PLUGIN_VERSION = "3.8.1"
#: A cold download is about 60 MB; a slow mirror gets this long before we give up.
FETCH_TIMEOUT_SECONDS = 900.0


def kafka_jars_dir(*, cache_dir: Path, kafka_version: str) -> Path:
    """The folder of the jars of one Kafka version (``java -cp "<it>/*" kafka.Kafka``)."""
    return cache_dir.expanduser().absolute() / f"kafka-{kafka_version}" / "libs"


def _pom(kafka_version: str) -> str:
    return render(
        "kafka-pom.xml",
        kafka_version=kafka_version,
        log4j_version=LOG4J_VERSION,
        dependency_plugin_version=DEPENDENCY_PLUGIN_VERSION,
    )


def _kafka_download(cache_dir: Path, kafka_version: str) -> CachedDownload:
    return CachedDownload(
        final=kafka_jars_dir(cache_dir=cache_dir, kafka_version=kafka_version),
        pom_text=_pom(kafka_version),
        goal_args=("dependency:copy-dependencies", "-DincludeScope=runtime"),
        expect=f"kafka_2.13-{kafka_version}.jar",
        what=f"the Kafka {kafka_version} jars",
    )


def kafka_jars_present(*, cache_dir: Path, kafka_version: str) -> bool:
    """Whether the cache holds a complete copy made from the pom this code would use now."""
    return _kafka_download(cache_dir, kafka_version).present()


def fetch_kafka_jars(*, cache_dir: Path, kafka_version: str, mvn: str = "mvn") -> Path:
    """Return the jar folder of ``kafka_version``, downloading it first when needed.

    Raises:
        JarFetchError: Maven is missing or failed (its output is in the message).
    """
    return _kafka_download(cache_dir, kafka_version).fetch(mvn=mvn)


@dataclass(frozen=True)
class CachedDownload:
    """Something Maven fetches once into the cache: folder ``final``, made by ``goal_args``
    of ``pom_text``, complete when it holds ``expect``."""

    final: Path
    pom_text: str
    goal_args: tuple[str, ...]
    expect: str
    #: What it is, for the log and the errors ("the Kafka 4.1.1 jars").
    what: str

    def present(self) -> bool:
        """Whether the cache holds a complete copy made from the pom this code would use now."""
        try:
            same_pom = (self.final.parent / "pom.xml").read_text(encoding="utf-8") == self.pom_text
        except FileNotFoundError:
            return False
        return same_pom and (self.final / self.expect).is_file()

    def fetch(self, *, mvn: str = "mvn") -> Path:
        """Return ``final``, downloading it first when needed, under the folder's lock.

        Raises:
            JarFetchError: Maven is missing or failed (its output is in the message).
        """
        if self.present():
            return self.final
        folder = self.final.parent
        folder.mkdir(parents=True, exist_ok=True)
        with file_lock(folder / ".lock"):
            if self.present():
                return self.final  # fetched by another process while we waited for the lock
            maven_fetch(self, mvn=mvn)
        return self.final


def maven_fetch(download: CachedDownload, *, mvn: str = "mvn") -> None:
    """Run ``download``'s Maven goal into its folder, all or nothing.

    Maven writes into ``<final>.partial`` with ``pom.partial.xml``; both are renamed into
    place (``final`` and ``pom.xml``) only when ``expect`` exists in the result, so a cache
    with a ``pom.xml`` is always complete. Callers hold the folder's lock.

    Raises:
        JarFetchError: Maven is missing, failed or timed out (its output is in the message).
    """
    final, what, expect = download.final, download.what, download.expect
    folder = final.parent
    program = shutil.which(mvn)
    if program is None:
        raise JarFetchError(
            f"Maven ({mvn}) is needed once to download {what} and is not on PATH;"
            " run scripts/install-system-deps.sh"
        )
    pom = folder / "pom.xml"
    pom.unlink(missing_ok=True)  # only a finished copy leaves a pom behind
    partial = folder / f"{final.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    # unpack-dependencies leaves "already unpacked" markers in target/ and skips the archive
    # while they exist, which would turn a retry after a failed copy into an empty folder.
    markers = folder / "target"
    shutil.rmtree(markers, ignore_errors=True)
    work_pom = folder / "pom.partial.xml"
    write_if_changed(work_pom, download.pom_text)
    argv = [
        program,
        "-B",
        "-q",
        "-Dstyle.color=never",
        "-f",
        str(work_pom),
        *download.goal_args,
        f"-DoutputDirectory={partial}",
    ]
    logger.info("downloading %s into %s (once)", what, final)
    started = time.monotonic()
    try:
        done = subprocess.run(
            argv,
            cwd=folder,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=FETCH_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise JarFetchError(
            f"Maven did not finish downloading {what} in {FETCH_TIMEOUT_SECONDS:.0f}s"
        ) from exc
    finally:
        shutil.rmtree(markers, ignore_errors=True)
    if done.returncode != 0:
        output = "\n".join((done.stdout + done.stderr).strip().splitlines()[-30:])
        raise JarFetchError(f"Maven could not download {what} (exit {done.returncode}):\n{output}")
    if not (partial / expect).is_file():
        raise JarFetchError(f"Maven finished but {partial} holds no {expect}")
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    work_pom.rename(pom)
    logger.info("%s ready in %.0fs", what, time.monotonic() - started)
