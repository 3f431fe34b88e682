"""Errors of the gateway: one family, each member knowing the HTTP answer it becomes.

A handler raises; one exception handler (:mod:`baocao.producers.gateway.app`) renders every error as
``{"error": <code>, "message": ..., ...}`` with its status, so no route builds an error
answer by hand and the answers stay uniform for the communes' software.
"""

from __future__ import annotations

from typing import Any, ClassVar

from baocao.core.reasons import Reason
from baocao.producers.exceptions import ProducerError

__all__ = [
    "ConflictError",
    "ForbiddenError",
    "GatewayError",
    "NotFoundError",
    "OriginRefusedError",
    "PayloadTooLargeError",
    "RateLimitedError",
    "ReportRejectedError",
    "ServiceUnavailableError",
    "TokenStoreError",
    "UnauthorizedError",
    "UnknownTokenError",
]


class GatewayError(ProducerError):
    """Root of the gateway's errors; ``status`` and ``code`` say how it is answered, and
    ``message_vi`` is what the commune app shows a clerk (the class's default unless given)."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    default_vi: ClassVar[str] = "Hệ thống gặp lỗi không mong muốn; lỗi đã được ghi lại."

    def __init__(self, message: str = "", *, message_vi: str | None = None) -> None:
        super().__init__(message)
        self.message_vi = message_vi or self.default_vi

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": str(self), "message_vi": self.message_vi}

    def headers(self) -> dict[str, str]:
        return {}


class UnauthorizedError(GatewayError):
    """No token, a token that is not ours, or a revoked one (never told apart, on purpose)."""

    status = 401
    code = "unauthorized"
    default_vi = "Phiên đăng nhập đã hết hoặc không hợp lệ; hãy đăng nhập lại."

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="baocao"'}


class ForbiddenError(GatewayError):
    """The token is valid but not for this commune, or may only read."""

    status = 403
    code = "forbidden"
    default_vi = "Tài khoản này không được làm việc này (chỉ báo cáo của xã mình)."


class NotFoundError(GatewayError):
    status = 404
    code = "not_found"
    default_vi = "Không tìm thấy."


class ConflictError(GatewayError):
    """A report id already submitted with other content."""

    status = 409
    code = "conflict"
    default_vi = "Mã báo cáo này đã được gửi với số liệu khác."


class PayloadTooLargeError(GatewayError):
    status = 413
    code = "payload_too_large"
    default_vi = "Dữ liệu gửi lên quá lớn."


class ReportRejectedError(GatewayError):
    """The report breaks the pipeline's rules: every reason is in the answer."""

    status = 422
    code = "invalid_report"

    def __init__(self, reasons: tuple[Reason, ...], *, report_id: str | None = None) -> None:
        super().__init__(
            f"the report was refused for {len(reasons)} reason(s)",
            message_vi=f"Báo cáo không được nhận vì {len(reasons)} lý do.",
        )
        self.reasons = reasons
        self.report_id = report_id

    def body(self) -> dict[str, Any]:
        return {
            **super().body(),
            "report_id": self.report_id,
            "reasons": [r.as_json() for r in self.reasons],
        }


class RateLimitedError(GatewayError):
    status = 429
    code = "rate_limited"
    default_vi = "Gửi quá nhanh; hãy thử lại sau ít giây."

    def __init__(self, message: str, *, retry_after: int, message_vi: str | None = None) -> None:
        super().__init__(message, message_vi=message_vi)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ServiceUnavailableError(GatewayError):
    """Kafka did not acknowledge in time, or ClickHouse cannot be read: try again later."""

    status = 503
    code = "unavailable"
    default_vi = "Hệ thống tạm thời chưa nhận được; báo cáo vẫn được giữ, hãy gửi lại sau."

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class OriginRefusedError(GatewayError):
    """A request with a session cookie that changes something, from another origin."""

    status = 403
    code = "origin_refused"
    default_vi = "Yêu cầu không đến từ trang báo cáo của hệ thống nên bị từ chối."


class TokenStoreError(ProducerError):
    """The token and submission store cannot be opened or written (``baocao tokens``)."""


class UnknownTokenError(TokenStoreError):
    """``baocao tokens revoke`` was given a token id that was never issued."""
