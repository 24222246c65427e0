"""Secrets are rewritten out of every log line (issue 9.6, P9.1)."""

from __future__ import annotations

import logging
import sys

from payam.cli.logs import REDACTED, RedactingFormatter, redact

TOKEN = "Zq3x-_9AbCdEfGhIjKlMnOpQrStUvWxYz0123456789ab"


def test_query_strings_headers_bodies_and_cookies_lose_their_secrets() -> None:
    lines = [
        f'127.0.0.1:5000 - "WebSocket /v1/ws?token={TOKEN}" [accepted]',
        f'"GET /v1/ws?after=3&token={TOKEN}&x=1 HTTP/1.1"',
        f"(b'authorization', b'Bearer {TOKEN}')",
        f"Authorization: Bearer {TOKEN}",
        f"(b'cookie', b'payam_session={TOKEN}; payam_csrf=csrf{TOKEN}; payam_prefs=x')",
        f"(b'x-csrf-token', b'csrf{TOKEN}')",
        f'{{"token": "{TOKEN}", "csrf_token": "csrf{TOKEN}", "code": "123456"}}',
        f"{{'token': '{TOKEN}', 'code': '654321'}}",
        "/v1/auth/session?code=112233",
    ]
    for line in lines:
        cleaned = redact(line)
        assert TOKEN not in cleaned, cleaned
        for code in ("123456", "654321", "112233"):
            assert code not in cleaned, cleaned
        assert REDACTED in cleaned
    assert "payam_prefs=x" in redact(lines[4])  # not a secret: kept
    assert redact("user 5 sent 3 messages") == "user 5 sent 3 messages"


def _fail() -> None:
    raise ValueError(f"bad /v1/ws?token={TOKEN}")


def test_the_formatter_redacts_arguments_and_tracebacks() -> None:
    formatter = RedactingFormatter("%(message)s")
    try:
        _fail()
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "socket ?token=%s", (TOKEN,), exc_info
    )
    line = formatter.format(record)
    assert "ValueError" in line  # the traceback is there, without the token
    assert TOKEN not in line
