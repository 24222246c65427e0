"""Dependencies shared by the routes: the services, the caller, the client address."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from payam.api import cookies
from payam.domain.errors import Unauthenticated
from payam.domain.models import Caller
from payam.services.container import Services

bearer = HTTPBearer(auto_error=False, description="The token returned by POST /v1/auth/session")


def services_of(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def ip_of(request: Request) -> str | None:
    return request.client.host if request.client else None


# Dependencies are coroutines even when they need not be: FastAPI runs a plain function in a
# worker thread, a thread handoff on every request for an attribute lookup.
async def services(request: Request) -> Services:
    return services_of(request)


async def client_ip(request: Request) -> str | None:
    return ip_of(request)


async def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """Every route that uses this is closed to anyone without a live session (P9.1).

    A bearer token wins; without one, the web session cookie (P6.1) is accepted, and a write
    made with it must carry the CSRF header. A request of a user who allows the statistics
    category is counted, without the user, under its route's feature (P6.2).
    """
    token = credentials.credentials if credentials is not None else None
    if token is None:
        token = cookies.session_token(request)
        if token is None:
            raise Unauthenticated(
                "Sign in first: send Authorization: Bearer <token>.", code="missing_token"
            )
        cookies.check_csrf(request, token)
    found = await services_of(request).auth.authenticate(token, ip=ip_of(request))
    # The access log attributes the request to this user and device.
    request.state.caller = found
    services_of(request).consents.note_usage(found.user_id, _feature(request))
    return found


def _feature(request: Request) -> str:
    """The feature a request uses, for the usage statistics: its router's first tag."""
    tags = getattr(request.scope.get("route"), "tags", None)
    return str(tags[0]) if tags else "other"


ServicesDep = Annotated[Services, Depends(services)]
CallerDep = Annotated[Caller, Depends(caller)]
IpDep = Annotated[str | None, Depends(client_ip)]
