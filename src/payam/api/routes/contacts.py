"""Contact discovery and invitations (P2)."""

from __future__ import annotations

from typing import Any

from fastapi import status

from payam.api.deps import CallerDep, ServicesDep
from payam.api.responses import EXACT, ContactsHeldOut, DeletedOut
from payam.api.routing import api_router
from payam.api.schemas import (
    ContactsResult,
    ContactsUpload,
    InviteRequest,
    InviteResponse,
    RegisteredContact,
)

router = api_router(tags=["contacts"])


@router.put("/contacts", response_model=ContactsResult, response_model_exclude_unset=True)
async def replace_contacts(
    body: ContactsUpload, caller: CallerDep, services: ServicesDep
) -> ContactsResult:
    """Replace the uploaded address book (numbers only, kept as keyed hashes) and say which
    numbers are on payam. New numbers spend the discovery budget (P2.4)."""
    result = await services.contacts.replace(caller, body.phones)
    return ContactsResult(
        stored=result.stored,
        new_numbers=result.new_numbers,
        invalid=result.invalid,
        registered=[RegisteredContact(**r) for r in result.registered],
    )


@router.get("/contacts", response_model=ContactsHeldOut, **EXACT)
async def get_contacts(caller: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """What is held of the caller's address book: the count and the keyed hashes (P2.2, P11.1)."""
    return await services.contacts.held(caller)


@router.delete("/contacts", response_model=DeletedOut)
async def delete_contacts(caller: CallerDep, services: ServicesDep) -> dict[str, int]:
    """Wipe the uploaded address book (P5.2)."""
    return {"deleted": await services.contacts.wipe(caller)}


@router.post("/invites", status_code=status.HTTP_202_ACCEPTED, response_model=InviteResponse)
async def invite(body: InviteRequest, caller: CallerDep, services: ServicesDep) -> InviteResponse:
    """Text an invitation to a number not yet on payam (409 ``already_registered`` otherwise)."""
    return InviteResponse(to=await services.contacts.invite(caller, body.phone))
