"""Every error answers ``{"error": {"code", "message"}}`` with a 4xx (or 503) status.

A client mistake never answers 500: validation errors, unknown routes and methods, bodies that
are not JSON and domain errors are all mapped here. A 500 means a bug, and is logged.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from payam.domain import errors
from payam.services.auth import SmsUnavailable

log = logging.getLogger(__name__)

STATUS: list[tuple[type[errors.PayamError], int]] = [
    (SmsUnavailable, 503),
    (errors.PayloadTooLarge, 413),
    (errors.InvalidInput, 422),
    (errors.Unauthenticated, 401),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.UnsupportedMedia, 415),
    (errors.RateLimited, 429),
]

HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
}


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable and machine-readable: clients branch on it.")
    message: str = Field(description="For people; the wording may change.")
    details: Any = Field(default=None, description="Present for some codes, e.g. the fields.")


class ErrorResponse(BaseModel):
    """The body of every error answer."""

    error: ErrorDetail


# Declared on the app so the OpenAPI document tells the truth about error bodies (it would
# otherwise advertise FastAPI's own ``{"detail": [...]}`` for 422, which payam never sends).
RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorResponse, "description": "A client mistake; see `error.code`."},
    "5XX": {"model": ErrorResponse, "description": "The server or a backend it needs failed."},
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


class ErrorJSONResponse(JSONResponse):
    """Never fails to render: text echoed from a request (a lone surrogate, say) is replaced
    rather than turning the answer to one mistake into a 500."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, separators=(",", ":"), default=str)
        return text.encode("utf-8", errors="replace")


def status_of(exc: errors.PayamError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 400


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.PayamError)
    async def on_payam_error(_request: Request, exc: errors.PayamError) -> JSONResponse:
        headers = {}
        if isinstance(exc, errors.RateLimited):
            headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, errors.Unauthenticated):
            headers["WWW-Authenticate"] = "Bearer"
        return ErrorJSONResponse(
            error_body(exc.code, exc.message, exc.details),
            status_code=status_of(exc),
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def on_validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        where = ".".join(first["loc"][1:]) or "body"
        return ErrorJSONResponse(
            error_body("invalid_request", f"{where}: {first['msg']}", details), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code
        return ErrorJSONResponse(
            error_body(code, message),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def on_bug(request: Request, _exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return ErrorJSONResponse(
            error_body("internal_error", "Something went wrong on the server."), status_code=500
        )
