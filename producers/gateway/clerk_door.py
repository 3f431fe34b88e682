"""The commune app's sessions on the gateway: the cookie, its ``Origin`` check, and the
principal a session stands for. The logic is :mod:`baocao.core.logins` (shared with the
dashboard's officer logins); this module only speaks HTTP.

The cookie has its own name (``BAOCAO_GATEWAY_SESSION_COOKIE``), is ``HttpOnly`` (the page's
JavaScript never sees it), ``SameSite=Strict``, ``Path=/``, and ``Secure`` whenever the app is
served over TLS. Any request that carries it and changes something must come from the app's
own origin, since ``SameSite`` does not tell ports of one host apart.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from baocao.core.logins import Session, SessionCookie, SignIn
from baocao.core.settings import GatewaySettings
from baocao.producers.gateway.exceptions import OriginRefusedError, UnauthorizedError
from baocao.producers.gateway.tokens import Principal, Scope

__all__ = ["ClerkDoor"]


class ClerkDoor:
    def __init__(self, sign_in: SignIn, options: GatewaySettings) -> None:
        self.sign_in = sign_in
        self.cookie = SessionCookie(
            options.session_cookie, options.session_hours, options.public_origin
        )

    @property
    def cookie_name(self) -> str:
        return self.cookie.name

    def require_origin(self, request: Request) -> None:
        """Refuse (403) a state-changing request that does not come from the app's origin."""
        scheme, host = request.url.scheme, request.headers.get("host", "")
        if not self.cookie.admits(
            request.method, request.headers.get("origin"), scheme=scheme, host=host
        ):
            allowed = self.cookie.allowed_origins(scheme, host)
            raise OriginRefusedError(
                f"a {request.method} with the session cookie must come from the app's own "
                f"origin ({', '.join(sorted(allowed))}), not {request.headers.get('origin')!r}"
            )

    def principal(self, request: Request) -> Principal | None:
        """The clerk this request's cookie signs in; ``None`` without a cookie."""
        token = request.cookies.get(self.cookie_name)
        if not token:
            return None
        self.require_origin(request)
        session = self.sign_in.session(token)
        if session is None:
            raise UnauthorizedError(
                "the session has expired, was ended, or is not valid; sign in again",
                message_vi="Phiên đăng nhập đã hết hạn hoặc không hợp lệ; hãy đăng nhập lại. "
                "Báo cáo đang chờ gửi vẫn được giữ trên máy.",
            )
        return Principal(
            token_id=f"login:{session.login.login_id}",
            scope=Scope.COMMUNE,
            code=session.login.code,
            via_session=True,
        )

    def set_cookie(self, response: Response, request: Request, session: Session) -> None:
        attributes = self.cookie.attributes(request.url.scheme)
        response.set_cookie(
            self.cookie.name, session.token, max_age=self.cookie.max_age, **attributes
        )

    def clear_cookie(self, response: Response, request: Request) -> None:
        response.delete_cookie(self.cookie.name, **self.cookie.attributes(request.url.scheme))
