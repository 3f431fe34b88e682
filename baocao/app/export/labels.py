"""The words of an exported report, in Vietnamese (the default: it is handed to a Vietnamese
office) and English. One table per language with the same keys; a unit test checks that."""

from __future__ import annotations

from enum import StrEnum

from baocao.core.catalogue import UNITS_VI

__all__ = ["LABELS", "UNITS_VI", "Lang", "label", "unit_label"]


class Lang(StrEnum):
    VI = "vi"
    EN = "en"


LABELS: dict[Lang, dict[str, str]] = {
    Lang.VI: {
        "daily": "ngày",
        "weekly": "tuần",
        "monthly": "tháng",
        "quarterly": "quý",
        "yearly": "năm",
        "title_province": "Báo cáo {type} {period} — {name} ({code})",
        "title_national": "Báo cáo {type} {period} — Toàn quốc",
        "subtitle": "Số liệu từ các view BI của baocao; xuất lúc {at} (giờ Việt Nam, UTC+7)",
        "sheet_summary": "Tổng hợp",
        "sheet_indicators": "Chỉ tiêu",
        "sheet_communes": "Xã",
        "sheet_provinces": "Tỉnh",
        "province": "Tỉnh, thành phố",
        "report_type": "Loại báo cáo",
        "period": "Kỳ báo cáo",
        "deadline": "Hạn nộp",
        "status": "Trạng thái số liệu",
        "expected": "Số xã phải báo cáo",
        "reported": "Số xã đã báo cáo",
        "on_time": "Đúng hạn",
        "late": "Trễ hạn",
        "missing": "Chưa báo cáo",
        "reported_status": "Đã báo cáo",
        "completeness": "Tỷ lệ đầy đủ",
        "timeliness": "Tỷ lệ đúng hạn",
        "approval": "Phê duyệt",
        "approved_by": "Người phê duyệt",
        "approved_at": "Thời điểm phê duyệt",
        "approval_note": "Ghi chú phê duyệt",
        "not_approved": "Chưa phê duyệt",
        "provinces_complete": "Số tỉnh đủ báo cáo",
        "provinces_approved": "Số tỉnh đã phê duyệt",
        "generated_at": "Thời điểm xuất",
        "provisional": "Tạm tính",
        "final": "Chính thức",
        "approved": "Đã phê duyệt",
        "code": "Mã chỉ tiêu",
        "indicator": "Chỉ tiêu",
        "unit": "Đơn vị",
        "value": "Giá trị",
        "communes_reported": "Số xã đã báo cáo",
        "communes_expected": "Số xã phải báo cáo",
        "provinces_reported": "Số tỉnh đã báo cáo",
        "commune_code": "Mã xã",
        "commune_name": "Xã, phường, đặc khu",
        "report_status": "Tình trạng báo cáo",
        "revision": "Lần nộp",
        "submitted_at": "Nộp lúc",
        "amended": "Sửa sau khi khóa sổ",
        "warnings": "Số cảnh báo",
        "warning_details": "Nội dung cảnh báo",
        "communes_with_warnings": "Số xã có cảnh báo",
        "province_code": "Mã tỉnh",
        "province_name": "Tỉnh, thành phố",
        "province_total": "Toàn tỉnh",
        "national_total": "Toàn quốc",
        "yes": "Có",
        "none": "Không có",
    },
    Lang.EN: {
        "daily": "daily",
        "weekly": "weekly",
        "monthly": "monthly",
        "quarterly": "quarterly",
        "yearly": "yearly",
        "title_province": "{Type} report {period} — {name} ({code})",
        "title_national": "{Type} report {period} — National",
        "subtitle": "Figures from the baocao BI views; exported {at} (Vietnam time, UTC+7)",
        "sheet_summary": "Summary",
        "sheet_indicators": "Indicators",
        "sheet_communes": "Communes",
        "sheet_provinces": "Provinces",
        "province": "Province",
        "report_type": "Report type",
        "period": "Period",
        "deadline": "Deadline",
        "status": "Status of the figures",
        "expected": "Communes expected",
        "reported": "Communes reported",
        "on_time": "On time",
        "late": "Late",
        "missing": "Missing",
        "reported_status": "Reported",
        "completeness": "Completeness",
        "timeliness": "Timeliness",
        "approval": "Approval",
        "approved_by": "Approved by",
        "approved_at": "Approved at",
        "approval_note": "Approval note",
        "not_approved": "Not approved",
        "provinces_complete": "Provinces complete",
        "provinces_approved": "Provinces approved",
        "generated_at": "Exported at",
        "provisional": "Provisional",
        "final": "Final",
        "approved": "Approved",
        "code": "Indicator code",
        "indicator": "Indicator",
        "unit": "Unit",
        "value": "Value",
        "communes_reported": "Communes reported",
        "communes_expected": "Communes expected",
        "provinces_reported": "Provinces reported",
        "commune_code": "Commune code",
        "commune_name": "Commune",
        "report_status": "Report status",
        "revision": "Revision",
        "submitted_at": "Submitted at",
        "amended": "Amended after the lock",
        "warnings": "Warnings",
        "warning_details": "Warning details",
        "communes_with_warnings": "Communes with warnings",
        "province_code": "Province code",
        "province_name": "Province",
        "province_total": "Province total",
        "national_total": "National total",
        "yes": "Yes",
        "none": "None",
    },
}


def label(lang: Lang, key: str) -> str:
    return LABELS[lang][key]


def unit_label(lang: Lang, unit: str) -> str:
    """``unit`` as the reader of ``lang`` writes it (unknown units as they are)."""
    return UNITS_VI.get(unit, unit) if lang is Lang.VI else unit
