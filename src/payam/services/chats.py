"""Chats (P5.1, P5.2): direct chats and groups, members and roles, invite links, blocking,
muting, clearing history and reporting.

``access_chat`` is the one door to a chat: it fetches and checks membership in one step and
answers NotFound for both "missing" and "not yours", so chat ids leak nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from payam.config import Settings
from payam.domain import events, limits
from payam.domain.clock import Clock
from payam.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from payam.domain.events import PendingUpdate, iso
from payam.domain.models import Caller
from payam.services import channels
from payam.services.channels import CHANNEL, SUBSCRIBER, channel_json, refuse_member_routes
from payam.services.photos import Keys, Photo, PhotoService
from payam.services.profiles import check_name
from payam.services.purge import Purger
from payam.services.render import render_messages
from payam.services.updates import UpdateLog
from payam.storage import blocks as block_store
from payam.storage import chats as store
from payam.storage import invitations as invitation_store
from payam.storage import media as media_store
from payam.storage import messages as message_store
from payam.storage import ttl as ttl_store
from payam.storage import updates as update_store
from payam.storage import users as user_store
from payam.storage.chats import ChatRow, MemberRow
from payam.storage.database import Database

if TYPE_CHECKING:
    from payam.services.invitations import InvitationService

OWNER, ADMIN, MEMBER = "owner", "admin", "member"
ADMINS = {OWNER, ADMIN}


def heir_of(members: Sequence[MemberRow]) -> MemberRow:
    """Who owns a group after its owner goes: the oldest admin, else the oldest member."""
    return min(members, key=lambda m: (m.role != ADMIN, m.joined_at, m.user_id))


def chat_json(chat: ChatRow, me: MemberRow, *, viewer_id: int) -> dict[str, Any]:
    if chat.type == CHANNEL:  # no member count or list: subscribers never see each other
        return channel_json(chat, me)
    body: dict[str, Any] = {
        "id": chat.id,
        "type": chat.type,
        "title": chat.title,
        "photo_url": f"/v1/chats/{chat.id}/photo" if chat.photo_key else None,
        "created_at": iso(chat.created_at),
        "last_seq": chat.last_seq,
        "member_count": chat.member_count,
        "role": me.role,
        "read_seq": me.read_seq,
        "muted": me.muted,
        "message_ttl": chat.message_ttl,  # P5.3: seconds, or null when messages stay
    }
    if chat.type == "direct" and chat.direct_key:
        a, b = (int(x) for x in chat.direct_key.split(":"))
        body["peer_id"] = b if a == viewer_id else a
    return body


class ChatService:
    """Every write that depends on a chat's members or roles locks the chat's row first
    (``access_chat(..., lock=True)``; SQLite's single writer serialises anyway), so that on
    PostgreSQL two requests at once cannot both pass the member limit, add the same member
    twice, or both believe someone else is still left in a chat.
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        updates: UpdateLog,
        purge: Purger,
        photos: PhotoService,
        invitations: InvitationService,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.updates = updates
        self.purge = purge
        self.photos = photos
        # Who may pull whom into a chat, and invitations (P3.2): services/invitations.py.
        self.invitations = invitations

    async def access_chat(
        self, conn: AsyncConnection, caller: Caller, chat_id: int, *, lock: bool = False
    ) -> tuple[ChatRow, MemberRow]:
        chat = await store.get(conn, chat_id, lock=lock)
        me = await store.member(conn, chat_id, caller.user_id) if chat else None
        if chat is None or me is None:
            raise NotFound("No such chat.", code="chat_not_found")
        return chat, me

    @staticmethod
    def _check_admin(me: MemberRow, chat: ChatRow) -> None:
        if chat.type not in {"group", CHANNEL}:
            raise Forbidden("Only groups and channels have admins.", code="not_a_group")
        if me.role not in ADMINS:
            kind = "channel" if chat.type == CHANNEL else "group"
            raise Forbidden(f"Only {kind} admins can do this.", code="not_admin")

    def _check_room(self, members: int, *, joining: bool = False) -> None:
        if members > self.settings.group_member_limit:
            message = f"A group has at most {self.settings.group_member_limit} members."
            if joining:
                raise Conflict("The group is full. " + message, code="member_limit")
            raise InvalidInput(message, code="member_limit")

    @staticmethod
    async def _tell_members(
        conn: AsyncConnection, chat_id: int, kind: str, payload: dict[str, Any]
    ) -> list[PendingUpdate]:
        members = (await store.member_ids_of(conn, [chat_id]))[chat_id]
        return [PendingUpdate(m, kind, chat_id, None, payload) for m in members]

    async def _tell(
        self,
        conn: AsyncConnection,
        chat: ChatRow,
        kind: str,
        payload: dict[str, Any],
        *,
        in_channel: Sequence[int],
    ) -> list[PendingUpdate]:
        """Tell every member of a group; in a channel only ``in_channel``: never every
        subscriber (there may be millions, and they do not see each other). Subscribers read a
        new title or photo when they next open the channel."""
        if chat.type == CHANNEL:
            return [PendingUpdate(u, kind, chat.id, None, payload) for u in sorted(set(in_channel))]
        return await self._tell_members(conn, chat.id, kind, payload)

    # -- creating --------------------------------------------------------------------------------

    async def create_direct(self, caller: Caller, user_id: int) -> tuple[dict[str, Any], bool]:
        """One direct chat per pair, whoever asks: asking again returns the same chat (also
        when both ask at the same moment). Returns the chat and whether it was created."""
        if user_id == caller.user_id:
            raise InvalidInput("A direct chat needs another user.", code="invalid_user")
        key = store.direct_key(caller.user_id, user_id)
        now = self.clock.now()
        async with self.db.write() as conn:
            existing = await store.get_direct(conn, key)
            if existing is not None:
                me = await store.member(conn, existing.id, caller.user_id)
                if me is not None:
                    return chat_json(existing, me, viewer_id=caller.user_id), False
            if await user_store.get(conn, user_id) is None:
                raise NotFound("No such user.", code="user_not_found")
            if await block_store.is_blocked(conn, blocker=user_id, blocked=caller.user_id):
                raise Forbidden("You cannot message this user.", code="blocked")
            chat_id = existing.id if existing else None
            created = False
            if chat_id is None:
                chat_id = await store.create_direct(
                    conn, key=key, created_by=caller.user_id, now=now
                )
                created = chat_id is not None
            if chat_id is None:  # made by a request that committed while this one waited
                raced = await store.get_direct(conn, key)
                if raced is None:
                    raise Conflict("The chat changed meanwhile; try again.", code="retry")
                chat_id = raced.id
            if created:
                if await self.invitations.is_stranger(conn, caller.user_id, user_id):
                    await self.invitations.spend_on_strangers(conn, caller.user_id, 1)
                new_members = [caller.user_id, user_id]
                # The caller opened the chat: their profile shows to the other side, whose
                # own shows only once they answer (P3.2, domain/visibility.py).
                await store.add_members(
                    conn,
                    chat_id,
                    [(u, MEMBER) for u in new_members],
                    now=now,
                    start_seq=0,
                    shown=[caller.user_id],
                )
            else:
                new_members = await self._come_back(conn, chat_id, caller.user_id, now)
            chat = await store.get(conn, chat_id)
            me = await store.member(conn, chat_id, caller.user_id)
            assert chat is not None and me is not None
            updates = await self.updates.record(
                conn,
                [
                    PendingUpdate(uid, events.CHAT_NEW, chat_id, None, {"chat_type": "direct"})
                    for uid in new_members
                ],
            )
        await self.updates.publish(updates)
        return chat_json(chat, me, viewer_id=caller.user_id), created

    @staticmethod
    async def _come_back(
        conn: AsyncConnection, chat_id: int, user_id: int, now: float
    ) -> list[int]:
        """Put a user who left (deleted) a direct chat back in it, without the history that
        went from their devices when they left; [] when they are a member already."""
        chat = await store.get(conn, chat_id, lock=True)
        assert chat is not None
        if await store.member(conn, chat_id, user_id) is not None:
            return []
        await store.add_members(
            conn,
            chat_id,
            [(user_id, MEMBER)],
            now=now,
            start_seq=chat.last_seq,
            cleared_seq=chat.last_seq,
            shown=[user_id],  # they opened it again themself
        )
        return [user_id]

    def _check_title(self, title: str) -> str:
        return check_name(title, self.settings.chat_title_max_length).replace("\n", " ")

    async def create_group(
        self, caller: Caller, title: str, member_ids: Sequence[int]
    ) -> dict[str, Any]:
        title = self._check_title(title)
        others = sorted({m for m in member_ids if m != caller.user_id})
        self._check_room(len(others) + 1)
        now = self.clock.now()
        async with self.db.write() as conn:
            await self._check_addable(conn, caller, others)
            adds = await self.invitations.sort_adds(conn, caller.user_id, others)
            chat_id = await store.create(
                conn, type_="group", title=title, direct=None, created_by=caller.user_id, now=now
            )
            await store.add_members(
                conn,
                chat_id,
                [(caller.user_id, OWNER)] + [(m, MEMBER) for m in adds.members],
                now=now,
                start_seq=0,
                shown={caller.user_id, *adds.shown},
            )
            chat = await store.get(conn, chat_id)
            me = await store.member(conn, chat_id, caller.user_id)
            assert chat is not None and me is not None
            payload = {"chat_type": "group", "by": caller.user_id}
            pending = [
                PendingUpdate(uid, events.CHAT_NEW, chat_id, None, payload)
                for uid in [caller.user_id, *adds.members]
            ]
            pending += await self.invitations.invite(conn, chat_id, caller.user_id, adds.invited)
            updates = await self.updates.record(conn, pending)
        await self.updates.publish(updates)
        # Those whose group_adds did not let the caller add them got an invitation (P3.2).
        return chat_json(chat, me, viewer_id=caller.user_id) | {"invited": adds.invited}

    async def _check_addable(
        self, conn: AsyncConnection, caller: Caller, user_ids: Sequence[int]
    ) -> None:
        """Users exist, and none of them blocked the caller (no adding people who said no)."""
        for uid in user_ids:
            if await user_store.get(conn, uid) is None:
                raise NotFound(f"No such user: {uid}.", code="user_not_found")
            if await block_store.is_blocked(conn, blocker=uid, blocked=caller.user_id):
                raise Forbidden("One of these users cannot be added by you.", code="blocked")

    # -- reading ---------------------------------------------------------------------------------

    async def list_chats(self, caller: Caller, limit: int = 100) -> list[dict[str, Any]]:
        """The caller's chats with the last message and the unread count."""
        limit = max(1, min(limit, 500))
        now = self.clock.now()
        async with self.db.read(quick=True) as conn:  # a page of index lookups
            rows = await store.chats_of(conn, caller.user_id, limit=limit, now=now)
            # After the caller cleared the history, the chat has no last message for them.
            shown = [(c, me, mid) for c, me, mid, _ in rows if mid and c.last_seq > me.cleared_seq]
            # An expired last message is not rendered (P5.3): the chat shows none.
            last = await render_messages(
                conn,
                caller.user_id,
                [mid for _, _, mid in shown],
                now=now,
                cleared={c.id: me.cleared_seq for c, me, _ in shown},
            )
        out = []
        for chat, me, last_id, unread in rows:
            body = chat_json(chat, me, viewer_id=caller.user_id)
            cleared = chat.last_seq <= me.cleared_seq
            body["last_message"] = last.get(last_id) if last_id and not cleared else None
            body["unread_count"] = unread
            out.append(body)
        return out

    async def get_chat(self, caller: Caller, chat_id: int) -> dict[str, Any]:
        now = self.clock.now()
        async with self.db.read() as conn:
            found = await store.get(conn, chat_id)
            if found is not None and found.type == CHANNEL:  # public: for anyone signed in
                return await channels.describe(conn, caller.user_id, found, now=now)
            chat, me = await self.access_chat(conn, caller, chat_id)
            members = await store.members(conn, chat_id)
            unread = await store.unread_counts(conn, caller.user_id, [chat_id], now=now)
            apart = await block_store.blocked_either_way(
                conn, caller.user_id, [m.user_id for m in members]
            )
        body = chat_json(chat, me, viewer_id=caller.user_id)
        body["unread_count"] = unread.get(chat_id, 0)
        body["members"] = [
            {
                "user_id": m.user_id,
                "role": m.role,
                "joined_at": iso(m.joined_at),
                # Blocking silences read receipts both ways (as the ``read`` updates).
                "read_seq": None if m.user_id in apart else m.read_seq,
            }
            for m in members
        ]
        return body

    # -- membership ------------------------------------------------------------------------------

    async def add_members(self, caller: Caller, chat_id: int, user_ids: Sequence[int]) -> None:
        """Admins add members, up to the member limit; users who blocked the caller cannot be
        added by them; users whose ``group_adds`` does not let the caller add them are invited
        instead (P3.2, services/invitations.py)."""
        now = self.clock.now()
        async with self.db.write() as conn:
            chat, me = await self.access_chat(conn, caller, chat_id, lock=True)
            refuse_member_routes(chat)
            self._check_admin(me, chat)
            current = (await store.member_ids_of(conn, [chat_id]))[chat_id]
            new = sorted({u for u in user_ids if u not in current})
            if not new:
                return
            await self._check_addable(conn, caller, new)
            adds = await self.invitations.sort_adds(conn, caller.user_id, new)
            new = adds.members
            self._check_room(len(current) + len(new))
            await store.add_members(
                conn,
                chat_id,
                [(u, MEMBER) for u in new],
                now=now,
                start_seq=chat.last_seq,
                shown=adds.shown,
            )
            await invitation_store.remove_for(conn, chat_id, new)
            payload = {"chat_type": "group", "by": caller.user_id}
            pending = await self.invitations.invite(conn, chat_id, caller.user_id, adds.invited)
            pending += [PendingUpdate(u, events.CHAT_NEW, chat_id, None, payload) for u in new]
            pending += [
                PendingUpdate(
                    m, events.MEMBER_ADDED, chat_id, None, {"user_id": u, "by": caller.user_id}
                )
                for u in new
                for m in current
            ]
            updates = await self.updates.record(conn, pending)
        await self.updates.publish(updates)

    async def remove_member(self, caller: Caller, chat_id: int, user_id: int) -> None:
        """An admin removes a member (not the owner; admins only by the owner); a member
        removing themself is leaving."""
        if user_id == caller.user_id:
            await self.leave(caller, chat_id)
            return
        async with self.db.write() as conn:
            chat, me = await self.access_chat(conn, caller, chat_id, lock=True)
            refuse_member_routes(chat)
            self._check_admin(me, chat)
            target = await store.member(conn, chat_id, user_id)
            if target is None:
                raise NotFound("No such member.", code="member_not_found")
            if target.role == OWNER or (target.role == ADMIN and me.role != OWNER):
                raise Forbidden("You cannot remove this member.", code="not_allowed")
            pending = await self._drop_member(conn, chat_id, user_id, by=caller.user_id)
            updates = await self.updates.record(conn, pending)
        await self.updates.publish(updates)

    async def _drop_member(
        self, conn: AsyncConnection, chat_id: int, user_id: int, *, by: int
    ) -> list[PendingUpdate]:
        """Remove a member; the updates the removed member and the others are to get."""
        await store.remove_member(conn, chat_id, user_id)
        await message_store.unhide_chat(conn, user_id, chat_id)
        pending = [PendingUpdate(user_id, events.CHAT_REMOVED, chat_id, None, {"by": by})]
        return pending + await self._tell_members(
            conn, chat_id, events.MEMBER_REMOVED, {"user_id": user_id, "by": by}
        )

    async def leave(self, caller: Caller, chat_id: int, *, delete_chat: bool = False) -> None:
        """Leave a chat. An owner leaving hands the group to the oldest admin (or, with no
        admin, the oldest member). ``delete_chat`` by the owner of a group deletes it for every
        member; a chat nobody is left in is deleted too. Deleting takes every message, invite
        link and the group photo's files with it, for good (P5.3). Channels: see
        ``_leave_channel``."""
        if await self._is_channel(chat_id):
            await self._leave_channel(caller, chat_id, delete_chat=delete_chat)
            return
        async with self.db.write() as conn:
            chat, me = await self.access_chat(conn, caller, chat_id, lock=True)
            if delete_chat and chat.type == "group" and me.role != OWNER:
                raise Forbidden("Only the owner can delete a group.", code="not_owner")
            if delete_chat and chat.type == "group":
                pending = await self._tell_members(
                    conn, chat_id, events.CHAT_REMOVED, {"by": caller.user_id, "deleted": True}
                )
                deleted = True
            else:
                pending = await self._drop_member(conn, chat_id, caller.user_id, by=caller.user_id)
                if chat.type == "group" and me.role == OWNER:
                    pending += await self._hand_over(conn, chat_id)
                # Nobody can see a chat with no member left: it and its messages go (P5.3).
                deleted = not (await store.member_ids_of(conn, [chat_id]))[chat_id]
            freed = await store.delete_chat(conn, chat_id) if deleted else []
            updates = await self.updates.record(conn, pending)
        await self.updates.publish(updates)
        if deleted:
            # The group photo and the media of its messages, unless something else shows them.
            await self.photos.files.forget([chat.photo_key, chat.photo_thumb_key, *freed])
            await self.purge.request()

    async def _is_channel(self, chat_id: int) -> bool:
        async with self.db.read() as conn:  # a chat's type never changes
            chat = await store.get(conn, chat_id)
        return chat is not None and chat.type == CHANNEL

    async def _leave_channel(self, caller: Caller, chat_id: int, *, delete_chat: bool) -> None:
        """Unsubscribe: the leaver alone is told (no ``member_removed`` to anyone), and leaving
        twice is no error. The owner hands the channel to the oldest admin; with no admin they
        cannot leave (409 ``owner_must_hand_over``) but may delete it: ``delete_chat`` by the
        owner deletes the channel, its posts and its photo for good (P5.3), then tells every
        subscriber (``channels.tell_deleted``: O(subscribers), in short transactions after the
        deletion committed)."""
        now = self.clock.now()
        async with self.db.write() as conn:
            chat = await store.get(conn, chat_id, lock=True)
            if chat is None:
                raise NotFound("No such chat.", code="chat_not_found")
            me = await store.member(conn, chat_id, caller.user_id)
            if delete_chat and (me is None or me.role != OWNER):
                raise Forbidden("Only the owner can delete a channel.", code="not_owner")
            if me is None:
                return
            freed: list[str] = []
            subscribers: list[int] = []
            pending: list[PendingUpdate] = []
            if delete_chat:
                freed = await media_store.release_chat(conn, chat_id)  # the posts' media
                subscribers, also_freed = await channels.delete_channel(conn, chat_id)
                freed += also_freed
            else:
                if me.role == OWNER:
                    heir = await channels.heir_of_channel(conn, chat_id)
                    if heir is None:
                        raise Conflict(
                            "A channel's owner leaves after making an admin the owner, or "
                            "deletes the channel.",
                            code="owner_must_hand_over",
                        )
                    pending += await channels.make_owner(conn, chat_id, heir.user_id)
                pending += await channels.unsubscribe(
                    conn, chat_id, caller.user_id, now, by=caller.user_id
                )
            updates = await self.updates.record(conn, pending)
        await self.updates.publish(updates)
        if delete_chat:
            await self.photos.files.forget([chat.photo_key, chat.photo_thumb_key, *freed])
            await self.purge.request()
            # Nobody named: readers never see the channel's staff (P5.1).
            await channels.tell_deleted(self.db, self.updates, chat_id, subscribers, by=None)

    async def _hand_over(self, conn: AsyncConnection, chat_id: int) -> list[PendingUpdate]:
        members = await store.members(conn, chat_id)
        if not members:
            return []
        heir = heir_of(members)
        await store.update_member(conn, chat_id, heir.user_id, role=OWNER)
        payload = {"user_id": heir.user_id, "role": OWNER}
        return [
            PendingUpdate(m.user_id, events.MEMBER_ROLE, chat_id, None, payload) for m in members
        ]

    async def set_role(self, caller: Caller, chat_id: int, user_id: int, role: str) -> None:
        """The owner promotes a member to admin or demotes an admin (and may hand over
        ownership with role=owner, staying an admin)."""
        if role not in {ADMIN, MEMBER, OWNER, SUBSCRIBER}:
            raise InvalidInput("role is admin, member or owner.", code="invalid_role")
        async with self.db.write() as conn:
            chat, me = await self.access_chat(conn, caller, chat_id, lock=True)
            self._check_admin(me, chat)
            if chat.type == CHANNEL:
                channels.check_channel_role(role)
            elif role == SUBSCRIBER:
                raise InvalidInput("role is admin, member or owner.", code="invalid_role")
            if me.role != OWNER:
                raise Forbidden("Only the owner changes roles.", code="not_owner")
            target = await store.member(conn, chat_id, user_id)
            # The owner sees a channel's staff, not its subscribers (P5.1): making a subscriber
            # a subscriber changes nothing and answers as for someone not subscribed, so
            # walking user ids through it tells the owner nobody's subscription.
            quiet = chat.type == CHANNEL and role == SUBSCRIBER
            if target is None or (quiet and target.role == SUBSCRIBER):
                raise NotFound("No such member.", code="member_not_found")
            if user_id == caller.user_id:
                raise InvalidInput(
                    "The owner hands over by making another member owner.", code="invalid_role"
                )
            if target.role == role:
                return
            changes = [(user_id, role)]
            if role == OWNER:
                changes.append((caller.user_id, ADMIN))
            pending = []
            for uid, new_role in changes:
                await store.update_member(conn, chat_id, uid, role=new_role)
                pending += await self._tell(
                    conn,
                    chat,
                    events.MEMBER_ROLE,
                    {"user_id": uid, "role": new_role},
                    in_channel=[user_id, caller.user_id],
                )
            updates = await self.updates.record(conn, pending)
        await self.updates.publish(updates)

    async def set_title(self, caller: Caller, chat_id: int, title: str) -> None:
        title = self._check_title(title)
        async with self.db.write() as conn:
            chat, me = await self.access_chat(conn, caller, chat_id, lock=True)
            self._check_admin(me, chat)
            await store.update_chat(conn, chat_id, title=title)
            updates = await self.updates.record(
                conn,
                await self._tell(
                    conn, chat, events.CHAT_UPDATED, {"title": title}, in_channel=[caller.user_id]
                ),
            )
        await self.updates.publish(updates)

    # -- group photo -----------------------------------------------------------------------------

    async def set_photo(self, caller: Caller, chat_id: int, data: bytes) -> dict[str, Any]:
        """Admins set the group photo: re-encoded without metadata like a profile photo (P3.3);
        the files of the photo it replaces go unless something else shows them (P5.3)."""
        async with self.db.read() as conn:  # refuse before decoding or spending the budget
            chat, me = await self.access_chat(conn, caller, chat_id)
            self._check_admin(me, chat)

        async def record(full_key: str, thumb_key: str) -> Keys:
            return await self._swap_photo(caller, chat_id, full_key, thumb_key)

        await self.photos.replace(caller.user_id, data, record)
        return await self.get_chat(caller, chat_id)

    async def delete_photo(self, caller: Caller, chat_id: int) -> dict[str, Any]:
        """Admins remove the group photo; its files are erased unless still shown (P5.3)."""

        async def record() -> Keys:
            return await self._swap_photo(caller, chat_id, None, None)

        await self.photos.remove(record)
        return await self.get_chat(caller, chat_id)

    async def _swap_photo(
        self, caller: Caller, chat_id: int, full_key: str | None, thumb_key: str | None
    ) -> Keys:
        async with self.db.write() as conn:
            chat, me = await self.access_chat(conn, caller, chat_id, lock=True)
            self._check_admin(me, chat)
            old = (chat.photo_key, chat.photo_thumb_key)
            if old == (full_key, thumb_key):
                return old
            await store.update_chat(conn, chat_id, photo_key=full_key, photo_thumb_key=thumb_key)
            updates = await self.updates.record(
                conn,
                await self._tell(
                    conn,
                    chat,
                    events.CHAT_UPDATED,
                    {"photo": full_key is not None},
                    in_channel=[caller.user_id],
                ),
            )
        await self.updates.publish(updates)
        return old

    async def photo(self, caller: Caller, chat_id: int, *, thumbnail: bool) -> Photo:
        """The group photo, for members only (anyone else: the chat is not found)."""
        async with self.db.read() as conn:
            chat = await store.get(conn, chat_id)
            if chat is None or chat.type != CHANNEL:  # a channel's photo is public
                chat, _ = await self.access_chat(conn, caller, chat_id)
        found = await self.photos.read(chat.photo_thumb_key if thumbnail else chat.photo_key)
        if found is None:
            raise NotFound("No such photo.", code="photo_not_found")
        return found

    # -- invite links ----------------------------------------------------------------------------

    async def create_invite(self, caller: Caller, chat_id: int) -> dict[str, Any]:
        token = secrets.token_urlsafe(18)
        now = self.clock.now()
        async with self.db.write() as conn:
            chat, me = await self.access_chat(conn, caller, chat_id)
            refuse_member_routes(chat)
            self._check_admin(me, chat)
            await store.create_invite(
                conn, token=token, chat_id=chat_id, created_by=caller.user_id, now=now
            )
        return {"token": token, "chat_id": chat_id, "created_at": iso(now), "revoked": False}

    async def list_invites(self, caller: Caller, chat_id: int) -> list[dict[str, Any]]:
        async with self.db.read() as conn:
            chat, me = await self.access_chat(conn, caller, chat_id)
            refuse_member_routes(chat)
            self._check_admin(me, chat)
            rows = await store.invites_of(conn, chat_id)
        return [
            {
                "token": r["token"],
                "chat_id": chat_id,
                "created_at": iso(r["created_at"]),  # type: ignore[arg-type]
                "revoked": r["revoked_at"] is not None,
            }
            for r in rows
        ]

    async def revoke_invite(self, caller: Caller, chat_id: int, token: str) -> None:
        async with self.db.write() as conn:
            chat, me = await self.access_chat(conn, caller, chat_id)
            refuse_member_routes(chat)
            self._check_admin(me, chat)
            if not await store.revoke_invite(conn, chat_id, token, self.clock.now()):
                raise NotFound("No such invite link.", code="invite_not_found")

    async def join_by_invite(self, caller: Caller, token: str) -> dict[str, Any]:
        """Join the group of a working invite link; joining again changes nothing. A full
        group refuses (409 ``member_limit``)."""
        now = self.clock.now()
        async with self.db.write() as conn:
            found = await store.invite(conn, token) if len(token) <= 64 else None
            if found is None or found[1] is not None:
                raise NotFound("This invite link does not work.", code="invite_not_found")
            chat_id = found[0]
            chat = await store.get(conn, chat_id, lock=True)
            assert chat is not None  # invite links go with their chat
            current = (await store.member_ids_of(conn, [chat_id]))[chat_id]
            updates = []
            if caller.user_id not in current:
                self._check_room(len(current) + 1, joining=True)
                # Joined by themself: their profile shows to the members (P3.2).
                await store.add_members(
                    conn,
                    chat_id,
                    [(caller.user_id, MEMBER)],
                    now=now,
                    start_seq=chat.last_seq,
                    shown=[caller.user_id],
                )
                await invitation_store.remove_for(conn, chat_id, [caller.user_id])
                by = {"by": caller.user_id}
                pending = [
                    PendingUpdate(
                        caller.user_id, events.CHAT_NEW, chat_id, None, {"chat_type": "group", **by}
                    )
                ]
                pending += [
                    PendingUpdate(
                        m, events.MEMBER_ADDED, chat_id, None, {"user_id": caller.user_id, **by}
                    )
                    for m in current
                ]
                updates = await self.updates.record(conn, pending)
            chat = await store.get(conn, chat_id)
            me = await store.member(conn, chat_id, caller.user_id)
            assert chat is not None and me is not None
        await self.updates.publish(updates)
        return chat_json(chat, me, viewer_id=caller.user_id)

    # -- per-member settings -----------------------------------------------------------------

    async def set_muted(self, caller: Caller, chat_id: int, muted: bool) -> None:
        async with self.db.write() as conn:
            await self.access_chat(conn, caller, chat_id)
            await store.update_member(conn, chat_id, caller.user_id, muted=muted)

    async def clear_history(self, caller: Caller, chat_id: int, *, for_everyone: bool) -> None:
        """Clear the chat's history for the caller, or (group admins, either side of a direct
        chat) for everyone, where the text is deleted for good (P5.2, P5.3)."""
        now = self.clock.now()
        async with self.db.write() as conn:
            chat, me = await self.access_chat(conn, caller, chat_id, lock=True)
            if for_everyone and chat.type == CHANNEL:
                raise Forbidden(
                    "A channel's posts are deleted one by one by its admins.",
                    code="not_for_channels",
                )
            members = (await store.member_ids_of(conn, [chat_id]))[chat_id] if for_everyone else []
            freed: list[str] = []
            if for_everyone:
                if chat.type == "group" and me.role not in ADMINS:
                    raise Forbidden(
                        "Only group admins clear history for everyone.", code="not_admin"
                    )
                await message_store.tombstone_chat_before(conn, chat_id, chat.last_seq, now)
                freed = await media_store.release_chat(conn, chat_id, chat.last_seq)
                for m in members:
                    await store.update_member(conn, chat_id, m, cleared_seq=chat.last_seq)
                targets = members
            else:
                await store.update_member(conn, chat_id, caller.user_id, cleared_seq=chat.last_seq)
                targets = [caller.user_id]
            updates = await self.updates.record(
                conn,
                [
                    PendingUpdate(
                        m,
                        events.CHAT_CLEARED,
                        chat_id,
                        None,
                        {"cleared_seq": chat.last_seq, "for_everyone": for_everyone},
                    )
                    for m in targets
                ],
            )
        await self.updates.publish(updates)
        if for_everyone:
            await self.photos.files.forget(freed)  # the media only those messages carried
            await self.purge.request()

    async def report(self, caller: Caller, chat_id: int, message_id: int, reason: str) -> int:
        """Report a message for moderators (kept with the reporter, never shown to the author).
        A channel's posts are public, so any reader reports them, subscribed or not."""
        reason = (reason or "").strip()
        if not reason or len(reason) > limits.REPORT_REASON_MAX_LENGTH:
            raise InvalidInput(
                f"Give a reason of at most {limits.REPORT_REASON_MAX_LENGTH} characters.",
                code="invalid_reason",
            )
        async with self.db.write() as conn:
            chat = await store.get(conn, chat_id)
            if chat is not None and chat.type == CHANNEL:
                me = await store.member(conn, chat_id, caller.user_id)
                cleared = me.cleared_seq if me is not None else 0
            else:
                cleared = (await self.access_chat(conn, caller, chat_id))[1].cleared_seq
            message = await message_store.get(conn, message_id)
            if (
                message is None
                or message.chat_id != chat_id
                or message.seq <= cleared
                or ttl_store.expired(message.expires_at, self.clock.now())  # gone (P5.3)
            ):
                raise NotFound("No such message.", code="message_not_found")
            return await block_store.add_report(
                conn,
                reporter_id=caller.user_id,
                message_id=message_id,
                chat_id=chat_id,
                reported_user_id=message.sender_id,
                reason=reason,
                now=self.clock.now(),
            )

    # -- blocking --------------------------------------------------------------------------------

    async def block(self, caller: Caller, user_id: int) -> None:
        if user_id == caller.user_id:
            raise InvalidInput("You cannot block yourself.", code="invalid_user")
        async with self.db.write() as conn:
            if await user_store.get(conn, user_id) is None:
                raise NotFound("No such user.", code="user_not_found")
            await block_store.add(
                conn, blocker=caller.user_id, blocked=user_id, now=self.clock.now()
            )

    async def unblock(self, caller: Caller, user_id: int) -> None:
        async with self.db.write() as conn:
            removed = await block_store.remove(conn, blocker=caller.user_id, blocked=user_id)
        if not removed:
            raise NotFound("This user is not blocked.", code="not_blocked")

    async def blocked(self, caller: Caller) -> list[dict[str, Any]]:
        async with self.db.read() as conn:
            rows = await block_store.blocked_by(conn, caller.user_id)
        return [{"user_id": uid, "blocked_at": iso(at)} for uid, at in rows]

    async def check_member(self, caller: Caller, chat_id: int) -> list[int]:
        """Member ids of a chat the caller belongs to who may see the caller typing: not those
        the caller blocked, nor those who blocked the caller (blocking silences typing too)."""
        async with self.db.read() as conn:
            chat, _ = await self.access_chat(conn, caller, chat_id)
            if chat.type == CHANNEL:  # subscribers never see each other, nor who is typing
                raise Forbidden("Nobody sees typing in a channel.", code="not_for_channels")
            members = (await store.member_ids_of(conn, [chat_id]))[chat_id]
            apart = await block_store.blocked_either_way(conn, caller.user_id, members)
        return [m for m in members if m not in apart]

    async def channel_subscriptions(self, caller: Caller) -> tuple[list[int], int]:
        """The caller's channels and their update seq, from one snapshot: the gateway's index
        of who hears a channel's live frames starts here, and follows the updates after it."""
        async with self.db.read() as conn:
            channel_ids = await store.channel_ids_of(conn, caller.user_id)
            as_of = await update_store.last_seq(conn, caller.user_id)
        return channel_ids, as_of
