"""Public channels (P5.1): a broadcast chat with a public handle, an owner, admins and any
number of subscribers.

What makes a channel different from a group, and is kept here and in the channel branches of
``services/chats.py``:

- **Public.** Anyone signed in finds a channel by handle or search and reads it without
  subscribing; ``GET /v1/chats/{id}`` answers for a channel whoever asks.
- **Subscribers never see each other.** No answer lists a channel's members: subscribers see
  the count, admins the count, the owner the count and the admins. Joining or leaving tells
  the joiner or leaver alone (``chat_new`` / ``chat_removed``), never the others.
- **No cost per subscriber** on any path a subscriber or a post takes: nothing here loads a
  channel's members, and every chat-level operation that does so for groups (telling every
  member of a new title, a role, a photo) has a channel branch that does not. The one
  exception is deleting a channel, which must remove every membership row anyway
  (see :func:`delete_channel`).
- **Subscriptions are counted** per day without names (``storage/channel_stats.py``,
  ``joined`` / ``left``; P10.1) in the transaction that makes the change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.config import Settings
from payam.domain import events, limits
from payam.domain.clock import Clock
from payam.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from payam.domain.events import PendingUpdate, Update, iso
from payam.domain.handles import MAX_LENGTH, check_handle, handle_key
from payam.domain.limits import Limit
from payam.domain.models import Caller
from payam.services.limiter import RateLimiter
from payam.services.profiles import check_name
from payam.services.updates import UpdateLog
from payam.storage import channel_stats
from payam.storage import channels as store
from payam.storage import chats as chat_store
from payam.storage import messages as message_store
from payam.storage.chats import ChatRow, MemberRow
from payam.storage.database import Database

CHANNEL = "channel"
# The roles of a channel's members (the same words as a group's owner and admins).
OWNER, ADMIN, SUBSCRIBER = "owner", "admin", "subscriber"
ROLES = {OWNER, ADMIN, SUBSCRIBER}
STAFF = {OWNER, ADMIN}
DESCRIPTION_MAX_LENGTH = limits.CHANNEL_DESCRIPTION_MAX_LENGTH
SEARCH_MAX_LIMIT = 50
QUERY_MAX_LENGTH = limits.CHANNEL_QUERY_MAX_LENGTH
# Updates per transaction when telling the subscribers of a deleted channel.
TELL_CHUNK = 2000
_HANDLE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def channel_json(
    chat: ChatRow, me: MemberRow | None, *, staff: list[MemberRow] | None = None
) -> dict[str, Any]:
    """A channel as anyone signed in sees it, with the caller's own subscription when there is
    one. Never the members: ``staff`` (owner and admins) is shown to the owner only."""
    body: dict[str, Any] = {
        "id": chat.id,
        "type": CHANNEL,
        "title": chat.title,
        "handle": chat.handle,
        "description": chat.description,
        "photo_url": f"/v1/chats/{chat.id}/photo" if chat.photo_key else None,
        "created_at": iso(chat.created_at),
        "last_seq": chat.last_seq,
        "subscriber_count": chat.member_count,
        "subscribed": me is not None,
        "message_ttl": chat.message_ttl,
    }
    if me is not None:
        body["role"] = me.role
        body["read_seq"] = me.read_seq
        body["muted"] = me.muted
    if staff is not None:
        body["admins"] = [
            {"user_id": m.user_id, "role": m.role, "joined_at": iso(m.joined_at)} for m in staff
        ]
    return body


def refuse_member_routes(chat: ChatRow) -> None:
    """Adding members, removing others and invite links do not exist for a channel:
    subscribers join and leave themselves."""
    if chat.type == CHANNEL:
        raise Forbidden(
            "Channels have no member list: people subscribe and leave themselves.",
            code="not_for_channels",
        )


def check_channel_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput("In a channel, role is owner, admin or subscriber.", code="invalid_role")


def check_description(description: str | None) -> str | None:
    """A description as stored: trimmed, at most 255 characters; empty is none."""
    if description is None:
        return None
    cleaned = description.strip()
    if len(cleaned) > DESCRIPTION_MAX_LENGTH:
        raise InvalidInput(
            f"A description has at most {DESCRIPTION_MAX_LENGTH} characters.",
            code="description_too_long",
        )
    return cleaned or None


# -- pieces of a transaction, shared with services/chats.py and services/erasure.py -------------


async def heir_of_channel(conn: AsyncConnection, chat_id: int) -> MemberRow | None:
    """Who owns a channel after its owner goes: the oldest admin; with none, nobody (a channel
    is not handed to a subscriber who never asked to run it)."""
    admins = [m for m in await store.staff(conn, chat_id) if m.role == ADMIN]
    return admins[0] if admins else None


async def make_owner(conn: AsyncConnection, chat_id: int, user_id: int) -> list[PendingUpdate]:
    """``user_id`` (the heir of an owner who goes) owns the channel. Only they are told
    (``member_role``): nobody else sees roles change."""
    await chat_store.update_member(conn, chat_id, user_id, role=OWNER)
    payload = {"user_id": user_id, "role": OWNER}
    return [PendingUpdate(user_id, events.MEMBER_ROLE, chat_id, None, payload)]


async def unsubscribe(
    conn: AsyncConnection, chat_id: int, user_id: int, now: float, **payload: Any
) -> list[PendingUpdate]:
    """Remove one subscription (the owner's hand-over is the caller's business): counted as
    ``left`` (P10.1), the leaver's "deleted for me" marks go, and only the leaver is told."""
    if not await chat_store.remove_member(conn, chat_id, user_id):
        return []
    await message_store.unhide_chat(conn, user_id, chat_id)
    await channel_stats.count(conn, chat_id, now, channel_stats.LEFT)
    return [PendingUpdate(user_id, events.CHAT_REMOVED, chat_id, None, payload or None)]


