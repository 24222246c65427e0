"""Sign-in (P1.2), sessions and devices (P1.4)."""

from __future__ import annotations

from fastapi import Request, Response, status

from payam.api import cookies
from payam.api.deps import CallerDep, IpDep, ServicesDep
from payam.api.routing import api_router
from payam.api.schemas import (
    CodeRequest,
    CodeResponse,
    DeviceOut,
    SessionRequest,
    SessionResponse,
    UserOut,
)
from payam.domain.events import iso
from payam.services.auth import DeviceInfo

router = api_router(tags=["auth"])


@router.post("/auth/code", status_code=status.HTTP_202_ACCEPTED, response_model=CodeResponse)
async def request_code(body: CodeRequest, services: ServicesDep, ip: IpDep) -> CodeResponse:
    """Text a 6-digit code to the number. The answer is the same whether or not it is registered."""
    sent = await services.auth.request_code(body.phone, ip=ip)
    now = services.clock.now()
    return CodeResponse(
        expires_in=round(sent.expires_at - now),
        expires_at=iso(sent.expires_at) or "",
        retry_after=max(0, round(sent.next_code_at - now)),
        next_code_at=iso(sent.next_code_at) or "",
    )


@router.post("/auth/session", status_code=status.HTTP_201_CREATED, response_model=SessionResponse)
async def sign_in(
    body: SessionRequest, request: Request, response: Response, services: ServicesDep, ip: IpDep
) -> SessionResponse:
    """Sign in with the code on a new device; the first sign-in needs ``name`` and creates the
    account (422 ``name_required`` otherwise, and the code stays valid). With ``cookie: true``
    the session is an HttpOnly cookie plus a CSRF cookie, for web clients (P6.1)."""
    session = await services.auth.sign_in(
        body.phone,
        body.code,
        name=body.name,
        device=DeviceInfo(body.device.model, body.device.os, body.device.app_version),
        ip=ip,
    )
    csrf = cookies.set_session(response, request, session.token) if body.cookie else None
    return SessionResponse(
        token=None if body.cookie else session.token,
        user=UserOut.of(session.user),
        device_id=session.device.id,
        created_account=session.created_account,
        csrf_token=csrf,
    )


@router.delete("/auth/session", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out(caller: CallerDep, request: Request, services: ServicesDep) -> Response:
    """Sign out this device: its token stops working at once (and a web session's cookies
    are removed)."""
    await services.auth.sign_out_device(caller, caller.device_id)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    if cookies.session_token(request) is not None:
        cookies.clear_session(response, request)
    return response


@router.get("/devices", response_model=list[DeviceOut])
async def list_devices(caller: CallerDep, services: ServicesDep) -> list[DeviceOut]:
    """Every signed-in device of the caller (P1.4, P4.1)."""
    return [DeviceOut.of(d, caller.device_id) for d in await services.auth.list_devices(caller)]


@router.delete("/devices/{device_id}", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out_device(device_id: int, caller: CallerDep, services: ServicesDep) -> Response:
    """Sign one of the caller's devices out. Another user's device id answers 404."""
    await services.auth.sign_out_device(caller, device_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
