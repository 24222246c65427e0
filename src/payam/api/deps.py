"""Dependencies shared by the routes: the services, the caller, the client address."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from payam.domain.errors import Unauthenticated
from payam.domain.models import Caller
from payam.services.container import Services

_bearer = HTTPBearer(auto_error=False, description="The token returned by POST /v1/auth/session")


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """Every route that uses this is closed to anyone without a live session (P9.1)."""
    if credentials is None:
        raise Unauthenticated(
            "Sign in first: send Authorization: Bearer <token>.", code="missing_token"
        )
    found = await services(request).auth.authenticate(
        credentials.credentials, ip=client_ip(request)
    )
    # The access log attributes the request to this user and device.
    request.state.caller = found
    return found


ServicesDep = Annotated[Services, Depends(services)]
CallerDep = Annotated[Caller, Depends(caller)]
IpDep = Annotated[str | None, Depends(client_ip)]
