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
    "PayloadTooLargeError",
    "RateLimitedError",
    "ReportRejectedError",
    "ServiceUnavailableError",
    "TokenStoreError",
    "UnauthorizedError",
    "UnknownTokenError",
]


class GatewayError(ProducerError):
    """Root of the gateway's errors; ``status`` and ``code`` say how it is answered."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": str(self)}

    def headers(self) -> dict[str, str]:
        return {}


class UnauthorizedError(GatewayError):
    """No token, a token that is not ours, or a revoked one (never told apart, on purpose)."""

    status = 401
    code = "unauthorized"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="baocao"'}


class ForbiddenError(GatewayError):
    """The token is valid but not for this commune, or may only read."""

    status = 403
    code = "forbidden"


class NotFoundError(GatewayError):
    status = 404
    code = "not_found"


class ConflictError(GatewayError):
    """A report id already submitted with other content."""

    status = 409
    code = "conflict"


class PayloadTooLargeError(GatewayError):
    status = 413
    code = "payload_too_large"


class ReportRejectedError(GatewayError):
    """The report breaks the pipeline's rules: every reason is in the answer."""

    status = 422
    code = "invalid_report"

    def __init__(self, reasons: tuple[Reason, ...], *, report_id: str | None = None) -> None:
        super().__init__(f"the report was refused for {len(reasons)} reason(s)")
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

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ServiceUnavailableError(GatewayError):
    """Kafka did not acknowledge in time, or ClickHouse cannot be read: try again later."""

    status = 503
    code = "unavailable"

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class TokenStoreError(ProducerError):
    """The token and submission store cannot be opened or written (``baocao tokens``)."""


class UnknownTokenError(TokenStoreError):
    """``baocao tokens revoke`` was given a token id that was never issued."""
