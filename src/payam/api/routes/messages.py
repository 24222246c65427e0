"""Messages, read markers, search and missed updates (P5.1, P5.2, P5.3)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query, Response, status
from pydantic import Field

from payam.api.deps import CallerDep, ServicesDep
from payam.api.openapi import setting_limit
from payam.api.responses import (
    EXACT,
    Answer,
    MessageOut,
    MessagesOut,
    ReadOut,
    UpdatesOut,
    answer,
)
from payam.api.routing import api_router
from payam.api.schemas import Strict
from payam.domain import limits
from payam.services.updates import MAX_WAIT_SECONDS

router = api_router(tags=["messages"])

Id = Annotated[int, Field(ge=1, le=2**63 - 1)]
# The service answers 422 message_too_long past the setting; 65,536 is only a parsing cap.
MESSAGE_TEXT = setting_limit("message_max_length", limits.MESSAGE_MAX_LENGTH)


class MessageIn(Strict):
    client_id: str = Field(
        min_length=1,
        max_length=64,
        description="chosen by the sending device; makes the send idempotent",
        json_schema_extra={"pattern": limits.CLIENT_ID_PATTERN},
    )
    text: str | None = Field(default=None, max_length=65536, json_schema_extra=MESSAGE_TEXT)
    reply_to: Id | None = None
    forward_of: Id | None = None
    media_ids: list[Id] | None = Field(
        default=None,
        max_length=100,
        description="uploads (POST /v1/media) to carry, each once, at most media_per_message",
        json_schema_extra=setting_limit(
            "media_per_message", limits.MEDIA_PER_MESSAGE, keyword="maxItems"
        ),
    )


class EditIn(Strict):
    text: str = Field(max_length=65536, json_schema_extra=MESSAGE_TEXT)


class ReadIn(Strict):
    seq: int = Field(ge=0, le=2**63 - 1)


@router.post(
    "/chats/{chat_id}/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=MessageOut,
    **EXACT,
)
async def send_message(
    chat_id: int, body: MessageIn, caller: CallerDep, services: ServicesDep
) -> Answer:
    """Send a message. Retrying with the same ``client_id`` returns the same stored message
    (header ``Idempotent-Replayed: true``); the same ``client_id`` with other content (other
    text, other ``media_ids``) is 409. ``media_ids`` are the caller's own uploads (404
    ``media_not_found`` otherwise; 422 ``too_many_media``, ``duplicate_media``); with media the
    text may be left out."""
    sent = await services.messages.send(
        caller,
        chat_id,
        client_id=body.client_id,
        text=body.text,
        reply_to=body.reply_to,
        forward_of=body.forward_of,
        media_ids=body.media_ids,
    )
    headers = {} if sent.created else {"Idempotent-Replayed": "true"}
    return answer(
        MessageOut,
        sent.message,
        check=services.settings.check_answers,
        status_code=201,
        headers=headers,
    )


@router.get("/chats/{chat_id}/messages", response_model=MessagesOut, **EXACT)
async def history(
    chat_id: int,
    caller: CallerDep,
    services: ServicesDep,
    before: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Answer:
    """Page the history by ``seq``: the newest ``limit`` before ``before``, or the oldest
    ``limit`` after ``after``; always in ascending seq."""
    found = await services.messages.history(
        caller, chat_id, before=before, after=after, limit=limit
    )
    return answer(MessagesOut, {"messages": found}, check=services.settings.check_answers)


@router.patch("/chats/{chat_id}/messages/{message_id}", response_model=MessageOut, **EXACT)
async def edit_message(
    chat_id: int, message_id: int, body: EditIn, caller: CallerDep, services: ServicesDep
) -> dict[str, Any]:
    """Edit one's own message; it is marked edited for everyone."""
    return await services.messages.edit(caller, chat_id, message_id, body.text)


@router.delete("/chats/{chat_id}/messages/{message_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_message(
    chat_id: int,
    message_id: int,
    caller: CallerDep,
    services: ServicesDep,
    for_: Annotated[Literal["me", "everyone"], Query(alias="for")] = "me",
) -> Response:
    """``for=everyone`` (the author, or a group admin) deletes the text for good: from the API,
    the search index and the database files (P5.3). ``for=me`` hides it from the caller."""
    await services.messages.delete(caller, chat_id, message_id, for_everyone=for_ == "everyone")
    return Response(status_code=204)


@router.post("/chats/{chat_id}/read", response_model=ReadOut)
async def mark_read(chat_id: int, body: ReadIn, caller: CallerDep, services: ServicesDep) -> Answer:
    """Move the caller's read marker; the other members get a read receipt."""
    read_seq = await services.messages.mark_read(caller, chat_id, body.seq)
    return answer(ReadOut, {"read_seq": read_seq}, check=services.settings.check_answers)


@router.get("/search", response_model=MessagesOut, **EXACT)
async def search(
    caller: CallerDep,
    services: ServicesDep,
    q: Annotated[str, Query(max_length=limits.SEARCH_QUERY_MAX_LENGTH)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Answer:
    """Full-text search over the caller's own accessible history."""
    found = await services.messages.search(caller, q, limit)
    return answer(MessagesOut, {"messages": found}, check=services.settings.check_answers)


@router.get("/updates", response_model=UpdatesOut, **EXACT)
async def get_updates(
    caller: CallerDep,
    services: ServicesDep,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    # The public name of the query parameter (GET /v1/updates?timeout=S), not an asyncio one.
    timeout: Annotated[  # noqa: ASYNC109
        int,
        Query(
            ge=0,
            le=MAX_WAIT_SECONDS,
            description="long polling: when nothing is new, wait up to this many seconds",
        ),
    ] = 0,
) -> Answer:
    """What this device missed: updates after ``after``, in order of the per-user ``seq``.
    With ``timeout`` (seconds, at most 60), a long poll: when there is nothing after
    ``after``, the answer waits until something is, or the time is up (then ``updates`` is
    empty); no gap and no duplicate, as over the WebSocket."""
    page = await services.updates.wait(caller.user_id, after, limit, timeout)
    body = {
        "updates": [u.to_json() for u in page.updates],
        "last_seq": page.last_seq,
        "has_more": page.has_more,
        # ``after`` past the end of the log (a device restored from a backup): reload too.
        "resync_required": page.too_old or after > page.last_seq,
    }
    return answer(UpdatesOut, body, check=services.settings.check_answers)
