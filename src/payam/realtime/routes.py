"""``GET /v1/ws``: the WebSocket door to the gateway."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from payam.domain.cookies import SESSION_COOKIE
from payam.domain.errors import PayamError, Unauthenticated
from payam.realtime.gateway import CLOSE_UNAUTHENTICATED, Gateway
from payam.realtime.origin import CLOSE_FORBIDDEN_ORIGIN, origin_allowed
from payam.services.container import Services

router = APIRouter(prefix="/v1", tags=["realtime"])


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
