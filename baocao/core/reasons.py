"""Why a report was refused: stable reason codes with messages in Vietnamese and English.

The codes are a contract with the communes and their software (and with the HTTP gateway):
they never change meaning. The messages are for people and may be improved freely.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Reason", "ReasonCode", "reason"]


class ReasonCode(StrEnum):
    MALFORMED_EVENT = "malformed_event"
    SCHEMA_ERROR = "schema_error"
    UNKNOWN_PROVINCE = "unknown_province"
    UNKNOWN_COMMUNE = "unknown_commune"
    COMMUNE_NOT_IN_PROVINCE = "commune_not_in_province"
    #: A pre-2025 code (``L`` + old code) that the old map does not have.
    UNKNOWN_LEGACY_COMMUNE = "unknown_legacy_commune"
    #: A pre-2025 code for a period that does not end before 1 July 2025.
    LEGACY_COMMUNE_AFTER_MERGER = "legacy_commune_after_merger"
    #: A reporting obligation whose end date is before its start date.
    OBLIGATION_ENDS_BEFORE_START = "obligation_ends_before_start"
    #: A report type that is not one of the pipeline's (daily ... yearly).
    UNKNOWN_REPORT_TYPE = "unknown_report_type"
    #: A reporting obligation event that says nothing the worker can apply (its action).
    INVALID_OBLIGATION = "invalid_obligation"
    UNKNOWN_INDICATOR = "unknown_indicator"
    DERIVED_INDICATOR = "derived_indicator"
    VALUE_NOT_FINITE = "value_not_finite"
    VALUE_OUT_OF_RANGE = "value_out_of_range"
    INVALID_PERIOD = "invalid_period"
    INVALID_REVISION = "invalid_revision"
    EMPTY_REPORT = "empty_report"
    STALE_REVISION = "stale_revision"
    CONFLICTING_REVISION = "conflicting_revision"
    PERIOD_LOCKED = "period_locked"
    INDICATOR_NOT_IN_REPORT_TYPE = "indicator_not_in_report_type"
    REPORT_TYPE_MISMATCH = "report_type_mismatch"
    #: ``baocao import --commune/--province``: a row of a commune outside that scope.
    OUTSIDE_IMPORT_SCOPE = "outside_import_scope"
    #: The pipeline itself failed on the event (a bug, not the sender's fault): it was set
    #: aside so the roll-up goes on, and can be replayed once the bug is fixed.
    INTERNAL_ERROR = "internal_error"
    #: The last reason of a dead letter that had more than the configured number of them.
    MORE_REASONS = "more_reasons"


#: (English, Vietnamese) templates; ``{detail}`` is filled with the specifics.
_MESSAGES: dict[ReasonCode, tuple[str, str]] = {
    ReasonCode.MALFORMED_EVENT: (
        "The event could not be decoded: {detail}",
        "Không giải mã được bản tin: {detail}",
    ),
    ReasonCode.SCHEMA_ERROR: (
        "The report does not match the report schema: {detail}",
        "Báo cáo không đúng cấu trúc quy định: {detail}",
    ),
    ReasonCode.UNKNOWN_PROVINCE: (
        "Unknown province code {detail}",
        "Mã tỉnh {detail} không tồn tại",
    ),
    ReasonCode.UNKNOWN_COMMUNE: (
        "Unknown commune code {detail}",
        "Mã xã {detail} không tồn tại",
    ),
    ReasonCode.COMMUNE_NOT_IN_PROVINCE: (
        "Commune {detail}",
        "Xã {detail}",
    ),
    ReasonCode.UNKNOWN_LEGACY_COMMUNE: (
        "Unknown pre-2025 commune code {detail}: the old map (before 1 July 2025) has no such"
        " commune",
        "Mã xã cũ {detail} không tồn tại trong danh mục trước ngày 01/7/2025",
    ),
    ReasonCode.LEGACY_COMMUNE_AFTER_MERGER: (
        "Pre-2025 commune code {detail}; old codes are accepted only for periods that end"
        " before 1 July 2025: report under the new commune's code",
        "Mã xã cũ {detail}; mã cũ chỉ dùng cho kỳ báo cáo kết thúc trước ngày 01/7/2025: hãy"
        " báo cáo theo mã xã mới",
    ),
    ReasonCode.OBLIGATION_ENDS_BEFORE_START: (
        "The obligation's end date {detail}",
        "Ngày kết thúc nghĩa vụ báo cáo {detail}",
    ),
    ReasonCode.UNKNOWN_REPORT_TYPE: (
        "Unknown report type {detail}; one of daily, weekly, monthly, quarterly, yearly",
        "Loại báo cáo {detail} không tồn tại; một trong daily, weekly, monthly, quarterly, yearly",
    ),
    ReasonCode.INVALID_OBLIGATION: (
        "Not a valid reporting obligation: {detail}",
        "Nghĩa vụ báo cáo không hợp lệ: {detail}",
    ),
    ReasonCode.UNKNOWN_INDICATOR: (
        "Unknown indicator code {detail}",
        "Mã chỉ tiêu {detail} không có trong danh mục",
    ),
    ReasonCode.DERIVED_INDICATOR: (
        "Indicator {detail} is a ratio computed by the system; report its numerator and "
        "denominator instead",
        "Chỉ tiêu {detail} là tỷ lệ do hệ thống tính; hãy báo cáo tử số và mẫu số",
    ),
    ReasonCode.VALUE_NOT_FINITE: (
        "Indicator {detail} is not a finite number",
        "Giá trị chỉ tiêu {detail} không phải là số hợp lệ",
    ),
    ReasonCode.VALUE_OUT_OF_RANGE: (
        "Indicator {detail} is out of range",
        "Giá trị chỉ tiêu {detail} nằm ngoài phạm vi cho phép",
    ),
    ReasonCode.INVALID_PERIOD: (
        "Invalid period {detail}: expected YYYY-MM-DD (daily), YYYY-Www (weekly, ISO week), "
        "YYYY-MM (monthly), YYYY-Qn (quarterly) or YYYY (yearly)",
        "Kỳ báo cáo {detail} không hợp lệ: cần có dạng YYYY-MM-DD (ngày), YYYY-Www (tuần "
        "theo ISO), YYYY-MM (tháng), YYYY-Qn (quý) hoặc YYYY (năm)",
    ),
    ReasonCode.INVALID_REVISION: (
        "Invalid revision {detail}: revisions start at 1",
        "Số lần điều chỉnh {detail} không hợp lệ: bắt đầu từ 1",
    ),
    ReasonCode.EMPTY_REPORT: (
        "The report has no indicator values",
        "Báo cáo không có số liệu chỉ tiêu nào",
    ),
    ReasonCode.STALE_REVISION: (
        "Revision {detail}",
        "Lần điều chỉnh {detail}",
    ),
    ReasonCode.CONFLICTING_REVISION: (
        "Revision {detail} was already received with different figures; submit a higher "
        "revision to correct it",
        "Lần điều chỉnh {detail} đã được nhận với số liệu khác; hãy gửi lần điều chỉnh mới "
        "hơn để sửa",
    ),
    ReasonCode.PERIOD_LOCKED: (
        "Period {detail}; it no longer accepts reports or revisions",
        "Kỳ báo cáo {detail}; không nhận thêm báo cáo hay điều chỉnh",
    ),
    ReasonCode.INDICATOR_NOT_IN_REPORT_TYPE: (
        "Indicator {detail}",
        "Chỉ tiêu {detail}",
    ),
    ReasonCode.REPORT_TYPE_MISMATCH: (
        "Report type {detail}",
        "Loại báo cáo {detail}",
    ),
    ReasonCode.OUTSIDE_IMPORT_SCOPE: (
        "This import is limited to {detail}",
        "Lần nhập này chỉ dành cho {detail}",
    ),
    ReasonCode.INTERNAL_ERROR: (
        "The pipeline failed on this event ({detail}); it was set aside for an operator",
        "Hệ thống gặp lỗi khi xử lý bản tin này ({detail}); bản tin đã được giữ lại để "
        "quản trị viên xử lý",
    ),
    ReasonCode.MORE_REASONS: (
        "{detail}",
        "{detail}",
    ),
}


@dataclass(frozen=True, slots=True)
class Reason:
    code: ReasonCode
    message_en: str
    message_vi: str
    field: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "code": str(self.code),
            "field": self.field,
            "message_en": self.message_en,
            "message_vi": self.message_vi,
        }


def reason(
    code: ReasonCode, detail: object = "", *, field: str | None = None, detail_vi: object = None
) -> Reason:
    """Build a reason with both messages filled in (``detail_vi`` where the wording differs)."""
    english, vietnamese = _MESSAGES[code]
    return Reason(
        code=code,
        message_en=english.format(detail=detail),
        message_vi=vietnamese.format(detail=detail if detail_vi is None else detail_vi),
        field=field,
    )
