"""The dashboard's routes: a JSON API over :class:`DashboardQueries` and the static page that
polls it (served together with the export's downloads by :mod:`baocao.app.web`).

Rule: everything the browser loads comes from this package (``static/``), no CDN, so the
dashboard works on an offline provincial network.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from baocao.app.dashboard.clerk_logins import ClerkLogins
from baocao.app.dashboard.contacts import ContactStore, check_contact
from baocao.app.dashboard.door import OfficerDoor
from baocao.app.dashboard.officers import Officer, officer_of
from baocao.app.dashboard.queries import DIVISION_TYPES, DashboardQueries
from baocao.app.dashboard.steps import StepPublisher, StepRequest, step_record
from baocao.core.periods import PeriodError, parse_period
from baocao.core.reference import load_reference
from baocao.producers.exceptions import PublishError

__all__ = ["dashboard_routes", "static_files"]

_PROVINCE = re.compile(r"^\d{2}$")
_COMMUNE = re.compile(r"^\d{5}$")
_REPORT_TYPES = ("daily", "weekly", "monthly", "quarterly", "yearly")


def _static_dir() -> str:
    return str(resources.files("baocao.app.dashboard").joinpath("static"))


def static_files() -> StaticFiles:
    """The page's scripts and styles, mounted at ``/static``."""
    return StaticFiles(directory=_static_dir())


class ContactRow(BaseModel):
    code: str = Field(max_length=8)
    role: str = Field(max_length=16)
    name: str = Field(max_length=200)
    email: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=40)
    language: str = Field(default="vi", max_length=4)


class NewClerk(BaseModel):
    commune: str = Field(pattern=r"^\d{5}$")
    name: str = Field(min_length=1, max_length=120)


class Credentials(BaseModel):
    login: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


