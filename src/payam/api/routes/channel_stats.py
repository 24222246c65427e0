"""View counts of channel posts and channel statistics (P10.1)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import Field

from payam.api.deps import CallerDep, ServicesDep
from payam.api.responses import EXACT, ChannelStatsOut, ViewsOut
from payam.api.routing import api_router
from payam.api.schemas import Strict

router = api_router(tags=["channel_stats"])

Id = Annotated[int, Field(ge=1, le=2**63 - 1)]


class ViewsIn(Strict):
    message_ids: list[Id] = Field(
        min_length=1, max_length=100, description="posts of this channel the client displayed"
    )


@router.post("/chats/{chat_id}/views", response_model=ViewsOut, **EXACT)
async def report_views(
    chat_id: int, body: ViewsIn, caller: CallerDep, services: ServicesDep
) -> dict[str, Any]:
    """Report posts of a channel as seen; answers ``{"views": {"<id>": n}}``, their current
    counts. A viewer counts once per post however often they report it; ids that are not
    posts of this channel, or are deleted, are left out. Not a channel: 404."""
    return await services.channel_stats.report_views(caller, chat_id, body.message_ids)


@router.get(
    "/chats/{chat_id}/stats", response_model=ChannelStatsOut, response_model_by_alias=True, **EXACT
)
async def channel_stats(
    chat_id: int,
    caller: CallerDep,
    services: ServicesDep,
    days: Annotated[int, Query(ge=1, le=90)] = 30,
) -> dict[str, Any]:
    """A channel's statistics over its last ``days`` closed (UTC) days, for its owner and
    admins: aggregates only, cells of fewer than ``PAYAM_STATS_MIN_GROUP`` people hidden
    (docs/api.md). Anyone else: 403 ``not_admin``; not a channel: 404."""
    return await services.channel_stats.report(caller, chat_id, days)
