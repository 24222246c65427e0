"""The web client, served at ``/`` from the files the package build put in ``payam/web_dist``.

Same origin as the API, so the session cookie (P6.1) and the CSRF token need no CORS. Every
answer of this door carries a strict Content-Security-Policy (no inline script, nothing from
another origin: fonts, icons and scripts all come from the package), ``frame-ancestors
'none'`` and ``Referrer-Policy: no-referrer``, so the page neither runs what it did not ship
nor tells anyone where a click came from. Hashed assets are cached for a year; ``index.html``
is revalidated every time, so a new version reaches the next load. Text files are gzipped once
and kept in memory (the whole client is a few hundred kilobytes).

A path the client routes itself (``/chats/12``) answers ``index.html`` to a browser (one that
asks for ``text/html``, as every navigation does); a program asking for anything else, and any
path under the API (``/v1/...``, ``/docs``, ``/openapi.json``), keeps the JSON 404.
"""

from __future__ import annotations

import gzip
import mimetypes
from pathlib import Path

from fastapi import FastAPI, Request, Response
from starlette.types import Receive, Scope, Send

import payam
from payam.domain.errors import NotFound

WEB_DIST = Path(payam.__file__).parent / "web_dist"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "media-src 'self' blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
# Paths that belong to the API: never answered with the client's index.html.
API_PREFIXES = ("v1", "docs", "redoc", "openapi.json", "health")
_COMPRESSIBLE = (".js", ".css", ".html", ".svg", ".json", ".txt", ".map")
_MIN_GZIP = 512

NOT_BUILT = (
    "<!doctype html><title>payam</title><p>The web client was not built into this install. "
    "Reinstall with npm available (<code>pip install -e .</code> runs <code>npm ci</code> and "
    "the web build); the API is at <a href=/docs>/docs</a>.</p>"
)


class WebFiles:
    """The built client's files, looked up safely under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._gz: dict[Path, bytes] = {}

    @property
    def built(self) -> bool:
        return (self.root / "index.html").is_file()

    def find(self, path: str) -> Path | None:
        """The file at ``path`` under the root, or None (also for any way out of the root)."""
        if not path or path.endswith("/"):
            return None
        try:
            candidate = (self.root / path).resolve()
            if not candidate.is_relative_to(self.root) or not candidate.is_file():
                return None
        except (OSError, ValueError):  # a name too long for the file system, a NUL byte
            return None
        return candidate

    def answer(self, file: Path, request: Request, cache: str) -> Response:
        media_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if media_type.startswith("text/") or media_type in {"application/javascript"}:
            media_type += "; charset=utf-8"
        body = file.read_bytes()
        headers = {"Cache-Control": cache, "Vary": "Accept-Encoding", **SECURITY_HEADERS}
        accepts_gzip = "gzip" in request.headers.get("accept-encoding", "")
        if accepts_gzip and file.suffix in _COMPRESSIBLE and len(body) >= _MIN_GZIP:
            packed = self._gz.get(file)
            if packed is None:
                packed = self._gz[file] = gzip.compress(body, compresslevel=9, mtime=0)
            body = packed
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type=media_type, headers=headers)


def mount(app: FastAPI, root: Path | None = None) -> None:
    """Serve the client for every GET that no API route matched.

    It is the router's fallback rather than a catch-all route, so the API keeps its answers
    for unknown paths (JSON 404) and wrong methods (405) exactly as before.
    """
    files = WebFiles(root or WEB_DIST)
    fallback = app.router.default

    def client(request: Request, path: str) -> Response:
        found = files.find(path) if files.built else None
        if found is not None and found.name != "index.html":
            hashed = path.startswith("assets/")
            return files.answer(found, request, IMMUTABLE if hashed else REVALIDATE)
        # An old hashed asset, or a program that did not ask for a page: the API's 404.
        if path.startswith("assets/") or "text/html" not in request.headers.get("accept", ""):
            raise NotFound("No such route.", code="not_found")
        if not files.built:
            return Response(
                NOT_BUILT,
                status_code=503,
                media_type="text/html; charset=utf-8",
                headers={"Cache-Control": REVALIDATE, **SECURITY_HEADERS},
            )
        return files.answer(files.root / "index.html", request, REVALIDATE)

    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", "/")).lstrip("/")
        if (
            scope["type"] != "http"
            or scope["method"] not in {"GET", "HEAD"}
            or path.startswith(API_PREFIXES)
        ):
            await fallback(scope, receive, send)
            return
        request = Request(scope, receive)
        await client(request, path)(scope, receive, send)

    app.router.default = default
