"""Chats, members, invite links, blocking and reports (P5.1, P5.2)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import Field
from pydantic.config import JsonDict

from payam.api.deps import CallerDep, ServicesDep
from payam.api.openapi import setting_limit
from payam.api.responses import (
    EXACT,
    Answer,
    AnyChat,
    BlockedOut,
    ChatOut,
    InviteLinkOut,
    ReportOut,
    answer,
    binary,
)
from payam.api.routes.profiles import PHOTO_UPLOAD_BODY, PhotoUpload, photo_response
from payam.api.routing import api_router
from payam.api.schemas import MessageTtl, Strict
from payam.domain import handles, limits

router = api_router(tags=["chats"])

UserId = Annotated[int, Field(ge=1, le=2**63 - 1)]
# The services refuse past these with their own stable codes (name_too_long,
# description_too_long, invalid_handle, invalid_reason); the max_length values only cap parsing.
TITLE = setting_limit("chat_title_max_length", limits.CHAT_TITLE_MAX_LENGTH)
DESCRIPTION: JsonDict = {"maxLength": limits.CHANNEL_DESCRIPTION_MAX_LENGTH}
HANDLE: JsonDict = {
    "minLength": handles.MIN_LENGTH,
    "maxLength": handles.MAX_LENGTH,
    "pattern": handles.PATTERN,
}


class DirectChatIn(Strict):
    type: Literal["direct"]
    user_id: UserId


class GroupChatIn(Strict):
    type: Literal["group"]
    title: str = Field(max_length=1024, json_schema_extra=TITLE)
    member_ids: list[UserId] = Field(default_factory=list, max_length=1000)


class ChannelChatIn(Strict):
    type: Literal["channel"]
    title: str = Field(max_length=1024, json_schema_extra=TITLE)
    handle: str = Field(max_length=64, json_schema_extra=HANDLE)
    description: str | None = Field(default=None, max_length=4096, json_schema_extra=DESCRIPTION)


class MembersIn(Strict):
    user_ids: list[UserId] = Field(min_length=1, max_length=1000)


class RoleIn(Strict):
    role: Literal["owner", "admin", "member", "subscriber"]


class TitleIn(Strict):
    title: str | None = Field(default=None, max_length=1024, json_schema_extra=TITLE)
    muted: bool | None = None
    # Channels only; null or "" clears it.
    description: str | None = Field(default=None, max_length=4096, json_schema_extra=DESCRIPTION)
    message_ttl: MessageTtl = None


class BlockIn(Strict):
    user_id: UserId


class ReportIn(Strict):
    reason: str = Field(
        max_length=2000, json_schema_extra={"maxLength": limits.REPORT_REASON_MAX_LENGTH}
    )


@router.post(
    "/chats",
    status_code=status.HTTP_201_CREATED,
    response_model=AnyChat,
    responses={
        200: {"model": ChatOut, "description": "the direct chat with this user already existed"}
    },
    **EXACT,
)
async def create_chat(
    body: Annotated[DirectChatIn | GroupChatIn | ChannelChatIn, Field(discriminator="type")],
    caller: CallerDep,
    services: ServicesDep,
) -> Any:
    """Start a direct chat (one per pair: asking again answers 200 with the same chat),
    create a group with the caller as owner, or a channel with a public handle (422
    ``invalid_handle`` / ``handle_reserved``, 409 ``handle_taken``)."""
    if isinstance(body, DirectChatIn):
        chat, created = await services.chats.create_direct(caller, body.user_id)
        return JSONResponse(chat, status_code=201 if created else 200)
    if isinstance(body, GroupChatIn):
        return await services.chats.create_group(caller, body.title, body.member_ids)
    return await services.channels.create(caller, body.title, body.handle, body.description)


@router.get("/chats", response_model=list[AnyChat], **EXACT)
async def list_chats(
    caller: CallerDep, services: ServicesDep, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> Answer:
    """The caller's chats, newest activity first, with the last message and unread count."""
    found = await services.chats.list_chats(caller, limit)
    return answer(list[AnyChat], found, check=services.settings.check_answers)


