"""The server's log carries no secret (P9.1, issue 9.6): no bearer token, sign-in code, session
cookie or CSRF value reaches a log line, whoever wrote it.

uvicorn logs every WebSocket with its full path and query (``GET /v1/ws?token=...``), and at
the ``trace`` level every ASGI message with its headers and bodies. Rather than hunt each such
line, ``payam serve`` sends every logger, uvicorn's included, through one handler whose
formatter rewrites secrets in the finished line, traceback included, to ``[redacted]``.
"""

from __future__ import annotations

import logging
import re
import sys

from payam.domain.cookies import CSRF_COOKIE, SESSION_COOKIE

REDACTED = "[redacted]"

# The names under which secrets travel (names, not secrets: hence the noqa).
_SECRET_NAMES = r"(?:access_token|token|code|csrf[\w-]*|x-csrf-token|secret|password)"  # noqa: S105
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # A query string: /v1/ws?token=..., ?code=...
    (re.compile(rf"([?&]{_SECRET_NAMES}=)[^&\s\"'#]*", re.IGNORECASE), rf"\1{REDACTED}"),
    # An Authorization header, however it is printed.
    (re.compile(r"(\bBearer\s+)[^\s\"',)]+", re.IGNORECASE), rf"\1{REDACTED}"),
    # A Cookie or Set-Cookie header.
    (
        re.compile(rf"(\b(?:{SESSION_COOKIE}|{CSRF_COOKIE})=)[^;\s\"',]*"),
        rf"\1{REDACTED}",
    ),
    # A JSON body, a dict's repr or an ASGI header pair: "token": "...", (b'x-csrf-token', b'...')
    (
        re.compile(
            rf"""(["']{_SECRET_NAMES}["']\s*[:,]\s*b?["'])[^"']*""",
            re.IGNORECASE,
        ),
        rf"\1{REDACTED}",
    ),
)


def redact(text: str) -> str:
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure(level: str) -> None:
    """One handler on the root logger, to stderr, through ``RedactingFormatter``; uvicorn is
    started with ``log_config=None`` so that its loggers propagate here too."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