async def delete_channel(conn: AsyncConnection, chat_id: int) -> tuple[list[int], list[str]]:
    """Delete a channel with its posts, memberships and statistics for good (P5.3). Returns
    who was subscribed, to be told by :func:`tell_deleted` once this has committed, and the
    media files only its posts carried, for the caller to forget then (with the photo's), before
    it requests the purge.

    The deletion itself is O(subscribers) inside the database: every membership row goes (a
    cascade), as it must. Telling them is kept out of this transaction on purpose."""
    subscribers = await store.subscriber_ids(conn, chat_id)
    freed = await chat_store.delete_chat(conn, chat_id)
    return subscribers, freed


async def tell_deleted(
    db: Database,
    updates: UpdateLog,
    chat_id: int,
    user_ids: Sequence[int],
    *,
    by: int | None,
) -> None:
    """Tell each former subscriber of a deleted channel (``chat_removed``, ``deleted: true``),
    in transactions of ``TELL_CHUNK`` updates after the deletion committed.

    O(subscribers), once in a channel's life: a subscriber who is not told keeps showing a
    channel that no longer exists until their next resync. In the deletion's transaction it
    held SQLite's single writer for about 3 s at 100,000 subscribers (6 s on PostgreSQL, with
    100,000 counter rows locked), stalling every send meanwhile; in chunks of about 60 ms each,
    other writes go between them (``bench/channel_membership.py``). If the
    server stops half-way, the rest learn it when the channel answers 404 and leaves their
    chat list. A subscriber whose account was erased meanwhile is skipped."""
    payload = {"by": by, "deleted": True} if by is not None else {"deleted": True}
    chunk = TELL_CHUNK
    for start in range(0, len(user_ids), chunk):
        for attempt in (1, 2):
            try:
                async with db.write() as conn:
                    alive = await store.existing_users(conn, user_ids[start : start + chunk])
                    recorded = await updates.record(
                        conn,
                        [
                            PendingUpdate(uid, events.CHAT_REMOVED, chat_id, None, payload)
                            for uid in alive
                        ],
                    )
                break
            except IntegrityError:  # an account erased between the check and the insert
                if attempt == 2:
                    raise
        await updates.publish(recorded)


