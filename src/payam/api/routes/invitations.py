"""Invitations to groups (P3.2): for users whose "who can add me to groups" setting did not let
the inviter add them. Only the invitee sees, accepts or declines their own."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Response, status
from pydantic import BaseModel, Field

from payam.api.deps import CallerDep, ServicesDep
from payam.api.responses import EXACT, ChatOut
from payam.api.routing import api_router

router = api_router(tags=["invitations"])

InvitationId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class InvitationOut(BaseModel):
    id: int
    chat_id: int
    title: str | None = Field(description="the group's title")
    member_count: int
    invited_by: int = Field(description="who invited the caller (their profile shows: P3.2)")
    created_at: str | None


@router.get("/me/invitations", response_model=list[InvitationOut])
async def list_invitations(caller: CallerDep, services: ServicesDep) -> list[dict[str, Any]]:
    """The caller's pending invitations to groups, oldest first."""
    return await services.invitations.list(caller)


@router.post("/me/invitations/{invitation_id}/accept", response_model=ChatOut, **EXACT)
async def accept_invitation(
    invitation_id: InvitationId, caller: CallerDep, services: ServicesDep
) -> dict[str, Any]:
    """Join the group (its members then see the caller's profile: P3.2). Not the caller's
    invitation: 404 ``invitation_not_found``; a full group: 409 ``member_limit``."""
    return await services.invitations.accept(caller, invitation_id)


@router.delete("/me/invitations/{invitation_id}", status_code=status.HTTP_204_NO_CONTENT)
async def decline_invitation(
    invitation_id: InvitationId, caller: CallerDep, services: ServicesDep
) -> Response:
    """Decline: the invitation is gone (the inviter is not told). Not the caller's: 404."""
    await services.invitations.decline(caller, invitation_id)
    return Response(status_code=204)
