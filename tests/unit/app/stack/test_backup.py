"""``baocao backup`` / ``baocao restore`` as an operator runs them: the secrets and the
gateway's database come back with their content and modes, a live database is copied
consistently, and a restore does not overwrite a running stack's files by accident."""

from __future__ import annotations

import os
import sqlite3
import stat
import tarfile
from pathlib import Path

from support.cli import invoke

from baocao.core.settings import GatewaySettings, Settings, StackSettings


def _settings(home: Path) -> Settings:
    return Settings(
        stack=StackSettings(home=home),
        gateway=GatewaySettings(db_path=home / "gateway" / "gateway.db"),
    )


def _private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(text)
    path.chmod(0o600)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_backup_then_restore_into_an_empty_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _private(home / "secrets" / "clickhouse.json", '{"baocao_admin": "pw1"}')
    _private(home / "kafka" / "credentials" / "admin.json", '{"password": "pw2"}')
    _private(home / "bi" / "credentials.json", '{"baocao_bi": "pw3"}')
    database = home / "gateway" / "gateway.db"
    database.parent.mkdir(parents=True)
    writer = sqlite3.connect(database)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE tokens (id TEXT, hash TEXT)")
    writer.execute("INSERT INTO tokens VALUES ('t1', 'h1')")
    writer.commit()  # the gateway keeps its connection open: the backup runs meanwhile
    archive = tmp_path / "out" / "baocao-state.tgz"

    done = invoke("backup", str(archive), settings=_settings(home))
    writer.close()
    assert done.exit_code == 0, done.output
    assert "bi/credentials.json" in done.output and "gateway/gateway.db" in done.output
    assert _mode(archive) == 0o600
    with tarfile.open(archive) as tar:
        assert {"secrets/clickhouse.json", "kafka/credentials/admin.json"} <= set(tar.getnames())

    fresh = tmp_path / "fresh"
    done = invoke("restore", str(archive), settings=_settings(fresh))
    assert done.exit_code == 0, done.output
    assert (fresh / "secrets" / "clickhouse.json").read_text() == '{"baocao_admin": "pw1"}'
    assert (fresh / "kafka" / "credentials" / "admin.json").read_text() == '{"password": "pw2"}'
    assert _mode(fresh / "bi" / "credentials.json") == 0o600
    assert _mode(fresh / "secrets") == 0o700
    restored = sqlite3.connect(fresh / "gateway" / "gateway.db")
    try:
        assert restored.execute("SELECT id, hash FROM tokens").fetchall() == [("t1", "h1")]
    finally:
        restored.close()
    assert _mode(fresh / "gateway" / "gateway.db") == 0o600


def test_restore_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _private(home / "secrets" / "clickhouse.json", "old")
    archive = tmp_path / "state.tgz"
    assert invoke("backup", str(archive), settings=_settings(home)).exit_code == 0
    (home / "secrets" / "clickhouse.json").write_text("changed since")

    refused = invoke("restore", str(archive), settings=_settings(home))
    assert refused.exit_code == 1
    assert (home / "secrets" / "clickhouse.json").read_text() == "changed since"
    forced = invoke("restore", str(archive), "--force", settings=_settings(home))
    assert forced.exit_code == 0, forced.output
    assert (home / "secrets" / "clickhouse.json").read_text() == "old"


def test_an_archive_with_foreign_paths_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tgz"
    outside = tmp_path / "payload"
    outside.write_text("x")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(outside, arcname="../../etc/cron.d/x")
    done = invoke("restore", str(archive), settings=_settings(tmp_path / "home"))
    assert done.exit_code == 1
    assert not (tmp_path / "home").exists()
    assert not os.path.exists(tmp_path.parent.parent / "etc" / "cron.d" / "x")