async def describe(
    conn: AsyncConnection, viewer_id: int, chat: ChatRow, *, now: float
) -> dict[str, Any]:
    """A channel as ``viewer_id`` sees it (``GET /v1/chats/{id}``, the handle lookup): for a
    subscriber with their unread count, for the owner with the admins."""
    me = await chat_store.member(conn, chat.id, viewer_id)
    staff = await store.staff(conn, chat.id) if me is not None and me.role == OWNER else None
    body = channel_json(chat, me, staff=staff)
    if me is not None:
        unread = await chat_store.unread_counts(conn, viewer_id, [chat.id], now=now)
        body["unread_count"] = unread.get(chat.id, 0)
    return body


class ChannelService:
    """Creating, finding, searching and joining channels. Leaving, deleting, roles, title and
    photo go through ``ChatService`` (the same routes as a group), in its channel branches."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        updates: UpdateLog,
        limiter: RateLimiter,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.updates = updates
        self.limiter = limiter

    async def create(
        self, caller: Caller, title: str, handle: str, description: str | None
    ) -> dict[str, Any]:
        """A channel with the caller as owner (and first subscriber). A handle taken already,
        in any case, is 409 ``handle_taken``; also when two requests race for it (the unique
        index decides, and its refusal is the same 409). Each channel made spends the
        ``channel_create_per_user`` limit (429), so nobody hoards handles; a refused one costs
        nothing."""
        title = check_name(title, self.settings.chat_title_max_length).replace("\n", " ")
        key = check_handle(handle)
        description = check_description(description)
        now = self.clock.now()
        try:
            async with self.db.write() as conn:
                if await store.by_handle(conn, key) is not None:
                    raise Conflict("This handle is taken.", code="handle_taken")
                await self.limiter.spend(
                    Limit.channel_create_per_user,
                    f"user:{caller.user_id}",
                    conn=conn,
                    code="too_many_channels",
                    message="You made many channels lately; try again later.",
                )
                chat_id = await store.create(
                    conn,
                    title=title,
                    handle=handle,
                    handle_key=key,
                    description=description,
                    created_by=caller.user_id,
                    now=now,
                )
                updates = await self._enter(
                    conn, chat_id, caller.user_id, OWNER, last_seq=0, now=now, by=caller.user_id
                )
                chat = await chat_store.get(conn, chat_id)
                me = await chat_store.member(conn, chat_id, caller.user_id)
                assert chat is not None and me is not None
                staff = await store.staff(conn, chat_id)
        except IntegrityError:
            async with self.db.read() as conn:
                taken = await store.by_handle(conn, key) is not None
            if taken:  # another request took it between our check and our insert
                raise Conflict("This handle is taken.", code="handle_taken") from None
            raise
        await self.updates.publish(updates)
        body = channel_json(chat, me, staff=staff)
        body["unread_count"] = 0
        return body

    async def _enter(
        self,
        conn: AsyncConnection,
        chat_id: int,
        user_id: int,
        role: str,
        *,
        last_seq: int,
        now: float,
        by: int | None = None,
    ) -> list[Update]:
        """Make ``user_id`` a member with ``role``: nothing unread (the read marker at
        ``last_seq``), the whole history readable, the day's ``joined`` count up (P10.1), and
        ``chat_new`` for them alone."""
        await chat_store.add_members(
            conn, chat_id, [(user_id, role)], now=now, start_seq=last_seq, cleared_seq=0
        )
        await channel_stats.count(conn, chat_id, now, channel_stats.JOINED)
        payload: dict[str, Any] = {"chat_type": CHANNEL}
        if by is not None:
            payload["by"] = by
        return await self.updates.record(
            conn, [PendingUpdate(user_id, events.CHAT_NEW, chat_id, None, payload)]
        )

    async def find(self, caller: Caller, handle: str) -> dict[str, Any]:
        """The channel with this handle, in any case; 404 ``channel_not_found``. Handles are
        ASCII (P5.1): a lookalike such as the Kelvin sign, which ``str.lower`` turns into an
        ASCII ``k``, names no channel."""
        key = handle_key(handle) if len(handle) <= MAX_LENGTH and handle.isascii() else ""
        async with self.db.read() as conn:
            chat = await store.by_handle(conn, key) if key else None
            if chat is None:
                raise NotFound("No channel has this handle.", code="channel_not_found")
            return await describe(conn, caller.user_id, chat, now=self.clock.now())

    async def search(self, caller: Caller, query: str, limit: int = 20) -> list[dict[str, Any]]:
        """Channels by handle prefix or title, case-insensitive, handle matches first, then in
        handle order (stable). ``@abc`` looks at handles only, which the unique index on
        ``handle_key`` serves on SQLite; a title is matched anywhere in it, which scans
        (docs/api.md, "Channels")."""
        query = (query or "").strip()
        if not query or query == "@":
            raise InvalidInput("Say what to search for.", code="empty_query")
        if len(query) > QUERY_MAX_LENGTH:
            raise InvalidInput(
                f"A search is at most {QUERY_MAX_LENGTH} characters.", code="query_too_long"
            )
        limit = max(1, min(limit, SEARCH_MAX_LIMIT))
        handles_only = query.startswith("@")
        lowered = query.removeprefix("@").lower()
        prefix = lowered if set(lowered) <= _HANDLE_CHARS else None
        async with self.db.read() as conn:
            found = await store.search(
                conn,
                handle_prefix=prefix,
                title_part=None if handles_only else lowered,
                limit=limit,
            )
            mine = await chat_store.roles_among(conn, [(c.id, caller.user_id) for c in found])
        out = []
        for chat in found:
            body = channel_json(chat, None)
            body["subscribed"] = (chat.id, caller.user_id) in mine
            out.append(body)
        return out

    async def join(self, caller: Caller, chat_id: int) -> dict[str, Any]:
        """Subscribe (idempotent). The subscriber starts with nothing unread (their read marker
        at the newest post) and sees the whole history; they alone are told (``chat_new``), and
        the day's ``joined`` count goes up (P10.1). Anything but a channel is 404."""
        now = self.clock.now()
        updates = []
        async with self.db.write() as conn:
            chat = await chat_store.get(conn, chat_id, lock=True)
            if chat is None or chat.type != CHANNEL:
                raise NotFound("No such chat.", code="chat_not_found")
            if await chat_store.member(conn, chat_id, caller.user_id) is None:
                updates = await self._enter(
                    conn, chat_id, caller.user_id, SUBSCRIBER, last_seq=chat.last_seq, now=now
                )
                chat = await chat_store.get(conn, chat_id)
                assert chat is not None
            body = await describe(conn, caller.user_id, chat, now=self.clock.now())
        await self.updates.publish(updates)
        return body

    async def set_description(self, caller: Caller, chat_id: int, description: str | None) -> None:
        """The owner and admins change the description (channels only). Nobody else is told:
        subscribers read it when they next open the channel."""
        description = check_description(description)
        async with self.db.write() as conn:
            chat = await chat_store.get(conn, chat_id, lock=True)
            me = await chat_store.member(conn, chat_id, caller.user_id) if chat else None
            if chat is None or (me is None and chat.type != CHANNEL):
                raise NotFound("No such chat.", code="chat_not_found")
            if chat.type != CHANNEL:
                raise InvalidInput("Only channels have a description.", code="not_a_channel")
            if me is None or me.role not in STAFF:
                raise Forbidden("Only the channel's admins can do this.", code="not_admin")
            await chat_store.update_chat(conn, chat_id, description=description)
