"""Web Push (docs/push.md): the server's VAPID key, and the caller's device's subscription."""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel, ConfigDict, Field

from payam.api.deps import CallerDep, ServicesDep
from payam.api.routing import api_router

router = api_router(tags=["push"])

_B64URL = r"^[A-Za-z0-9_-]+={0,2}$"


class VapidKey(BaseModel):
    key: str = Field(description="applicationServerKey: the P-256 public key, base64url")


class PushKeys(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    p256dh: str = Field(min_length=80, max_length=100, pattern=_B64URL)
    auth: str = Field(min_length=16, max_length=32, pattern=_B64URL)


class PushSubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    endpoint: str = Field(min_length=8, max_length=2048)
    keys: PushKeys


class PushSubscriptionOut(BaseModel):
    endpoint: str


@router.get("/push/vapid-key", response_model=VapidKey)
async def vapid_key(_caller: CallerDep, services: ServicesDep) -> VapidKey:
    """The server's VAPID public key, for ``pushManager.subscribe``."""
    return VapidKey(key=services.push.vapid_public_key)


@router.post("/push/subscriptions", status_code=201, response_model=PushSubscriptionOut)
async def subscribe(
    body: PushSubscriptionIn, caller: CallerDep, services: ServicesDep
) -> PushSubscriptionOut:
    """Set the caller's device's subscription (one per device; a new one replaces it).
    422 ``invalid_endpoint`` for an endpoint that is not https or whose host is not public."""
    await services.push.subscribe(caller, body.endpoint, body.keys.p256dh, body.keys.auth)
    return PushSubscriptionOut(endpoint=body.endpoint)


@router.delete("/push/subscriptions", status_code=204)
async def unsubscribe(caller: CallerDep, services: ServicesDep) -> Response:
    """Remove the caller's device's subscription; 404 ``subscription_not_found`` if none."""
    await services.push.unsubscribe(caller)
    return Response(status_code=204)
