"""``GET /v1/ws``: the WebSocket door to the gateway.

OpenAPI cannot describe a WebSocket, so the document carries ``GET /v1/ws`` as the upgrade
request it is: its parameters, the 101 answer, the close codes (``x-websocket-close-codes``)
and a pointer to the frames in docs/realtime.md. A plain HTTP request, which no WebSocket can
be, answers 426 ``upgrade_required`` in the usual error shape.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, WebSocket
from fastapi.responses import JSONResponse

from payam.domain.cookies import SESSION_COOKIE
from payam.domain.errors import PayamError, Unauthenticated
from payam.realtime.gateway import (
    CLOSE_INTERNAL_ERROR,
    CLOSE_TOO_FAR_BEHIND,
    CLOSE_UNAUTHENTICATED,
    Gateway,
)
from payam.realtime.origin import CLOSE_FORBIDDEN_ORIGIN, origin_allowed
from payam.services.container import Services

router = APIRouter(prefix="/v1", tags=["realtime"])

CLOSE_CODES = {
    CLOSE_UNAUTHENTICATED: "the token is missing, wrong or signed out: sign in again "
    "(the reason is the error code, e.g. invalid_token)",
    CLOSE_TOO_FAR_BEHIND: "too far behind: reconnect and resume",
    CLOSE_INTERNAL_ERROR: "an error on the server's side: reconnect and resume",
}
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
UPGRADE_RESPONSES: dict[int | str, dict[str, Any]] = {
    101: {
        "description": "Switching Protocols: the socket is open. Send "
        '`{"type": "resume", "after": N}` first; frames are JSON text objects '
        "(docs/realtime.md). Close codes: "
        + "; ".join(f"{code}: {meaning}" for code, meaning in CLOSE_CODES.items())
        + "."
    },
    426: {"description": "upgrade_required: not a WebSocket upgrade request", "content": _ERROR},
}


@router.get(
    "/ws",
    summary="Open the WebSocket (live updates and sends)",
    status_code=101,
    responses=UPGRADE_RESPONSES,
    response_class=JSONResponse,
    openapi_extra={
        "x-websocket": True,
        "x-websocket-close-codes": {str(code): text for code, text in CLOSE_CODES.items()},
    },
)
async def websocket_upgrade(
    token: Annotated[
        str | None,
        Query(description="the session token, for clients that cannot set a header"),
    ] = None,
    authorization: Annotated[
        str | None, Header(description="Bearer <token>; wins over the query parameter")
    ] = None,
) -> JSONResponse:
    """A WebSocket upgrade (``Connection: Upgrade``, ``Upgrade: websocket``) with the session
    token opens the socket of docs/realtime.md. Anything else is not a WebSocket: 426."""
    del token, authorization  # read by the WebSocket route below, never here
    return JSONResponse(
        {
            "error": {
                "code": "upgrade_required",
                "message": "GET /v1/ws is a WebSocket: connect with a WebSocket client.",
            }
        },
        status_code=426,
        headers={"Upgrade": "websocket", "Connection": "Upgrade"},
    )


@router.websocket("/ws")
async def websocket(websocket: WebSocket) -> None:
    """Live updates and sends. Token in ``Authorization: Bearer``, the ``token`` query
    parameter or the web session cookie (P6.1); send ``{"type": "resume", "after": N}`` first.
    A page of another origin is refused (4403). See docs/realtime.md."""
    services: Services = websocket.app.state.services
    gateway: Gateway = websocket.app.state.gateway
    if not origin_allowed(websocket, services.settings.web_origins):
        await websocket.accept()
        await websocket.close(code=CLOSE_FORBIDDEN_ORIGIN, reason="origin_not_allowed")
        return
    header = websocket.headers.get("authorization", "")
    token = header[7:] if header.lower().startswith("bearer ") else ""
    token = token or websocket.query_params.get("token", "")
    token = token or websocket.cookies.get(SESSION_COOKIE, "")
    ip = websocket.client.host if websocket.client else None
    try:
        if not token:
            raise Unauthenticated("Sign in first.", code="missing_token")
        caller = await services.auth.authenticate(token, ip=ip)
    except PayamError as exc:
        # Accepted first: a close before the handshake is an HTTP 403 that carries no code, and
        # clients need 4401 to tell "sign in again" from "reconnect".
        await websocket.accept()
        await websocket.close(code=CLOSE_UNAUTHENTICATED, reason=exc.code)
        return
    await websocket.accept()
    await gateway.serve(websocket, caller)
