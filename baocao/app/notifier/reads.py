"""What the notifier reads: who has reported (ClickHouse's ``commune_receipts`` view, as its
own read-only login) and whom to tell (the contacts in the dashboard's SQLite file).

Periods and deadlines are computed here from the deadline rules (:mod:`baocao.core.periods`,
the worker's own rules), not read from ``reporting_periods``: the worker announces a period
only from its alert horizon (72 h) before the deadline, and a reminder may be due earlier.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from baocao.app.dashboard.contacts import Contact, ContactStore
from baocao.app.notifier.due import PeriodStatus, Watched
from baocao.app.notifier.exceptions import ReadError
from baocao.core.clickhouse import reading, select_rows
from baocao.core.obligations import Obligations
from baocao.core.reference import ReferenceData
from baocao.core.settings import ClickHouseSettings

__all__ = ["ContactBook", "statuses_of"]

_RECEIPTS = (
    "SELECT commune_code, period, first_received_at FROM commune_receipts"
    " WHERE period IN %(periods)s AND province_code IN %(provinces)s"
)


def statuses_of(
    watched: list[Watched],
    provinces: Iterable[str],
    clickhouse: ClickHouseSettings,
    reference: ReferenceData,
    obligations: Obligations,
) -> list[PeriodStatus]:
    """Each province's communes on each watched period: who must report, who did and when."""
    provinces = tuple(provinces)
    if not watched or not provinces:
        return []
    received: dict[str, dict[str, datetime]] = defaultdict(dict)
    with reading(clickhouse, error=ReadError) as client:
        rows = select_rows(
            client,
            _RECEIPTS,
            {"periods": tuple(w.period.text for w in watched), "provinces": provinces},
        )
    for row in rows:
        at: datetime = row["first_received_at"]
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        received[row["period"]][row["commune_code"]] = at
    statuses = []
    for w in watched:
        for province in provinces:
            expected = obligations.due(reference.communes_by_province[province], w.period)
            due = set(expected)
            reported = {c: at for c, at in received[w.period.text].items() if c in due}
            statuses.append(PeriodStatus(w, province, tuple(expected), reported))
    return statuses


class ContactBook:
    """The contacts of the provinces in scope, read once per pass."""

    def __init__(self, store: ContactStore, provinces: Iterable[str]) -> None:
        self._clerks: dict[str, list[Contact]] = defaultdict(list)
        self._officers: dict[str, list[Contact]] = defaultdict(list)
        for province in provinces:
            for contact in store.of_province(province):
                if contact.role == "officer":
                    self._officers[contact.code].append(contact)
                else:
                    self._clerks[contact.code].append(contact)

    def clerks(self, commune: str) -> list[Contact]:
        return self._clerks.get(commune, [])

    def officers(self, province: str) -> list[Contact]:
        return self._officers.get(province, [])
