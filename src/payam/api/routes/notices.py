"""Notices (P12.1, P8.2, P7.2), the policy in force, partner objections and disclosures."""

from __future__ import annotations

from typing import Any

from payam.api.deps import CallerDep, ServicesDep
from payam.api.responses import EXACT, DisclosuresOut, NoticeOut, NoticesOut, PartnerOut, PolicyOut
from payam.api.routing import api_router
from payam.domain.events import iso

router = api_router(tags=["notices"])


@router.get("/policy", response_model=PolicyOut, **EXACT)
async def get_policy(services: ServicesDep) -> dict[str, Any]:
    """The policy version in force, readable without signing in (404 before the first)."""
    current = await services.policy.current()
    return {
        "version": current.version,
        "important": current.important,
        "sha256": current.sha256,
        "published_at": iso(current.published_at),
        "text": current.text,
    }


@router.get("/me/notices", response_model=NoticesOut, **EXACT)
async def list_notices(caller: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """The caller's notices, oldest first: policy versions, partner proposals, prizes. Listing
    them records that they were seen (``seen_at``, null in this answer for new ones)."""
    return {"notices": await services.notices.list_notices(caller)}


@router.post("/me/notices/{notice_id}/ack", response_model=NoticeOut, **EXACT)
async def acknowledge_notice(
    notice_id: int, caller: CallerDep, services: ServicesDep
) -> dict[str, Any]:
    """Acknowledge a notice (idempotent: the first time is kept). Not the caller's: 404."""
    return await services.notices.acknowledge(caller, notice_id)


@router.post("/me/partner-objections/{partner_id}", response_model=PartnerOut, **EXACT)
async def object_to_partner(
    partner_id: int, caller: CallerDep, services: ServicesDep
) -> dict[str, Any]:
    """Object to a proposed partner share: the caller's data is left out of it (P8.2).
    Idempotent. An unknown proposal is 404; once the share was made, 409."""
    return await services.partners.object(caller, partner_id)


@router.get("/me/disclosures", response_model=DisclosuresOut, **EXACT)
async def list_disclosures(caller: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """Shares that included the caller's data (partner, purpose, fields, when, the file's
    SHA-256), the caller's objections, and proposals still pending (P8.2)."""
    return await services.partners.for_user(caller.user_id)
