"""The officers' sessions on the dashboard: the cookie, its ``Origin`` check, the unlock an
administrator records, and the officer a session stands for. The logic is
:mod:`baocao.core.logins` (the commune door's module); this module only speaks HTTP.

The cookie has its own name (``BAOCAO_DASHBOARD_SESSION_COOKIE``), is ``HttpOnly``,
``SameSite=Strict``, ``Path=/``, and ``Secure`` whenever the dashboard is served over TLS.
"""

from __future__ import annotations

from fastapi import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from baocao.app.dashboard.officers import OFFICER_REALM, Officer, OfficerDatabase, officer_of
from baocao.core.logins import (
    LoginStore,
    PasswordHasher,
    Session,
    SessionCookie,
    SignIn,
    SignInLimiter,
    SignInOutcome,
)
from baocao.core.settings import DashboardSettings

__all__ = ["OfficerDoor"]

#: What the page shows when a session is missing or over (Vietnamese first).
SIGNED_OUT = {
    "error": "signed_out",
    "message_vi": "Phiên đăng nhập đã hết hạn hoặc chưa đăng nhập; hãy đăng nhập lại.",
    "message_en": "Your session has expired or you are not signed in; sign in again.",
}


class OfficerDoor:
    def __init__(
        self,
        database: OfficerDatabase,
        options: DashboardSettings,
        *,
        limiter: SignInLimiter | None = None,
    ) -> None:
        self._database = database
        self.cookie = SessionCookie(
            options.session_cookie, options.session_hours, options.public_origin
        )
        self._limiter = limiter or SignInLimiter(
            address_rate=options.signin_rate_per_second, address_burst=options.signin_burst
        )
        self._unlocks_seen: dict[str, float] = {}
        self.sign_in = SignIn(
            LoginStore(database),
            realm=OFFICER_REALM,
            hasher=PasswordHasher(),
            limiter=self._limiter,
            session_seconds=options.session_hours * 3600,
        )

    @property
    def cookie_name(self) -> str:
        return self.cookie.name

    async def open_session(self, login_id: str, password: str, *, address: str) -> SignInOutcome:
        """Sign in (the limits first, after any unlock an administrator recorded since)."""
        account = login_id.strip().lower()
        unlocked = self._database.last_unlock(account)
        if unlocked is not None and unlocked > self._unlocks_seen.get(account, 0.0):
            self._unlocks_seen[account] = unlocked
            self._limiter.forget(account)
        return await self.sign_in.sign_in(account, password, address=address)

    def require_origin(self, request: Request) -> None:
        """Refuse (403) a state-changing request that does not come from the dashboard."""
        scheme, host = request.url.scheme, request.headers.get("host", "")
        if not self.cookie.admits(
            request.method, request.headers.get("origin"), scheme=scheme, host=host
        ):
            raise HTTPException(
                403,
                {
                    "error": "cross_origin",
                    "message_vi": "Yêu cầu không đến từ trang điều hành; đã bị từ chối.",
                    "message_en": "The request does not come from the dashboard; refused.",
                },
            )

    def session(self, request: Request) -> Session | None:
        token = request.cookies.get(self.cookie_name)
        return self.sign_in.session(token) if token else None

    def officer(self, request: Request) -> Officer:
        """The officer this request's cookie signs in, after the ``Origin`` check; 401 else."""
        self.require_origin(request)
        session = self.session(request)
        if session is None:
            raise HTTPException(401, SIGNED_OUT)
        return officer_of(session.login)

    def sign_out(self, request: Request) -> None:
        token = request.cookies.get(self.cookie_name)
        if token:
            self.sign_in.sign_out(token)

    def set_cookie(self, response: Response, request: Request, session: Session) -> None:
        attributes = self.cookie.attributes(request.url.scheme)
        response.set_cookie(
            self.cookie.name, session.token, max_age=self.cookie.max_age, **attributes
        )

    def clear_cookie(self, response: Response, request: Request) -> None:
        response.delete_cookie(self.cookie.name, **self.cookie.attributes(request.url.scheme))
