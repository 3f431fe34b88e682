"""The dashboard's shareable links, written once for every Python caller (``baocao demo``
prints one; the tests open them). The page (``static/app.js``) reads the same scheme:

    http://HOST:PORT/#/?type=monthly&period=2025-08         the national overview
    http://HOST:PORT/#/p/01?type=monthly&period=2025-08     a province
    http://HOST:PORT/#/c/00070?type=monthly&period=2025-08  a commune

The view lives in the fragment, so the server serves one page and the browser's history
(back, forward, reload) walks the views without a round trip.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

__all__ = ["dashboard_link"]


def dashboard_link(
    base: str,
    *,
    report_type: str,
    period: str,
    province: str | None = None,
    commune: str | None = None,
) -> str:
    """The link to ``period`` of ``report_type`` on the dashboard at ``base``
    (``http://127.0.0.1:8765``): the overview, or a province's or a commune's page."""
    if province is not None and commune is not None:
        raise ValueError("a link names a province or a commune, not both")
    path = "/"
    if province is not None:
        path = f"/p/{quote(province, safe='')}"
    elif commune is not None:
        path = f"/c/{quote(commune, safe='')}"
    query = urlencode({"type": report_type, "period": period})
    return f"{base.rstrip('/')}/#{path}?{query}"
