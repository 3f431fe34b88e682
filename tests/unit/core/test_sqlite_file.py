"""The private SQLite file every local store of baocao is built on."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from baocao.core.sqlite_file import SqliteFile


def test_the_file_and_its_folder_are_private_from_the_first_byte(tmp_path: Path) -> None:
    db = SqliteFile(tmp_path / "new" / "store.db")
    db.create()
    assert stat.S_IMODE(db.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.path.parent.stat().st_mode) == 0o700
    assert db.connection().execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    db = SqliteFile(tmp_path / "store.db")
    db.create()
    with db.transaction() as tx:
        tx.execute("CREATE TABLE t (v INTEGER)")
    with pytest.raises(RuntimeError), db.transaction() as tx:
        tx.execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("the write's caller failed")
    assert db.connection().execute("SELECT count(*) FROM t").fetchone()[0] == 0


def test_each_thread_has_its_own_connection_and_close_ends_them_all(tmp_path: Path) -> None:
    db = SqliteFile(tmp_path / "store.db")
    db.create()
    seen: list[object] = []
    worker = threading.Thread(target=lambda: seen.append(db.connection()))
    worker.start()
    worker.join()
    assert seen[0] is not db.connection()
    db.close()
    with db.transaction() as tx:  # a new connection after close
        tx.execute("CREATE TABLE again (v INTEGER)")
