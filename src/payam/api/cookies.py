"""The web session's cookies (P6.1): set, cleared, and the CSRF check on cookie writes.

The session cookie is HttpOnly and SameSite=Lax, and Secure when the request came over TLS
(uvicorn turns ``X-Forwarded-Proto: https`` into the https scheme only for proxies listed in
``PAYAM_TRUSTED_PROXIES``). The CSRF cookie is readable by the page's script, which echoes it in
``X-CSRF-Token`` on every write; its value is bound to the session token, so a cookie planted
by a neighbouring site does not pass.
"""

from __future__ import annotations

import secrets

from fastapi import Request, Response

from payam.domain import cookies
from payam.domain.errors import Forbidden

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A web session lasts until signed out; the browser keeps the cookie this long at most.
SESSION_MAX_AGE = 400 * 86400
PREFS_MAX_AGE = 365 * 86400


def over_tls(request: Request) -> bool:
    return request.url.scheme in {"https", "wss"}


def set_session(response: Response, request: Request, token: str) -> str:
    """Set the session and CSRF cookies; returns the CSRF token."""
    csrf = cookies.csrf_token(token)
    secure = over_tls(request)
    response.set_cookie(
        cookies.SESSION_COOKIE,
        token,
        max_age=SESSION_MAX_AGE,
        path="/",
        secure=secure,
        httponly=True,
        samesite="lax",
    )
    response.set_cookie(
        cookies.CSRF_COOKIE,
        csrf,
        max_age=SESSION_MAX_AGE,
        path="/",
        secure=secure,
        httponly=False,
        samesite="lax",
    )
    return csrf


def clear_session(response: Response, request: Request) -> None:
    secure = over_tls(request)
    for name, httponly in ((cookies.SESSION_COOKIE, True), (cookies.CSRF_COOKIE, False)):
        response.delete_cookie(name, path="/", secure=secure, httponly=httponly, samesite="lax")


def set_preferences(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        cookies.PREFS_COOKIE,
        value,
        max_age=PREFS_MAX_AGE,
        path="/",
        secure=over_tls(request),
        httponly=False,
        samesite="lax",
    )


def clear_preferences(response: Response, request: Request) -> None:
    response.delete_cookie(
        cookies.PREFS_COOKIE, path="/", secure=over_tls(request), httponly=False, samesite="lax"
    )


def session_token(request: Request) -> str | None:
    return request.cookies.get(cookies.SESSION_COOKIE) or None


def check_csrf(request: Request, token: str) -> None:
    """A cookie-authenticated write must echo the CSRF cookie in the header (403 otherwise)."""
    if request.method not in WRITE_METHODS:
        return
    header = request.headers.get(cookies.CSRF_HEADER, "")
    cookie = request.cookies.get(cookies.CSRF_COOKIE, "")
    expected = cookies.csrf_token(token)
    if not (
        header
        and secrets.compare_digest(header.encode(), cookie.encode())
        and secrets.compare_digest(header.encode(), expected.encode())
    ):
        raise Forbidden(
            f"A write with the session cookie needs the {cookies.CSRF_HEADER} header, equal to "
            f"the {cookies.CSRF_COOKIE} cookie.",
            code="csrf_failed",
        )
