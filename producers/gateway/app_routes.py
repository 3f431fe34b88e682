"""The commune app's routes: signing in and out, the form's data, the dry run, and the
spreadsheet upload. Reports themselves go to ``POST /v1/reports`` like every other client's
(:mod:`baocao.producers.gateway.routes`), with the session cookie instead of a token.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from baocao.core.logins import LoginStore, PasswordHasher, SignIn, SignInLimiter
from baocao.core.settings import GatewaySettings
from baocao.producers.exceptions import ReportFileError
from baocao.producers.gateway.answers import GatewayJSONResponse
from baocao.producers.gateway.clerks import COMMUNE_REALM
from baocao.producers.gateway.exceptions import (
    ConflictError,
    ForbiddenError,
    GatewayError,
    RateLimitedError,
    ReportRejectedError,
    UnauthorizedError,
)
from baocao.producers.gateway.routes import gateway, principal, read_body
from baocao.producers.gateway.store import GatewayStore
from baocao.producers.gateway.tokens import Principal, Scope
from baocao.producers.gateway.uploads import SHEET_TYPES, read_sheet

__all__ = ["app_router", "clerk_sign_in"]

logger = logging.getLogger(__name__)

app_router = APIRouter(tags=["commune app"])

#: A sign-in body is a login and a password: anything larger is not one.
_SIGN_IN_MAX_BYTES = 4096


def clerk_sign_in(store: GatewayStore, options: GatewaySettings) -> SignIn:
    """The clerks' sign-in over the gateway's database."""
    return SignIn(
        LoginStore(store),
        realm=COMMUNE_REALM,
        hasher=PasswordHasher(),
        limiter=SignInLimiter(
            address_rate=options.signin_rate_per_second, address_burst=options.signin_burst
        ),
        session_seconds=options.session_hours * 3600,
    )


class SignInBody(BaseModel):
    login: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class InvalidSheetError(GatewayError):
    status = 422
    code = "invalid_sheet"
    default_vi = "Không đọc được tệp bảng tính."


def _clerk(who: Principal) -> Principal:
    if who.scope is not Scope.COMMUNE:
        raise ForbiddenError("the commune app is for communes", message_vi="Chỉ dành cho xã.")
    return who


def _who(request: Request, who: Principal) -> dict[str, Any]:
    reference = gateway(request).form
    return {"login": who.token_id.removeprefix("login:"), **reference.form_commune(who.code)}


@app_router.post("/v1/session", summary="Sign a clerk in (sets the session cookie)")
async def sign_in(request: Request) -> GatewayJSONResponse:
    services = gateway(request)
    services.door.require_origin(request)
    raw = await read_body(request, limit=_SIGN_IN_MAX_BYTES)
    try:
        body = SignInBody.model_validate_json(raw)
    except ValidationError:
        raise UnauthorizedError(
            "send {login, password} as JSON", message_vi="Hãy nhập tên đăng nhập và mật khẩu."
        ) from None
    address = request.client.host if request.client is not None else "unknown"
    outcome = await services.door.sign_in.sign_in(body.login, body.password, address=address)
    if outcome.retry_after:
        raise RateLimitedError(
            f"too many sign-in attempts; try again in {outcome.retry_after} s",
            retry_after=outcome.retry_after,
            message_vi=f"Đăng nhập sai nhiều lần; hãy thử lại sau {outcome.retry_after} giây.",
        )
    if outcome.session is None:
        raise UnauthorizedError(
            "wrong login or password", message_vi="Sai tên đăng nhập hoặc mật khẩu."
        )
    login = outcome.session.login
    answer = {"login": login.login_id, **services.form.form_commune(login.code)}
    response = GatewayJSONResponse(answer)
    services.door.set_cookie(response, request, outcome.session)
    return response


@app_router.get("/v1/session", summary="Who is signed in")
def session(request: Request, who: Principal = Depends(principal)) -> dict[str, Any]:
    return _who(request, _clerk(who))


@app_router.delete("/v1/session", status_code=204, summary="Sign out")
def sign_out(request: Request) -> Response:
    services = gateway(request)
    services.door.require_origin(request)
    token = request.cookies.get(services.door.cookie_name)
    if token:
        services.door.sign_in.sign_out(token)
    response = Response(status_code=204)
    services.door.clear_cookie(response, request)
    return response


@app_router.get("/v1/form", summary="The report types and open periods of the clerk's commune")
def form(request: Request, who: Principal = Depends(principal)) -> dict[str, Any]:
    return gateway(request).form.form(_clerk(who).code)


@app_router.get("/v1/form/{report_type}", summary="The indicators of a report type")
def indicators(
    report_type: str, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    _clerk(who)
    return gateway(request).form.indicators(report_type)


@app_router.get("/v1/periods/{period}/latest", summary="The last accepted revision of a period")
def latest(period: str, request: Request, who: Principal = Depends(principal)) -> dict[str, Any]:
    return gateway(request).form.latest(_clerk(who).code, period)


@app_router.post("/v1/reports:validate", summary="Dry run: what the pipeline would say")
async def validate(request: Request, who: Principal = Depends(principal)) -> dict[str, Any]:
    """Every reason the report would be refused for and every warning it would get; nothing
    is published. Rules that need the pipeline's state are checked against ClickHouse."""
    services = gateway(request)
    body = await read_body(request, limit=services.settings.gateway.max_body_bytes)
    answer: dict[str, Any] = await run_in_threadpool(services.form.check, _clerk(who), body)
    return answer


