"""A page's reads side by side (``ViewSession.gather``) on the real ClickHouse: each read on a
connection of its own, on the login and database of the session's province, its failure the
reader's own error."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from clickhouse_driver import Client

from baocao.app.views.exceptions import ViewQueryError
from baocao.app.views.reader import Views, ViewSession
from baocao.app.views.scope import Scope
from baocao.core.clickhouse import connect
from baocao.core.settings import ClickHouseSettings, Settings


def _where(views: ViewSession) -> tuple[str, str]:
    """The thread a read ran in and the database its connection is on."""
    [row] = views.rows("SELECT currentDatabase() AS database")
    return threading.current_thread().name, row["database"]


@pytest.fixture
def province_database(test_settings: Settings, clickhouse_db: str) -> Iterator[str]:
    """A second database standing for a province's own (``baocao_pNN``)."""
    name = f"{clickhouse_db}_p01"
    client: Client = connect(test_settings.clickhouse)
    client.execute(f"CREATE DATABASE IF NOT EXISTS `{name}`")
    try:
        yield name
    finally:
        client.execute(f"DROP DATABASE IF EXISTS `{name}`")
        client.disconnect()


def test_gathered_reads_run_at_once_each_on_its_own_connection(
    test_settings: Settings, clickhouse_db: str
) -> None:
    views = Views(test_settings.clickhouse.model_copy(update={"read_concurrency": 3}))
    with views.read() as session:
        read = session.gather(first=_where, second=_where, third=_where, fourth=_where)
    assert list(read) == ["first", "second", "third", "fourth"]
    threads = {name: thread for name, (thread, _) in read.items()}
    # The first on the session's own connection, in the caller's thread; the rest in the pool.
    assert threads["first"] == threading.current_thread().name
    assert all(threads[name].startswith("view-read") for name in ("second", "third", "fourth"))
    assert {database for _, database in read.values()} == {clickhouse_db}


def test_one_read_at_a_time_when_concurrency_is_one(
    test_settings: Settings, clickhouse_db: str
) -> None:
    views = Views(test_settings.clickhouse.model_copy(update={"read_concurrency": 1}))
    with views.read() as session:
        read = session.gather(first=_where, second=_where)
    assert {thread for thread, _ in read.values()} == {threading.current_thread().name}


def test_a_province_sessions_gathered_reads_stay_on_the_province_login(
    test_settings: Settings, province_database: str
) -> None:
    asked: list[str] = []

    def province_login(code: str) -> ClickHouseSettings:
        asked.append(code)
        return test_settings.clickhouse.model_copy(update={"database": province_database})

    views = Views(
        test_settings.clickhouse, scope=Scope.of_province("01"), province_login=province_login
    )
    with views.read(province="01") as session:
        read = session.gather(**{f"read{n}": _where for n in range(6)})
    # Every read, pooled or not, is on the province's database: never widened to the admin's.
    assert {database for _, database in read.values()} == {province_database}
    assert asked == ["01"]


def test_a_failing_read_is_the_readers_error(test_settings: Settings, clickhouse_db: str) -> None:
    views = Views(test_settings.clickhouse)
    with pytest.raises(ViewQueryError, match="no_such_view"), views.read() as session:
        session.gather(
            fine=_where,
            broken=lambda views: views.rows("SELECT * FROM no_such_view"),
        )