def dashboard_routes(
    queries: DashboardQueries,
    door: OfficerDoor,
    publish: StepPublisher | None = None,
    contacts: ContactStore | None = None,
    clerks: ClerkLogins | None = None,
) -> APIRouter:
    """The page and its API over ``queries`` (built by the command from injected settings);
    every data route needs an officer's session (``door``), and reads under their scope,
    which refuses another province before any query is sent."""
    router = APIRouter()
    static = _static_dir()
    officer = Depends(door.officer)

    @router.get("/login", include_in_schema=False)
    def login_page() -> FileResponse:
        return FileResponse(f"{static}/login.html", headers={"Cache-Control": "no-cache"})

    @router.post("/api/session")
    async def sign_in(credentials: Credentials, request: Request) -> Response:
        """Sign in; 401 for a wrong login or password (never told apart), 429 too fast."""
        door.require_origin(request)
        address = request.client.host if request.client else "unknown"
        outcome = await door.open_session(credentials.login, credentials.password, address=address)
        if outcome.retry_after:
            return JSONResponse(
                {
                    "error": "too_many_attempts",
                    "retry_after": outcome.retry_after,
                    "message_vi": f"Thử lại sau {outcome.retry_after} giây.",
                    "message_en": f"Try again in {outcome.retry_after} seconds.",
                },
                429,
                headers={"Retry-After": str(outcome.retry_after)},
            )
        if outcome.session is None:
            return JSONResponse(
                {
                    "error": "wrong_login",
                    "message_vi": "Sai tên đăng nhập hoặc mật khẩu.",
                    "message_en": "Wrong login or password.",
                },
                401,
            )
        response = JSONResponse(officer_of(outcome.session.login).as_json())
        door.set_cookie(response, request, outcome.session)
        return response

    @router.post("/api/session/end")
    def sign_out(request: Request) -> Response:
        door.require_origin(request)
        door.sign_out(request)
        response = JSONResponse({"signed_out": True})
        door.clear_cookie(response, request)
        return response

    @router.get("/api/me")
    def me(who: Officer = officer) -> dict[str, str | None]:
        return who.as_json()

    def _report_type(value: str) -> str:
        if value not in _REPORT_TYPES:
            raise HTTPException(422, f"report_type must be one of {', '.join(_REPORT_TYPES)}")
        return value

    def _period(value: str) -> str:
        try:
            return str(parse_period(value))
        except PeriodError as exc:
            raise HTTPException(422, str(exc)) from exc

    @router.get("/", include_in_schema=False)
    def index(request: Request) -> Response:
        if door.session(request) is None:
            return RedirectResponse("/login", 303)
        return FileResponse(f"{static}/index.html", headers={"Cache-Control": "no-cache"})

    @router.get("/api/periods")
    def periods(who: Officer = officer) -> list[dict[str, Any]]:
        return queries.for_scope(who.scope).periods()

    @router.get("/api/periods/default")
    def default_period(who: Officer = officer) -> dict[str, str]:
        """Where the page opens when its URL names no period (see
        :meth:`DashboardQueries.default_period`)."""
        return queries.for_scope(who.scope).default_period()

    @router.get("/api/overview")
    def overview(
        report_type: str = Query(...), period: str = Query(...), who: Officer = officer
    ) -> dict[str, Any]:
        reads = queries.for_scope(who.scope)
        return reads.overview(report_type=_report_type(report_type), period=period)

    @router.get("/api/provinces/{code}")
    def province(
        code: str,
        report_type: str = Query(...),
        period: str = Query(...),
        division_type: str | None = Query(None),
        who: Officer = officer,
    ) -> dict[str, Any]:
        if not _PROVINCE.match(code):
            raise HTTPException(422, "a province code is two digits")
        if division_type is not None and division_type not in DIVISION_TYPES:
            raise HTTPException(422, f"a unit type is one of {', '.join(DIVISION_TYPES)}")
        reads = queries.for_scope(who.scope)
        page = reads.province(
            code,
            report_type=_report_type(report_type),
            period=_period(period),
            division_type=division_type,
        )
        if contacts is not None:
            # A missing commune is listed with its clerk's contact, to call or write to.
            clerks: dict[str, dict[str, str]] = {}
            for contact in contacts.of_province(code):
                if contact.role == "clerk":
                    clerks.setdefault(contact.code, contact.as_json())
            for commune in page["communes"]:
                if commune["status"] == "missing":
                    commune["contact"] = clerks.get(commune["code"])
        return page

    @router.get("/api/provinces/{code}/contacts")
    def province_contacts(code: str, who: Officer = officer) -> list[dict[str, str]]:
        """The contacts of the province's officers and its communes' clerks."""
        if not _PROVINCE.match(code):
            raise HTTPException(422, "a province code is two digits")
        who.scope.admit(code)
        if contacts is None:
            raise HTTPException(503, "contacts are not configured on this dashboard")
        return [c.as_json() for c in contacts.of_province(code)]

    @router.put("/api/provinces/{code}/contacts")
    def edit_contact(code: str, row: ContactRow, who: Officer = officer) -> dict[str, str]:
        """Add or change one contact of the province (a clerk of one of its communes, or an
        officer of the province), checked as an imported row is."""
        if not _PROVINCE.match(code):
            raise HTTPException(422, "a province code is two digits")
        who.scope.admit(code)
        if contacts is None:
            raise HTTPException(503, "contacts are not configured on this dashboard")
        contact, problems = check_contact(row.model_dump(), load_reference())
        if contact is not None:
            reference = load_reference()
            owner = (
                contact.code
                if contact.role == "officer"
                else reference.communes[contact.code].province_code
            )
            if owner != code:
                problems = [f"{contact.code} is not of province {code}"]
        if contact is None or problems:
            raise HTTPException(
                422,
                {"error": "bad_contact", "problems": problems, "message_vi": "; ".join(problems)},
            )
        contacts.save([contact], by=who.login_id)
        return contact.as_json()

    def _clerks(code: str, who: Officer) -> ClerkLogins:
        if not _PROVINCE.match(code):
            raise HTTPException(422, "a province code is two digits")
        who.scope.admit(code)
        if clerks is None:
            raise HTTPException(503, "clerk logins are not configured on this dashboard")
        return clerks

    @router.get("/api/provinces/{code}/clerks")
    def list_clerks(code: str, who: Officer = officer) -> list[dict[str, Any]]:
        """The clerk logins of the province's communes (never a password)."""
        return _clerks(code, who).of_province(code)

    @router.post("/api/provinces/{code}/clerks", status_code=201)
    def add_clerk_login(code: str, new: NewClerk, who: Officer = officer) -> dict[str, Any]:
        """A new clerk login for a commune of the province; the password is shown once."""
        return _clerks(code, who).add(code, new.commune, new.name)

    @router.post("/api/provinces/{code}/clerks/{login}/reset")
    def reset_clerk_login(code: str, login: str, who: Officer = officer) -> dict[str, Any]:
        """A new password (shown once); the clerk's sessions end."""
        return _clerks(code, who).reset(code, login)

    @router.post("/api/provinces/{code}/clerks/{login}/disable")
    def disable_clerk_login(code: str, login: str, who: Officer = officer) -> dict[str, Any]:
        """The clerk can no longer sign in; open sessions end at once."""
        return _clerks(code, who).disable(code, login)

    @router.post("/api/provinces/{code}/steps", status_code=202)
    def take_step(code: str, step: StepRequest, who: Officer = officer) -> dict[str, Any]:
        """Publish an approval step for the worker to decide; the decision shows in the
        province's ``approval.history`` once the views have it."""
        if not _PROVINCE.match(code):
            raise HTTPException(422, "a province code is two digits")
        reads = queries.for_scope(who.scope)
        reads.admit(code)  # 403 before anything is read or sent
        record = step_record(who, code, step)
        if step.action == "approve" and not step.confirm_missing:
            missing = reads.missing_communes(
                code, report_type=record["report_type"], period=record["period"]
            )
            if missing:
                raise HTTPException(
                    409,
                    {
                        "error": "missing_communes",
                        "missing": missing,
                        "message_vi": f"{len(missing)} xã chưa báo cáo; xác nhận để phê duyệt.",
                        "message_en": f"{len(missing)} communes have not reported; confirm.",
                    },
                )
        if publish is None:
            raise HTTPException(503, "approval steps are not configured on this dashboard")
        try:
            publish(record)
        except PublishError as exc:
            raise HTTPException(
                503,
                {
                    "error": "kafka_unavailable",
                    "message_vi": "Không gửi được; hãy thử lại.",
                    "message_en": f"Could not send the step: {exc}",
                },
            ) from exc
        return {"approval_id": record["approval_id"], "action": step.action, "status": "sent"}

    @router.get("/api/communes/{code}")
    def commune(code: str, period: str = Query(...), who: Officer = officer) -> dict[str, Any]:
        if not _COMMUNE.match(code):
            raise HTTPException(422, "a commune code is five digits")
        if code not in load_reference().communes:
            raise HTTPException(404, f"no commune {code} in the reference data")
        return queries.for_scope(who.scope).commune(code, period=period)

    return router