@app_router.post("/v1/reports:upload", summary="Publish the rows of a filled-in template")
async def upload(request: Request, who: Principal = Depends(principal)) -> dict[str, Any]:
    """The body is the file (``Content-Type`` text/csv or the .xlsx type). Each refused row is
    answered with its reasons and columns; the valid rows are published."""
    services = gateway(request)
    clerk = _clerk(who)
    options = services.settings.gateway
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    suffix = SHEET_TYPES.get(kind)
    if suffix is None:
        raise InvalidSheetError(
            f"send the sheet as {' or '.join(SHEET_TYPES)}, not {kind!r}",
            message_vi="Hãy gửi tệp .xlsx hoặc .csv theo mẫu `baocao template`.",
        )
    data = await read_body(request, limit=options.import_max_bytes)
    try:
        sheet = await asyncio.to_thread(
            read_sheet,
            data,
            suffix=suffix,
            commune_code=clerk.code,
            options=options,
            reference=services.form.reference,
            catalogue=services.form.catalogue,
        )
    except ReportFileError as exc:
        raise InvalidSheetError(
            str(exc), message_vi=f"Không đọc được tệp bảng tính: {exc}"
        ) from None
    rows: list[dict[str, Any]] = []
    for parsed in sheet.rows:
        row: dict[str, Any] = {"row": parsed.number}
        reasons = [
            {**r.as_json(), "column": column}
            for r, column in zip(parsed.reasons, sheet.columns[parsed.number], strict=True)
        ]
        if parsed.report is not None:
            row["report_id"] = parsed.report.report_id
            try:
                accepted = await services.submissions.publish(
                    clerk, parsed.report, gate=services.form.gate
                )
                row["status"] = "replayed" if accepted.replayed else "published"
            except ReportRejectedError as exc:
                reasons = [{**r.as_json(), "column": None} for r in exc.reasons]
            except ConflictError as exc:
                reasons = [
                    {
                        "code": exc.code,
                        "field": "report_id",
                        "column": None,
                        "message_en": str(exc),
                        "message_vi": "Dòng này đã được gửi trước đó với số liệu hoặc thời điểm "
                        "khác; để sửa, hãy tăng số lần điều chỉnh (revision).",
                    }
                ]
        if reasons:
            row.update(status="refused", reasons=reasons)
        rows.append(row)
    return {
        "rows": rows,
        "published": sum(1 for r in rows if r["status"] == "published"),
        "replayed": sum(1 for r in rows if r["status"] == "replayed"),
        "refused": sum(1 for r in rows if r["status"] == "refused"),
    }
