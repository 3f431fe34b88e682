"""The commune app's files, served by the gateway itself at ``/`` (a commune network may
reach only the gateway: no CDN, no framework).

The files are package data, read and gzip-compressed once per process; each answer carries
an ``ETag`` (a revalidation costs a 304, not the file) and headers that keep the page to its
own origin: a strict Content-Security-Policy, no framing, no sniffing, no referrer.
The service worker's cache is named after the files' combined digest, so a new release
replaces the cached shell on the next visit.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from fastapi import APIRouter, Request
from starlette.responses import Response

__all__ = ["SHELL_FILES", "asset", "webapp_router"]

#: Path -> (file, media type).
SHELL_FILES: dict[str, tuple[str, str]] = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/app.css": ("app.css", "text/css; charset=utf-8"),
    "/sw.js": ("sw.js", "text/javascript; charset=utf-8"),
    "/manifest.webmanifest": ("manifest.webmanifest", "application/manifest+json"),
    "/icon.svg": ("icon.svg", "image/svg+xml"),
}
_VERSION_MARK = b"__SHELL_VERSION__"
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; manifest-src 'self'; worker-src 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # Revalidate every time (cheap: the ETag); the service worker serves it offline.
    "Cache-Control": "no-cache",
}

webapp_router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes
    etag: str
    media_type: str


def _read(name: str) -> bytes:
    return resources.files("baocao.producers.gateway").joinpath("webapp", name).read_bytes()


@cache
def asset(path: str) -> Asset:
    name, media_type = SHELL_FILES[path]
    body = _read(name)
    if _VERSION_MARK in body:
        digest = hashlib.sha256()
        for other, _ in SHELL_FILES.values():
            if other != name:
                digest.update(_read(other))
        body = body.replace(_VERSION_MARK, digest.hexdigest()[:16].encode())
    return Asset(
        body=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0),
        etag='"' + hashlib.sha256(body).hexdigest()[:20] + '"',
        media_type=media_type,
    )


def _serve(path: str, request: Request) -> Response:
    found = asset(path)
    headers = {**_HEADERS, "ETag": found.etag, "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(found.gzipped, media_type=found.media_type, headers=headers)
    return Response(found.body, media_type=found.media_type, headers=headers)


def _route(path: str) -> None:
    @webapp_router.get(path, name=f"app:{path}")
    def serve(request: Request) -> Response:
        return _serve(path, request)


for _path in SHELL_FILES:
    _route(_path)
