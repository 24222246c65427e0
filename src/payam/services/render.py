"""How a message looks to a client: one shape for HTTP, WebSocket and replayed updates."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from payam.domain.events import iso
from payam.storage import chats as chat_store
from payam.storage import messages as message_store
from payam.storage import ttl as ttl_store
from payam.storage.media import MediaRow
from payam.storage.messages import MessageRow


def message_json(m: MessageRow) -> dict[str, Any]:
    deleted = m.deleted_at is not None
    # A channel post (the only message with counters) speaks for the channel: which admin
    # wrote it is not shown to its public readers, who may not see the channel's staff (P5.1).
    # Nor is anything that could tell admins apart: the client_id their device chose, or the
    # admin as the author of a message of their own they forwarded into the channel.
    post = m.views is not None
    forward_from = m.forward_from_user_id
    if post and forward_from is not None and forward_from == m.sender_id:
        forward_from = None
    body: dict[str, Any] = {
        "id": m.id,
        "chat_id": m.chat_id,
        "seq": m.seq,
        "sender_id": None if post else m.sender_id,
        "client_id": None if post else m.client_id,
        "text": None if deleted else m.text,
        "reply_to": m.reply_to,
        "forward_of": m.forward_of,
        "forward_from_user_id": forward_from,
        "created_at": iso(m.created_at),
        "edited": m.edited_at is not None,
        "edited_at": iso(m.edited_at),
        "deleted": deleted,
        # P5.3: when the message disappears (null: it stays), fixed when it was stored.
        "expires_at": iso(m.expires_at),
        # Always a list (empty when none); a deleted message carries nothing (P5.3).
        "media": [] if deleted else [media_json(item) for item in m.media],
    }
    # Channel posts carry their counters (P10.1); every other message has none.
    if m.views is not None:
        body["views"] = m.views
    if m.forwards is not None:
        body["forwards"] = m.forwards
    # A call's record (P5.1): what happened, never how (no SDP, no address).
    if m.kind is not None:
        body["kind"] = m.kind
        body["call"] = None if deleted or m.call is None else json.loads(m.call)
    return body


def media_json(item: MediaRow) -> dict[str, Any]:
    """An uploaded file as clients see it, on its own and inside messages."""
    return {
        "id": item.id,
        "kind": item.kind,
        "mime": item.mime,
        "size": item.size,
        "width": item.width,
        "height": item.height,
        "url": f"/v1/media/{item.id}",
        "thumbnail_url": f"/v1/media/{item.id}/thumbnail" if item.thumb_key else None,
        "name": item.name,
    }


def gone_json(m: MessageRow) -> dict[str, Any]:
    """A message the viewer removed for themself: only its place in the chat remains."""
    return {"id": m.id, "chat_id": m.chat_id, "seq": m.seq, "deleted": True, "text": None}


async def render_messages(
    conn: AsyncConnection,
    viewer_id: int,
    ids: Iterable[int],
    *,
    now: float,
    cleared: Mapping[int, int] | None = None,
) -> dict[int, dict[str, Any]]:
    """Current state of these messages as ``viewer_id`` may see them (hidden or cleared for
    them shows as deleted). A channel's posts render for anyone: channels are public. An
    expired message (P5.3) is not rendered at all, as a message of a chat one left is not.

    ``cleared``: the viewer's ``cleared_seq`` in every chat of these messages, when the caller
    has just read the viewer's memberships of those chats (the chat list): saves reading them
    again."""
    rows = {
        mid: m
        for mid, m in (await message_store.get_many(conn, ids)).items()
        if not ttl_store.expired(m.expires_at, now)
    }
    if not rows:
        return {}
    hidden = {
        mid
        for _viewer, mid in await message_store.hidden_among(
            conn, [(viewer_id, mid) for mid in rows]
        )
    }
    chat_ids = {m.chat_id for m in rows.values()}
    if cleared is not None and chat_ids <= cleared.keys():
        seen = dict(cleared)
    else:
        seen = await chat_store.cleared_seqs(conn, viewer_id, chat_ids)
        public = await chat_store.channels_among(conn, chat_ids - seen.keys())
        seen.update(dict.fromkeys(public, 0))
    out = {}
    for mid, m in rows.items():
        if m.chat_id not in seen:
            continue  # no longer a member: nothing of the chat is shown
        if mid in hidden or m.seq <= seen[m.chat_id]:
            out[mid] = gone_json(m)
        else:
            out[mid] = message_json(m)
    return out
