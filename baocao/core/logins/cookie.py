"""The session cookie's policy, shared by every web door (the gateway's commune app and the
dashboard): ``HttpOnly`` (the page's JavaScript never sees it), ``SameSite=Strict``,
``Path=/``, ``Secure`` whenever the app is served over TLS, and the origins that may send
state-changing requests with it. Framework-free: a door passes the request's scheme and
``Host`` and spreads :meth:`SessionCookie.attributes` into its framework's cookie call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from baocao.core.logins.origin import origin_allowed, own_origin

__all__ = ["SessionCookie"]


@dataclass(frozen=True)
class SessionCookie:
    """One app's session cookie. ``public_origin``: the origin users reach the app at behind
    a proxy (``https://…``); empty when the app is reached directly."""

    name: str
    session_hours: float
    public_origin: str = ""

    def secure(self, scheme: str) -> bool:
        """Whether the cookie must be ``Secure``: the public origin's scheme, else the request's."""
        if self.public_origin:
            return self.public_origin.startswith("https://")
        return scheme == "https"

    def attributes(self, scheme: str) -> dict[str, Any]:
        """The cookie's attributes for a request served over ``scheme`` (set and delete alike)."""
        return {"path": "/", "httponly": True, "samesite": "strict", "secure": self.secure(scheme)}

    @property
    def max_age(self) -> int:
        return int(self.session_hours * 3600)

    def allowed_origins(self, scheme: str, host: str) -> set[str]:
        """Where a state-changing request may come from: the public origin, else the app's own."""
        return {self.public_origin} if self.public_origin else {own_origin(scheme, host)}

    def admits(self, method: str, origin: str | None, *, scheme: str, host: str) -> bool:
        """Whether a request with this method and ``Origin`` may go on with the cookie."""
        return origin_allowed(method, origin, allowed=self.allowed_origins(scheme, host))
