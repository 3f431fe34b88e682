"""The Kafka jar cache, with a stand-in for Maven (the real download is in the integration
tests and in every cold ``baocao stack up``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from baocao.app.stack.exceptions import JarFetchError
from baocao.app.stack.jars import fetch_kafka_jars, kafka_jars_dir, kafka_jars_present

FAKE_MVN = """#!/bin/sh
# Record the call, then do what copy-dependencies does: fill -DoutputDirectory with jars.
echo "$@" >> "{calls}"
for arg in "$@"; do
  case "$arg" in -DoutputDirectory=*) out="${{arg#-DoutputDirectory=}}" ;; esac
done
{body}
"""


def _fake_mvn(tmp_path: Path, body: str) -> tuple[Path, Path]:
    calls = tmp_path / "calls.txt"
    mvn = tmp_path / "mvn"
    mvn.write_text(FAKE_MVN.format(calls=calls, body=body))
    mvn.chmod(0o755)
    return mvn, calls


def test_jars_are_fetched_once_then_reused(tmp_path: Path) -> None:
    mvn, calls = _fake_mvn(
        tmp_path,
        'mkdir -p "$out" && touch "$out/kafka_2.13-4.1.1.jar" "$out/kafka-clients-4.1.1.jar"',
    )
    cache = tmp_path / "cache"
    assert not kafka_jars_present(cache_dir=cache, kafka_version="4.1.1")

    libs = fetch_kafka_jars(cache_dir=cache, kafka_version="4.1.1", mvn=str(mvn))

    assert libs == kafka_jars_dir(cache_dir=cache, kafka_version="4.1.1")
    assert libs == cache / "kafka-4.1.1" / "libs"
    assert sorted(path.name for path in libs.iterdir()) == [
        "kafka-clients-4.1.1.jar",
        "kafka_2.13-4.1.1.jar",
    ]
    assert not (cache / "kafka-4.1.1" / "libs.partial").exists()
    pom = (cache / "kafka-4.1.1" / "pom.xml").read_text()
    assert "<artifactId>kafka_2.13</artifactId>\n      <version>4.1.1</version>" in pom
    assert "<artifactId>log4j-slf4j-impl</artifactId>" in pom
    call = calls.read_text().split()
    assert call[:3] == ["-B", "-q", "-Dstyle.color=never"]
    assert "dependency:copy-dependencies" in call
    assert "-DincludeScope=runtime" in call
    assert kafka_jars_present(cache_dir=cache, kafka_version="4.1.1")

    fetch_kafka_jars(cache_dir=cache, kafka_version="4.1.1", mvn=str(mvn))
    assert len(calls.read_text().splitlines()) == 1  # not downloaded again


def test_a_failed_download_leaves_no_cache_and_says_why(tmp_path: Path) -> None:
    mvn, _ = _fake_mvn(
        tmp_path,
        'mkdir -p "$out" && echo "[ERROR] Could not resolve dependencies" && exit 1',
    )
    cache = tmp_path / "cache"
    with pytest.raises(JarFetchError, match="Could not resolve dependencies"):
        fetch_kafka_jars(cache_dir=cache, kafka_version="4.1.1", mvn=str(mvn))
    assert not kafka_jars_present(cache_dir=cache, kafka_version="4.1.1")
    assert not (cache / "kafka-4.1.1" / "libs").exists()


def test_missing_maven_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(JarFetchError, match=r"install-system-deps\.sh"):
        fetch_kafka_jars(cache_dir=tmp_path, kafka_version="4.1.1", mvn="baocao-no-such-mvn")
