"""The rules a well-formed report must meet to count, shared by the stream and the producers.

One function, one list of reasons: a commune told "fix these three things" fixes them in one
go, so every rule is checked and every failure returned, not only the first.

The period decides the report type (see :mod:`baocao.core.periods`), and the type decides which
indicators the report may carry. Whether a period is still open (deadline, lock, approval)
is not checked here: that depends on time and on approvals, which only the stream knows.
"""

from __future__ import annotations

import math
import re

from baocao.core.catalogue import Catalogue
from baocao.core.lineage import MERGER_AT, Crosswalk, legacy_code_of, load_crosswalk
from baocao.core.models import CommuneReport
from baocao.core.periods import Period, PeriodError, parse_period
from baocao.core.reasons import Reason, ReasonCode, reason
from baocao.core.reference import ReferenceData

__all__ = ["MONTHLY_PERIOD", "validate_report"]

#: Monthly periods (the simulator's and ``baocao simulate``'s form); every accepted form is
#: in :mod:`baocao.core.periods`.
MONTHLY_PERIOD = re.compile(r"^(?P<year>20\d\d)-(?P<month>0[1-9]|1[0-2])$")
#: Largest value any indicator may take (money is in million VND): guards against typos such
#: as a value pasted with its digits doubled, and keeps sums far inside float precision.
MAX_VALUE = 1e12

_TYPE_VI: dict[str, str] = {
    "daily": "ngày",
    "weekly": "tuần",
    "monthly": "tháng",
    "quarterly": "quý",
    "yearly": "năm",
}


def validate_report(
    report: CommuneReport,
    reference: ReferenceData,
    catalogue: Catalogue,
    *,
    crosswalk: Crosswalk | None = None,
) -> list[Reason]:
    """Every reason this report cannot be accepted; empty when it is valid.

    A pre-2025 code (``L`` + old code, :mod:`baocao.core.lineage`) is valid for a period that
    ends by 1 July 2025, with ``province_code`` the 2025 province its new communes belong to
    (the one it counts toward and is keyed by)."""
    reasons: list[Reason] = []
    province = reference.provinces.get(report.province_code)
    if province is None:
        reasons.append(
            reason(ReasonCode.UNKNOWN_PROVINCE, repr(report.province_code), field="province_code")
        )
    old_code = legacy_code_of(report.commune_code)
    if old_code is not None:
        commune = None
        reasons.extend(_legacy_reasons(report, old_code, reference, crosswalk or load_crosswalk()))
    else:
        commune = reference.communes.get(report.commune_code)
        if commune is None:
            reasons.append(
                reason(ReasonCode.UNKNOWN_COMMUNE, repr(report.commune_code), field="commune_code")
            )
    if province is not None and commune is not None and commune.province_code != province.code:
        owner = reference.provinces[commune.province_code]
        reasons.append(
            reason(
                ReasonCode.COMMUNE_NOT_IN_PROVINCE,
                f"{commune.code} ({commune.name}) belongs to province {owner.code} "
                f"({owner.name}), not {province.code}",
                detail_vi=f"{commune.code} ({commune.name}) thuộc tỉnh {owner.code} "
                f"({owner.name}), không thuộc tỉnh {province.code}",
                field="province_code",
            )
        )
    period: Period | None
    try:
        period = parse_period(report.period)
    except PeriodError:
        period = None
        reasons.append(reason(ReasonCode.INVALID_PERIOD, repr(report.period), field="period"))
    if (
        period is not None
        and report.report_type is not None
        and report.report_type != period.report_type
    ):
        # v2 reports may name their type; the period's form stays the single source of truth.
        reasons.append(
            reason(
                ReasonCode.REPORT_TYPE_MISMATCH,
                f"{report.report_type!r} does not match period {report.period!r}"
                f" ({period.report_type})",
                detail_vi=f"{report.report_type!r} không khớp với kỳ {report.period!r}"
                f" ({_TYPE_VI[period.report_type]})",
                field="report_type",
            )
        )
    if report.revision < 1:
        reasons.append(reason(ReasonCode.INVALID_REVISION, report.revision, field="revision"))
    if not report.indicators:
        reasons.append(reason(ReasonCode.EMPTY_REPORT, field="indicators"))
    for code, value in sorted(report.indicators.items()):
        where = f"indicators.{code}"
        indicator = catalogue.indicators.get(code)
        if indicator is None:
            reasons.append(reason(ReasonCode.UNKNOWN_INDICATOR, repr(code), field=where))
        elif indicator.is_derived:
            reasons.append(reason(ReasonCode.DERIVED_INDICATOR, repr(code), field=where))
        else:
            if period is not None and period.report_type not in indicator.report_types:
                reasons.append(_not_in_report_type(code, period, indicator.report_types, where))
            if not math.isfinite(value):
                reasons.append(reason(ReasonCode.VALUE_NOT_FINITE, f"{code}={value}", field=where))
            elif (indicator.non_negative and value < 0) or abs(value) > MAX_VALUE:
                reasons.append(
                    reason(ReasonCode.VALUE_OUT_OF_RANGE, f"{code}={value}", field=where)
                )
    return reasons


def _legacy_reasons(
    report: CommuneReport, old_code: str, reference: ReferenceData, crosswalk: Crosswalk
) -> list[Reason]:
    """Why an old-code report cannot count: an old code that never existed, a period after
    the merger, or a province that is not the one its new communes are in."""
    old = crosswalk.legacy_communes.get(old_code)
    if old is None:
        return [
            reason(
                ReasonCode.UNKNOWN_LEGACY_COMMUNE, repr(report.commune_code), field="commune_code"
            )
        ]
    reasons: list[Reason] = []
    try:
        period: Period | None = parse_period(report.period)
    except PeriodError:
        period = None  # reported once, below
    if period is not None and period.ends_at > MERGER_AT:
        detail = f"{report.commune_code} ({old.name}) for period {report.period}"
        reasons.append(reason(ReasonCode.LEGACY_COMMUNE_AFTER_MERGER, detail, field="commune_code"))
    new_province = reference.communes[crosswalk.lineage[old_code][0].new_code].province_code
    if report.province_code in reference.provinces and report.province_code != new_province:
        name = reference.provinces[new_province].name
        reasons.append(
            reason(
                ReasonCode.COMMUNE_NOT_IN_PROVINCE,
                f"{report.commune_code} ({old.name}, {old.province_name} before 2025) counts"
                f" toward province {new_province} ({name}), not {report.province_code}",
                detail_vi=f"{report.commune_code} ({old.name}, {old.province_name} trước 2025)"
                f" được tính vào tỉnh {new_province} ({name}), không phải {report.province_code}",
                field="province_code",
            )
        )
    return reasons


def _not_in_report_type(code: str, period: Period, carried: tuple[str, ...], where: str) -> Reason:
    return reason(
        ReasonCode.INDICATOR_NOT_IN_REPORT_TYPE,
        f"{code!r} is not part of {period.report_type} reports (period {period.text}); "
        f"it is reported in: {', '.join(carried)}",
        detail_vi=f"{code!r} không thuộc báo cáo {_TYPE_VI[period.report_type]} (kỳ "
        f"{period.text}); chỉ tiêu này có trong báo cáo: "
        + ", ".join(_TYPE_VI[t] for t in carried),
        field=where,
    )