@router.get("/chats/{chat_id}", response_model=AnyChat, **EXACT)
async def get_chat(chat_id: int, caller: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """One chat with its members. Not a member: 404. A channel answers anyone signed in,
    without members (see docs/api.md, "Channels")."""
    return await services.chats.get_chat(caller, chat_id)


@router.patch("/chats/{chat_id}", status_code=status.HTTP_204_NO_CONTENT)
async def patch_chat(
    chat_id: int, body: TitleIn, caller: CallerDep, services: ServicesDep
) -> Response:
    """Change a group's or channel's title or a channel's description (admins), set the
    disappearing-messages timer (``message_ttl``: seconds, null for off; either side of a
    direct chat, admins of a group or channel; P5.3), or mute/unmute the chat for the caller."""
    if "message_ttl" in body.model_fields_set:
        await services.ttl.set_chat_ttl(caller, chat_id, body.message_ttl)
    if body.title is not None:
        await services.chats.set_title(caller, chat_id, body.title)
    if "description" in body.model_fields_set:
        await services.channels.set_description(caller, chat_id, body.description)
    if body.muted is not None:
        await services.chats.set_muted(caller, chat_id, body.muted)
    return Response(status_code=204)


@router.delete("/chats/{chat_id}", status_code=status.HTTP_204_NO_CONTENT)
async def leave_chat(
    chat_id: int, caller: CallerDep, services: ServicesDep, delete: bool = False
) -> Response:
    """Leave the chat (its history goes from the caller's devices). ``?delete=true`` by a
    group's owner deletes the group and every message in it for good (P5.3); from anyone else
    in a group it is 403 ``not_owner``."""
    await services.chats.leave(caller, chat_id, delete_chat=delete)
    return Response(status_code=204)


@router.post("/chats/{chat_id}/members", status_code=status.HTTP_204_NO_CONTENT)
async def add_members(
    chat_id: int, body: MembersIn, caller: CallerDep, services: ServicesDep
) -> Response:
    """Admins add members (up to the group member limit)."""
    await services.chats.add_members(caller, chat_id, body.user_ids)
    return Response(status_code=204)


@router.delete("/chats/{chat_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_member(
    chat_id: int, user_id: int, caller: CallerDep, services: ServicesDep
) -> Response:
    """Admins remove a member; a member removing themself leaves."""
    await services.chats.remove_member(caller, chat_id, user_id)
    return Response(status_code=204)


@router.put("/chats/{chat_id}/members/{user_id}/role", status_code=status.HTTP_204_NO_CONTENT)
async def set_role(
    chat_id: int, user_id: int, body: RoleIn, caller: CallerDep, services: ServicesDep
) -> Response:
    """The owner promotes to admin, demotes to member, or hands over ownership."""
    await services.chats.set_role(caller, chat_id, user_id, body.role)
    return Response(status_code=204)


@router.post("/chats/{chat_id}/clear", status_code=status.HTTP_204_NO_CONTENT)
async def clear_history(
    chat_id: int,
    caller: CallerDep,
    services: ServicesDep,
    for_: Annotated[Literal["me", "everyone"], Query(alias="for")] = "me",
) -> Response:
    """Clear the history for the caller, or for everyone (group admins; either side of a
    direct chat), which deletes the text for good (P5.2, P5.3)."""
    await services.chats.clear_history(caller, chat_id, for_everyone=for_ == "everyone")
    return Response(status_code=204)


@router.put(
    "/chats/{chat_id}/photo", response_model=AnyChat, openapi_extra=PHOTO_UPLOAD_BODY, **EXACT
)
async def put_chat_photo(
    chat_id: int, caller: CallerDep, data: PhotoUpload, services: ServicesDep
) -> dict[str, Any]:
    """Admins set the group photo (JPEG, PNG or WebP), re-encoded as WebP without metadata
    (P3.3), with the same refusals as a profile photo; answers the chat. A refused upload
    leaves the previous photo in place."""
    return await services.chats.set_photo(caller, chat_id, data)


@router.delete("/chats/{chat_id}/photo", response_model=AnyChat, **EXACT)
async def delete_chat_photo(
    chat_id: int, caller: CallerDep, services: ServicesDep
) -> dict[str, Any]:
    """Admins remove the group photo; its files are erased from disk unless another group or
    account shows the same picture (P5.2, P5.3)."""
    return await services.chats.delete_photo(caller, chat_id)


@router.get(
    "/chats/{chat_id}/photo",
    response_class=Response,
    responses={
        200: {"content": binary("image/webp"), "description": "The photo"},
        304: {"description": "Unchanged since the ETag sent in If-None-Match"},
        404: {"description": "No photo, or not a member of the chat"},
    },
)
async def get_chat_photo(
    chat_id: int,
    caller: CallerDep,
    services: ServicesDep,
    request: Request,
    size: Literal["full", "thumb"] = "full",
) -> Response:
    """The group photo (``?size=thumb`` for the thumbnail), for members only. Clients
    revalidate with the ETag, so a replaced or removed photo is not shown from a cache."""
    photo = await services.chats.photo(caller, chat_id, thumbnail=size == "thumb")
    return photo_response(photo, request)


@router.post(
    "/chats/{chat_id}/invites",
    status_code=status.HTTP_201_CREATED,
    response_model=InviteLinkOut,
    **EXACT,
)
async def create_invite(chat_id: int, caller: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """Admins create an invite link; anyone holding the token can join."""
    return await services.chats.create_invite(caller, chat_id)


@router.get("/chats/{chat_id}/invites", response_model=list[InviteLinkOut], **EXACT)
async def list_invites(
    chat_id: int, caller: CallerDep, services: ServicesDep
) -> list[dict[str, Any]]:
    """The group's invite links, revoked ones included (admins)."""
    return await services.chats.list_invites(caller, chat_id)


@router.delete("/chats/{chat_id}/invites/{token}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_invite(
    chat_id: int, token: str, caller: CallerDep, services: ServicesDep
) -> Response:
    """Admins revoke a link: it stops working at once."""
    await services.chats.revoke_invite(caller, chat_id, token)
    return Response(status_code=204)


@router.post("/invites/{token}/join", response_model=AnyChat, **EXACT)
async def join_by_invite(token: str, caller: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """Join the group of an invite link."""
    return await services.chats.join_by_invite(caller, token)


@router.post(
    "/chats/{chat_id}/messages/{message_id}/report",
    status_code=status.HTTP_201_CREATED,
    response_model=ReportOut,
)
async def report_message(
    chat_id: int, message_id: int, body: ReportIn, caller: CallerDep, services: ServicesDep
) -> dict[str, int]:
    """Report a message to the moderators."""
    return {"report_id": await services.chats.report(caller, chat_id, message_id, body.reason)}


@router.post("/blocks", status_code=status.HTTP_204_NO_CONTENT)
async def block(body: BlockIn, caller: CallerDep, services: ServicesDep) -> Response:
    """Block a user: they can no longer start a direct chat with you, message you, or see your
    profile photo."""
    await services.chats.block(caller, body.user_id)
    return Response(status_code=204)


@router.delete("/blocks/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def unblock(user_id: int, caller: CallerDep, services: ServicesDep) -> Response:
    """Unblock a user."""
    await services.chats.unblock(caller, user_id)
    return Response(status_code=204)


@router.get("/blocks", response_model=list[BlockedOut], **EXACT)
async def list_blocks(caller: CallerDep, services: ServicesDep) -> list[dict[str, Any]]:
    """The users the caller blocked."""
    return await services.chats.blocked(caller)
