"""Whether a province's own database (``baocao_pNN``) can serve a national reader's reads
of that province, found once a minute per province.

Why: a province's pages read the same views in the province's own database as in the main
one, over its rows only (a physical copy the sink's insert keeps, docs/bi-access.md). On
ClickHouse 18.16, which pushes no filter into a view, the smaller database is what makes a
province's page as fast for a national officer as for the province's own (docs/read-side.md).
Where there is no such database (a current ClickHouse with row policies, a database without
``baocao bi apply``, no dashboard login), the reads stay on the main database.
"""

from __future__ import annotations

import logging
import threading
import time

from baocao.app.views.logins import PROVINCE_LOGIN_ERRORS, ProvinceLogin
from baocao.core.clickhouse import TRANSIENT_ERRORS, connect, describe_error
from baocao.core.settings import ClickHouseSettings

__all__ = ["ProvinceCopies"]

logger = logging.getLogger(__name__)

#: A view every province database holds once ``baocao bi apply`` made it.
_PROBE = "SELECT 1 FROM province_completeness LIMIT 0"


class ProvinceCopies:
    """Province code -> the settings that read its own database, or ``None`` when it cannot
    be read; each answer is kept ``ttl_seconds``."""

    def __init__(self, province_login: ProvinceLogin, *, ttl_seconds: float = 60.0) -> None:
        self._province_login = province_login
        self._ttl = ttl_seconds
        self._known: dict[str, tuple[float, ClickHouseSettings | None]] = {}
        self._lock = threading.Lock()

    def settings_for(self, province: str) -> ClickHouseSettings | None:
        with self._lock:
            known = self._known.get(province)
        if known is not None and known[0] > time.monotonic():
            return known[1]
        found = self._probe(province)
        with self._lock:
            self._known[province] = (time.monotonic() + self._ttl, found)
        return found

    def _probe(self, province: str) -> ClickHouseSettings | None:
        try:
            settings = self._province_login(province)
        except PROVINCE_LOGIN_ERRORS as exc:
            logger.info("province %s is read in the main database: no login (%s)", province, exc)
            return None
        client = connect(settings)
        try:
            client.execute(_PROBE)
        except TRANSIENT_ERRORS as exc:
            logger.info(
                "province %s is read in the main database: %s", province, describe_error(exc)
            )
            return None
        finally:
            client.disconnect()
        return settings
