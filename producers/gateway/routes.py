"""The gateway's HTTP routes; each is a few lines over the services of :class:`Gateway`.

Order of the checks on a submission, each with its own status: the token (401), its rate
(429), the body's size (413), whose report it is (403), its validity (422), its report id
(409 for other content under a known id), then Kafka's acknowledgement (202, or 503).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from baocao.producers.gateway.answers import GatewayJSONResponse
from baocao.producers.gateway.exceptions import (
    PayloadTooLargeError,
    RateLimitedError,
    UnauthorizedError,
)
from baocao.producers.gateway.schemas import (
    AcceptedAnswer,
    CommuneReportsAnswer,
    ErrorAnswer,
    HealthAnswer,
    RejectedAnswer,
    ReportStatusAnswer,
    report_body_openapi,
)
from baocao.producers.gateway.services import Gateway
from baocao.producers.gateway.tokens import Principal

__all__ = ["read_body", "router"]

logger = logging.getLogger(__name__)

router = APIRouter()

_bearer = HTTPBearer(
    auto_error=False,
    description="The API token of a commune (submit and read) or a province (read only), "
    "issued with `baocao tokens issue`.",
)


def gateway(request: Request) -> Gateway:
    services: Gateway = request.app.state.gateway
    return services


async def principal(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
) -> Principal:
    """The caller, authenticated (401) and within its rate (429): an API token, else a clerk's
    session cookie (whose state-changing requests must come from the app's origin: 403).
    Each lookup is one indexed SQLite read, done on the event loop (see
    :mod:`baocao.producers.gateway.submit`)."""
    services = gateway(request)
    if credentials is None:
        clerk = services.door.principal(request)
        if clerk is None:
            raise UnauthorizedError(
                "send the API token as Authorization: Bearer <token>, or sign in to the app",
                message_vi="Chưa đăng nhập; hãy đăng nhập lại.",
            )
        who = clerk
    else:
        token = services.tokens.authenticate(credentials.credentials)
        if token is None:
            raise UnauthorizedError("the API token is not valid (unknown or revoked)")
        who = token
    wait = services.limiter.acquire(who.token_id)
    if wait > 0:
        raise RateLimitedError(
            f"too many requests for token {who.token_id}; slow down",
            retry_after=max(1, math.ceil(wait)),
        )
    return who


async def read_body(request: Request, *, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes
    (from ``Content-Length``, or while a chunked body streams in), never read whole first."""
    declared = request.headers.get("content-length")
    too_large_vi = f"Dữ liệu gửi lên quá lớn (tối đa {limit:,} byte).".replace(",", ".")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(
            f"the body has {int(declared):,} bytes; at most {limit:,}", message_vi=too_large_vi
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLargeError(f"the body exceeds {limit:,} bytes", message_vi=too_large_vi)
    return bytes(body)


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorAnswer, "description": "No token, or an unknown or revoked one."},
    429: {"model": ErrorAnswer, "description": "Rate limit of the token; see Retry-After."},
}


@router.post(
    "/v1/reports",
    status_code=202,
    response_model=None,
    summary="Submit a commune report",
    openapi_extra=report_body_openapi(),
    responses={
        202: {"model": AcceptedAnswer, "description": "Published to the pipeline."},
        **_ERRORS,
        403: {
            "model": ErrorAnswer,
            "description": "Not the token's commune, or a read-only token.",
        },
        409: {"model": ErrorAnswer, "description": "The report id was used for other content."},
        413: {"model": ErrorAnswer, "description": "The body is too large."},
        422: {"model": RejectedAnswer, "description": "Refused, with every reason."},
        503: {"model": ErrorAnswer, "description": "Kafka did not acknowledge in time."},
    },
)
async def submit_report(
    request: Request, who: Principal = Depends(principal)
) -> GatewayJSONResponse:
    """Check a report with the pipeline's rules and publish it.

    Sending the same report id again with the same content is safe: the answer is the same
    and the report is published once (the header `Idempotent-Replayed: true` marks it).
    """
    services = gateway(request)
    body = await read_body(request, limit=services.settings.gateway.max_body_bytes)
    gate = services.form.gate if who.via_session else None
    accepted = await services.submissions.submit(who, body, gate=gate)
    headers = {"Location": str(accepted.body["status_url"])}
    if accepted.replayed:
        headers["Idempotent-Replayed"] = "true"
    return GatewayJSONResponse(accepted.body, status_code=202, headers=headers)


@router.get(
    "/v1/reports/{report_id}",
    response_model=ReportStatusAnswer,
    summary="What became of a report",
    responses={**_ERRORS, 404: {"model": ErrorAnswer}, 503: {"model": ErrorAnswer}},
)
def report_status(
    report_id: str, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    """`accepted`, `rejected` (with the stream's reasons), `superseded` (by a higher
    revision) or `pending` (published, not yet processed)."""
    return gateway(request).status.report(who, report_id)


@router.get(
    "/v1/communes/{commune_code}/reports",
    response_model=CommuneReportsAnswer,
    summary="A commune's submissions and their status",
    responses={
        **_ERRORS,
        403: {"model": ErrorAnswer},
        404: {"model": ErrorAnswer},
        503: {"model": ErrorAnswer},
    },
)
def commune_reports(
    commune_code: str,
    request: Request,
    who: Principal = Depends(principal),
    period: str | None = Query(None, max_length=16, description="Only this period."),
    limit: int = Query(100, ge=1, le=1000, description="At most this many, newest first."),
) -> dict[str, Any]:
    """The reports the commune submitted through the gateway, newest first."""
    return gateway(request).status.commune_reports(who, commune_code, period=period, limit=limit)


@router.get(
    "/healthz",
    response_model=HealthAnswer,
    summary="Can the gateway publish and read?",
    responses={503: {"model": HealthAnswer, "description": "Kafka or ClickHouse is down."}},
)
async def healthz(request: Request) -> GatewayJSONResponse:
    report = await gateway(request).health.check()
    return GatewayJSONResponse(report.as_json(), status_code=200 if report.ok else 503)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    registry = gateway(request).metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
