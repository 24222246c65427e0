"""Calls: TURN credentials (docs/calls.md). Signalling is on the WebSocket (docs/realtime.md)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from payam.api.deps import CallerDep, ServicesDep
from payam.api.routing import api_router

router = api_router(tags=["calls"])


class TurnCredentials(BaseModel):
    uris: list[str] = Field(description="TURN server URIs for RTCIceServer.urls")
    username: str = Field(max_length=64, description="<expiry unix time>:<user id>")
    password: str = Field(max_length=64, description="base64(HMAC-SHA1(secret, username))")
    ttl: int = Field(description="seconds the credentials stay valid")


@router.get("/calls/turn", response_model=TurnCredentials)
async def turn(caller: CallerDep, services: ServicesDep) -> TurnCredentials:
    """Short-lived TURN credentials (coturn's TURN REST API, ``use-auth-secret``). 409
    ``turn_not_configured`` when the server has no TURN relay; rate limited."""
    return TurnCredentials(**await services.calls.turn_credentials(caller))
