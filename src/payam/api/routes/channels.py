"""Public channels (P5.1): find by handle, search, subscribe. Creating a channel is
``POST /v1/chats {"type": "channel", ...}``; leaving, deleting, roles, title, description and
photo use the chat routes (``api/routes/chats.py``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from payam.api.deps import CallerDep, ServicesDep
from payam.api.responses import EXACT, AnyChat, ChannelOut
from payam.api.routing import api_router
from payam.domain import limits

router = api_router(tags=["channels"])


@router.get("/channels", response_model=list[ChannelOut], **EXACT)
async def search_channels(
    caller: CallerDep,
    services: ServicesDep,
    q: Annotated[
        str,
        Query(max_length=256, json_schema_extra={"maxLength": limits.CHANNEL_QUERY_MAX_LENGTH}),
    ],
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> list[dict[str, Any]]:
    """Channels whose handle starts with ``q`` or whose title contains it (case-insensitive),
    handle matches first, then by handle. ``q=@abc`` searches handles only (cheaper: see
    docs/api.md for what each costs)."""
    return await services.channels.search(caller, q, limit)


@router.get("/channels/{handle}", response_model=ChannelOut, **EXACT)
async def get_channel(handle: str, caller: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """The channel with this handle, in any case; 404 ``channel_not_found``."""
    return await services.channels.find(caller, handle)


@router.post("/chats/{chat_id}/join", response_model=AnyChat, **EXACT)
async def join_channel(chat_id: int, caller: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """Subscribe to a channel (idempotent): nothing unread at first, the whole history readable.
    Anything but a channel is 404 ``chat_not_found``."""
    return await services.channels.join(caller, chat_id)
