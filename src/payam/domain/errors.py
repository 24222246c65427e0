"""The one error hierarchy of payam.

Every mistake a client can make is a ``PayamError`` with a stable ``code`` (clients branch on
it) and a human ``message``. The HTTP door maps each class to one status; nothing here knows
about HTTP.

    PayamError
    ├── InvalidInput            the request is well-formed but its content is not acceptable (422)
    │   └── PayloadTooLarge     a body or upload is over its configured size (413)
    ├── Unauthenticated         no credentials, or credentials that are unknown or revoked (401)
    ├── Forbidden               signed in, but this action is not allowed (403)
    ├── NotFound                missing *or not yours*: ids leak nothing (404)
    ├── Conflict                the state of the server does not allow it (409)
    ├── UnsupportedMedia        an upload whose content is not an accepted type (415)
    └── RateLimited             a named limit is spent; carries ``retry_after`` seconds (429)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


class PayamError(Exception):
    """Base of every error a client can cause. ``code`` is part of the public contract."""

    default_code = "error"

    def __init__(
        self, message: str, *, code: str | None = None, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = dict(details) if details else None


class InvalidInput(PayamError):
    default_code = "invalid_input"


class PayloadTooLarge(InvalidInput):
    default_code = "payload_too_large"


class Unauthenticated(PayamError):
    default_code = "unauthenticated"


class Forbidden(PayamError):
    default_code = "forbidden"


class NotFound(PayamError):
    default_code = "not_found"


class Conflict(PayamError):
    default_code = "conflict"


class UnsupportedMedia(PayamError):
    default_code = "unsupported_media_type"


class RateLimited(PayamError):
    """A named limit (see ``domain.limits``) is spent. ``retry_after`` is whole seconds, >= 1."""

    default_code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = max(1, math.ceil(retry_after))
