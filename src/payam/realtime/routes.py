"""``GET /v1/ws``: the WebSocket door to the gateway."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from payam.domain.errors import PayamError, Unauthenticated
from payam.realtime.gateway import CLOSE_UNAUTHENTICATED, Gateway
from payam.services.container import Services

router = APIRouter(prefix="/v1", tags=["realtime"])


@router.websocket("/ws")
async def websocket(websocket: WebSocket) -> None:
    """Live updates and sends. Token in ``Authorization: Bearer`` or the ``token`` query
    parameter; send ``{"type": "resume", "after": N}`` first. See docs/realtime.md."""
    services: Services = websocket.app.state.services
    gateway: Gateway = websocket.app.state.gateway
    header = websocket.headers.get("authorization", "")
    token = header[7:] if header.lower().startswith("bearer ") else ""
    token = token or websocket.query_params.get("token", "")
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
