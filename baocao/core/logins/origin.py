"""The ``Origin`` check of state-changing requests that a cookie authenticates.

``SameSite=Strict`` keeps the cookie off requests from other *sites*, but a site is the
scheme and registrable domain, not the port: the dashboard on the same host is the same site
as the gateway, and so is anything else served there. The origin (scheme, host and port) is
what tells them apart, and browsers send it on every POST, PUT, PATCH and DELETE, so a
request that changes something must come from one of the allowed origins; one without an
``Origin`` header is refused too (browsers always send it on those methods; a non-browser
client has no victim's cookie to abuse and can send the header itself).
"""

from __future__ import annotations

from collections.abc import Collection

__all__ = ["SAFE_METHODS", "origin_allowed", "own_origin"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def own_origin(scheme: str, host: str) -> str:
    """The origin a page served from ``host`` (the ``Host`` header) over ``scheme`` has."""
    host = host.strip().lower()
    default = {"http": ":80", "https": ":443"}.get(scheme)
    if default is not None and host.endswith(default):
        host = host.removesuffix(default)
    return f"{scheme}://{host}"


def origin_allowed(method: str, origin: str | None, *, allowed: Collection[str]) -> bool:
    """Whether a request with this method and ``Origin`` header may go on."""
    if method.upper() in SAFE_METHODS:
        return True
    if origin is None or origin == "null":
        return False
    return origin.strip().lower().rstrip("/") in {a.lower().rstrip("/") for a in allowed}
