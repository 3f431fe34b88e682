"""Reads of the ClickHouse BI views (never the fact tables), for the dashboard and the export.

Rule: a read opens with :meth:`Views.read` and its province; the session's shared reads take
that province from the session, never from their caller. A fresh connection per read keeps
the reader thread-safe (clickhouse-driver clients are not) and is cheap on a LAN; so does
:meth:`ViewSession.gather`, which runs a page's independent reads side by side, each on a
connection of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from clickhouse_driver import Client

from baocao.app.views import slices
from baocao.app.views.copies import ProvinceCopies
from baocao.app.views.exceptions import ViewQueryError
from baocao.app.views.logins import PROVINCE_LOGIN_ERRORS, ProvinceLogin
from baocao.app.views.scope import EVERYTHING, Scope
from baocao.app.views.slices import Slice
from baocao.core.clickhouse import reading, select_rows
from baocao.core.settings import ClickHouseSettings

__all__ = ["COMPLETENESS_COLUMNS", "ProvinceLogin", "ViewSession", "Views"]

T = TypeVar("T")

#: The columns ``province_completeness`` and ``national_completeness`` share.
COMPLETENESS_COLUMNS = (
    "communes_expected, communes_reported, communes_on_time, communes_late, communes_missing,"
    " completeness_pct, timeliness_pct, deadline, status"
)


class ViewSession:
    """One connection's reads, for the province admitted (``None``: the national tier)."""

    def __init__(
        self,
        client: Client,
        province: str | None,
        *,
        side_by_side: Callable[[Callable[[ViewSession], Any]], Future[Any]] | None = None,
    ) -> None:
        self._client = client
        self.province = province
        self._side_by_side = side_by_side

    def gather(self, **reads: Callable[[ViewSession], T]) -> dict[str, T]:
        """Each read's result by name, the reads run at once, each in a session of its own
        on the same login and province. Why: on ClickHouse 18.16 most of a small query's
        time is the analysis of the nested view SQL, on one core per query, so a page's
        dozen reads one after another cost the sum of their times (docs/read-side.md). The
        first read uses this session's connection; without a pool all run here in turn."""
        names = list(reads)
        if self._side_by_side is None or len(names) < 2:
            return {name: reads[name](self) for name in names}
        pending = {name: self._side_by_side(reads[name]) for name in names[1:]}
        first = reads[names[0]](self)
        return {names[0]: first, **{name: future.result() for name, future in pending.items()}}

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """``sql``'s rows as dicts by column name."""
        return select_rows(self._client, sql, params)

    def province_completeness(self, *, report_type: str, period: str) -> list[dict[str, Any]]:
        """``province_completeness`` of the period: the session's province, or every
        province (by code) in a national session."""
        where = "report_type = %(t)s AND period = %(p)s"
        if self.province is not None:
            where += " AND province_code = %(c)s"
        cut = slices.province_completeness(Slice(province=self.province is not None))
        return self.rows(
            f"SELECT province_code, province_name, {COMPLETENESS_COLUMNS}"
            f" FROM {cut} WHERE {where} ORDER BY province_code",
            {"c": self.province, "t": report_type, "p": period},
        )

    def national_completeness(self, *, report_type: str, period: str) -> list[dict[str, Any]]:
        """``national_completeness`` of the period (one row, or none for an unknown one)."""
        return self.rows(
            f"SELECT {COMPLETENESS_COLUMNS}, provinces_complete, provinces_approved"
            f" FROM {slices.national_completeness(Slice())}"
            " WHERE report_type = %(t)s AND period = %(p)s",
            {"t": report_type, "p": period},
        )

    def national_indicators(self, *, report_type: str, period: str) -> list[dict[str, Any]]:
        """``national_indicators`` of the period, by indicator code."""
        return self.rows(
            "SELECT indicator_code, value, provinces_reported, communes_reported,"
            f" communes_expected, status FROM {slices.national_indicators(Slice())}"
            " WHERE report_type = %(t)s AND period = %(p)s ORDER BY indicator_code",
            {"t": report_type, "p": period},
        )

    def communes(self) -> list[dict[str, Any]]:
        """The session's province's communes (``communes``), by code."""
        return self.rows(
            "SELECT commune_code, commune_name FROM communes WHERE province_code = %(c)s"
            " ORDER BY commune_code",
            {"c": self.province},
        )


class Views:
    """The views, read under one scope over ClickHouse settings injected by the caller;
    ``error`` is the caller's own :class:`ViewQueryError` for a server that does not answer.

    A scope narrower than every province reads its province through ``province_login``
    (required then: without it such a read is refused, never widened to ``settings``). A
    national reader reads one province there too when that database can be read
    (:class:`ProvinceCopies`), and in ``settings``' database otherwise."""

    def __init__(
        self,
        settings: ClickHouseSettings,
        *,
        error: type[ViewQueryError] = ViewQueryError,
        scope: Scope = EVERYTHING,
        province_login: ProvinceLogin | None = None,
        pool: Executor | None = None,
        copies: ProvinceCopies | None = None,
    ) -> None:
        self.settings = settings
        self._error = error
        self._scope = scope
        self._province_login = province_login
        #: Where a national reader reads one province: its own database when it can be read.
        self._copies = copies or (ProvinceCopies(province_login) if province_login else None)
        #: The threads of :meth:`ViewSession.gather`, shared by every narrowed copy, so a
        #: process never holds more than ``read_concurrency`` queries on the server at once
        #: (the dashboard's province logins allow 8 each).
        self._pool = pool or (
            ThreadPoolExecutor(settings.read_concurrency, thread_name_prefix="view-read")
            if settings.read_concurrency > 1
            else None
        )

    @property
    def scope(self) -> Scope:
        return self._scope

    def narrowed(self, scope: Scope) -> Views:
        """The same views read under ``scope`` (a signed-in officer's)."""
        return Views(
            self.settings,
            error=self._error,
            scope=scope,
            province_login=self._province_login,
            pool=self._pool,
            copies=self._copies,
        )

    @contextmanager
    def read(self, *, province: str | None = None) -> Iterator[ViewSession]:
        """A session reading ``province`` (``None``: national), once the scope admits it."""
        self._scope.admit(province)
        settings = self._settings_for(province)
        with reading(settings, error=self._error) as client:
            yield ViewSession(client, province, side_by_side=self._side_by_side(settings, province))

    def _side_by_side(
        self, settings: ClickHouseSettings, province: str | None
    ) -> Callable[[Callable[[ViewSession], Any]], Future[Any]] | None:
        """How a session's :meth:`ViewSession.gather` starts a read on the pool, in a
        session of its own (a fresh connection on the same login); ``None`` without a pool."""
        pool = self._pool
        if pool is None:
            return None

        def start(read: Callable[[ViewSession], Any]) -> Future[Any]:
            def run() -> Any:
                with reading(settings, error=self._error) as client:
                    return read(ViewSession(client, province))

            return pool.submit(run)

        return start

    def _settings_for(self, province: str | None) -> ClickHouseSettings:
        if province is None:
            return self.settings
        if self._scope.everything:
            # The same views over the province's rows only, when its database is there.
            copy = self._copies.settings_for(province) if self._copies else None
            return copy or self.settings
        if self._province_login is None:
            raise self._error(f"no ClickHouse login of province {province} for this reader")
        try:
            return self._province_login(province)
        except PROVINCE_LOGIN_ERRORS as exc:
            raise self._error(f"no ClickHouse login of province {province}: {exc}") from exc
