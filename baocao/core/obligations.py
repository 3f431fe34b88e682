"""Who must report what, from when: reporting obligations per unit and report type.

By default every 2025 commune must report every report type, always, except the units with no
administration on site (:data:`NO_ADMINISTRATION_ON_SITE`: Đặc khu Hoàng Sa). An obligation
(:class:`Obligation`) replaces that default for one unit and report type with a window of
dates; a unit with an empty set of windows for a type is exempt from it. Completeness counts,
missing lists and alerts ask :meth:`Obligations.is_due`; a report of a unit that is not due is
kept and flagged (a soft warning), never refused.

A period is due when an obligation is in force on the period's last day: a unit whose duty
starts on 20 August reports August.

Changes are events (``reporting_obligation.v1`` on ``Topics.reporting_obligations``, written
by ``baocao obligations``): each says what one unit's obligation of one report type *is* from
then on, replacing what came before, the default included. ``set`` (a window, either side
open), ``end`` (a window with an end date) or ``exempt`` (none). The latest event by
``recorded_at`` wins (:func:`apply_event`), in the worker and in the views alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from baocao.core.periods import REPORT_TYPES, Period, ReportType
from baocao.core.reasons import Reason, ReasonCode, reason
from baocao.core.reference import ReferenceData

__all__ = [
    "NO_ADMINISTRATION_ON_SITE",
    "OBLIGATION_ACTIONS",
    "Obligation",
    "Obligations",
    "apply_event",
    "default_obligations",
    "event_reasons",
    "obligation_reasons",
]

#: What an obligation event does to its unit and report type (module docstring).
OBLIGATION_ACTIONS = ("set", "end", "exempt")

#: Units with no administration on site, by their name in ``vietnam-provinces``: nobody
#: there can report (Hoàng Sa's administration sits in Đà Nẵng).
NO_ADMINISTRATION_ON_SITE = ("Đặc khu Hoàng Sa",)


@dataclass(frozen=True, slots=True)
class Obligation:
    """A unit must report ``report_type`` from ``starts_on`` to ``ends_on`` (inclusive;
    ``None``: without limit on that side)."""

    commune_code: str
    report_type: ReportType
    starts_on: date | None = None
    ends_on: date | None = None

    def in_force_on(self, day: date) -> bool:
        return (self.starts_on is None or self.starts_on <= day) and (
            self.ends_on is None or day <= self.ends_on
        )


@dataclass(frozen=True)
class Obligations:
    """The obligations that differ from the default (every unit, every type, always)."""

    #: (commune, report type) -> its obligations; an empty tuple: exempt.
    overrides: Mapping[tuple[str, str], tuple[Obligation, ...]] = field(default_factory=dict)

    def is_due(self, commune_code: str, period: Period) -> bool:
        """Whether ``commune_code`` must report ``period``."""
        windows = self.overrides.get((commune_code, str(period.report_type)))
        if windows is None:
            return True
        last_day = (period.ends_at - timedelta(milliseconds=1)).date()
        return any(o.in_force_on(last_day) for o in windows)

    def due(self, communes: Iterable[str], period: Period) -> list[str]:
        return [c for c in communes if self.is_due(c, period)]

    def updated(self, report_type: str, state: Mapping[str, Any] | None) -> Obligations:
        """These obligations with a province's events of ``report_type`` applied: ``state``
        is what :func:`apply_event` left (commune -> its entry), or None (no event)."""
        if not state:
            return self
        overrides = dict(self.overrides)
        for commune, entry in state.items():
            overrides[(commune, str(report_type))] = tuple(
                Obligation(
                    commune,
                    ReportType(report_type),
                    _day(starts_on),
                    _day(ends_on),
                )
                for starts_on, ends_on in entry["windows"]
            )
        return Obligations(overrides)


def default_obligations(reference: ReferenceData) -> Obligations:
    """Every unit reports everything, except those with no administration on site."""
    exempt = [c.code for c in reference.communes.values() if c.name in NO_ADMINISTRATION_ON_SITE]
    if len(exempt) != len(NO_ADMINISTRATION_ON_SITE):
        raise ValueError(f"units without administration not all found: {exempt}")
    return Obligations({(code, str(t)): () for code in exempt for t in REPORT_TYPES})


def obligation_reasons(obligation: Obligation, reference: ReferenceData) -> list[Reason]:
    """Why an obligation cannot be recorded: an unknown unit, or an end before its start."""
    reasons: list[Reason] = []
    if obligation.commune_code not in reference.communes:
        reasons.append(
            reason(ReasonCode.UNKNOWN_COMMUNE, repr(obligation.commune_code), field="commune_code")
        )
    if (
        obligation.starts_on is not None
        and obligation.ends_on is not None
        and obligation.ends_on < obligation.starts_on
    ):
        reasons.append(_ends_before_start(obligation.starts_on, obligation.ends_on))
    return reasons


def event_reasons(record: Mapping[str, Any], reference: ReferenceData) -> list[Reason]:
    """Why an obligation event cannot be applied (empty: it can): an unknown unit or one of
    another province, an unknown report type or action, an ``end`` without its date, an
    exemption with dates, an end before its start. The CLI, the worker and the sink ask it."""
    reasons: list[Reason] = []
    commune, province = record.get("commune_code"), record.get("province_code")
    known = reference.communes.get(str(commune))
    if known is None:
        reasons.append(reason(ReasonCode.UNKNOWN_COMMUNE, repr(commune), field="commune_code"))
    elif known.province_code != province:
        reasons.append(
            reason(
                ReasonCode.COMMUNE_NOT_IN_PROVINCE,
                f"{commune} is not in province {province!r}",
                detail_vi=f"{commune} không thuộc tỉnh {province!r}",
                field="province_code",
            )
        )
    report_type = record.get("report_type")
    if report_type not in REPORT_TYPES:
        reasons.append(
            reason(ReasonCode.UNKNOWN_REPORT_TYPE, repr(report_type), field="report_type")
        )
    action = record.get("action")
    starts_on, ends_on = record.get("starts_on"), record.get("ends_on")
    if action not in OBLIGATION_ACTIONS:
        reasons.append(
            reason(
                ReasonCode.INVALID_OBLIGATION,
                f"unknown action {action!r}; one of {', '.join(OBLIGATION_ACTIONS)}",
                detail_vi=f"thao tác {action!r} không tồn tại",
                field="action",
            )
        )
    elif action == "end" and ends_on is None:
        reasons.append(
            reason(
                ReasonCode.INVALID_OBLIGATION,
                "an end needs its end date",
                detail_vi="kết thúc nghĩa vụ cần ngày kết thúc",
                field="ends_on",
            )
        )
    elif action == "exempt" and (starts_on is not None or ends_on is not None):
        reasons.append(
            reason(
                ReasonCode.INVALID_OBLIGATION,
                "an exemption has no dates (end the obligation on a date with 'end')",
                detail_vi="miễn báo cáo không có ngày (dùng 'end' để kết thúc vào một ngày)",
                field="action",
            )
        )
    if isinstance(starts_on, date) and isinstance(ends_on, date) and ends_on < starts_on:
        reasons.append(_ends_before_start(starts_on, ends_on))
    return reasons


def apply_event(
    state: Mapping[str, Any] | None, record: Mapping[str, Any]
) -> dict[str, Any] | None:
    """A province's obligations of one report type (commune -> its windows, as ISO dates or
    None, and the time and id of the event that set them) after the valid event ``record``;
    None when an event recorded later (by ``recorded_at``, then id) already decided the
    unit, so a replay, or events arriving out of order, end the same."""
    commune = str(record["commune_code"])
    recorded_at: datetime = record["recorded_at"]
    # Whole seconds, as ClickHouse's DateTime holds it: the views order events the same way.
    order = [int(recorded_at.timestamp()), str(record["obligation_id"])]
    held = (state or {}).get(commune)
    if held is not None and list(held["order"]) >= order:
        return None
    windows: list[list[str | None]] = []
    if record["action"] != "exempt":
        windows.append([_iso(record.get("starts_on")), _iso(record.get("ends_on"))])
    return {**(state or {}), commune: {"windows": windows, "order": order}}


def _ends_before_start(starts_on: date, ends_on: date) -> Reason:
    return reason(
        ReasonCode.OBLIGATION_ENDS_BEFORE_START,
        f"{ends_on.isoformat()} is before its start {starts_on.isoformat()}",
        detail_vi=f"{ends_on.isoformat()} trước ngày bắt đầu {starts_on.isoformat()}",
        field="ends_on",
    )


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)
