"""Erasing an account (P11.3, P5.3): complete, permanent, and said so in a receipt.

``erase_account`` runs these steps, in this order:

1. **Prove control of the number again.** A fresh one-time code sent to the account's own
   number (``POST /v1/auth/code``) is checked and used up; a live session alone is not enough,
   so a stolen token cannot delete an account. Then the erasure is **written to the erasure
   log** (``adapters/erasure_log.py``: the user id and the time, outside the database), so
   that ``payam restore`` of a backup made before now erases the account again
   (``replay_erasure``, the steps below without step 1).
2. **Remove the profile photo files** through ``ProfileService.delete_photo``: each file is
   overwritten, synced and unlinked unless another account shows the same bytes.
3. In **one transaction** (all or nothing):
   a. **Tombstone every message the user sent**, in every chat, like a delete for everyone:
      text and content hash go, the row stays so other members' seqs stay gapless; members
      get ``message_deleted``. Forwards of the user's messages by others stop naming them.
      The files those messages carried go with them, unless a forward by someone else still
      carries one (it is theirs now, as the forward's text is).
   b. **Leave every chat.** A group the user owns is first handed to its oldest admin, else
      its oldest member (the same rule as an owner leaving); a chat nobody is left in is
      deleted with its messages. A direct chat loses its pair key (it named the user). The
      other members get ``member_removed`` with ``account_deleted: true``. A **channel** is
      left without telling anyone (subscribers never see each other): one it owns goes to
      its oldest admin, or, with no admin, is deleted with its posts (its subscribers get
      ``chat_removed``); its posts are tombstoned with one channel frame each, not one
      update per subscriber.
   c. **Delete every row that names the user**, table by table as the data map's ``subject``
      annotations say (``storage/privacy.py``): devices and so every session token, uploaded
      contacts, access-log records, consents, notices, partner objections, the admin role,
      blocks both ways, reports they made, invites they created, updates and counters,
      prize wins, admin-access records about them, pending codes for the number. Chats and
      messages are skipped there: steps a and b decided for them. So are media uploads:
      those no message carries go (with their files, step 5); those a forward by someone
      else still carries stay with it and lose their uploader (``owner_id`` NULL).
   d. **Record the cool-down**: the number's keyed hash in ``erasure_cooldowns`` until
      ``erasure_cooldown_days`` from now (the one thing kept, listed in the data map with its
      reason: a deleted number cannot be re-registered at once to shed a suspension or
      reports).
   e. **Delete the account row.** Reports about the user keep the message they point at but
      no longer name the user (ON DELETE SET NULL); tombstones lose their sender likewise.
4. **Tell the others** (updates published after the commit, as always).
5. **Purge**: merge the full-text index and truncate the WAL, so the deleted text is in no
   database file (``services/purge.py``).
6. **Erase the texts sent to the number** from the SMS outbox (``adapters/sms.py``: codes,
   the one that proved this erasure included), overwritten in place. (Invitations the user
   sent name them in a text to someone else's number; those age out with the outbox's
   retention, ``sms_outbox_retention_hours``.)
7. **Return a receipt**: an id, when, and how many records of each kind went. It is not
   stored: keeping a copy would keep a trace of the account.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.adapters.erasure_log import ErasureLog
from payam.adapters.sms import SmsRecords
from payam.config import Settings
from payam.domain import events
from payam.domain.clock import Clock
from payam.domain.events import PendingUpdate, iso
from payam.domain.models import Caller, User
from payam.services import channels
from payam.services.auth import AuthService
from payam.services.chats import OWNER, heir_of
from payam.services.profiles import ProfileService
from payam.services.purge import Purger
from payam.services.updates import UpdateLog
from payam.storage import account_state, privacy, users
from payam.storage import chats as chat_store
from payam.storage import media as media_store
from payam.storage import messages as message_store
from payam.storage.database import Database
from payam.storage.tables import chats, messages

# Decided by the steps above rather than by the generic delete by subject.
_DECIDED_ELSEWHERE = {
    "users",
    "chats",
    "chat_members",
    "messages",
    "reports",
    "erasure_cooldowns",
    "media",
}


@dataclass(frozen=True, slots=True)
class Receipt:
    receipt_id: str
    user_id: int
    erased_at: float
    removed: dict[str, int]
    kept: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "receipt_id": self.receipt_id,
            "user_id": self.user_id,
            "erased_at": iso(self.erased_at),
            "removed": self.removed,
            "kept": self.kept,
            "note": "Your account and everything listed here are permanently deleted. payam "
            "keeps no copy of this receipt.",
        }


class ErasureService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        auth: AuthService,
        profiles: ProfileService,
        updates: UpdateLog,
        purge: Purger,
        erasure_log: ErasureLog,
        sms_records: SmsRecords | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.auth = auth
        self.profiles = profiles
        self.updates = updates
        self.purge = purge
        self.sms_records = sms_records
        self.erasure_log = erasure_log

    async def erase_account(self, caller: Caller, code: str, *, ip: str | None) -> Receipt:
        """Delete the caller's account for good; see the module docstring for every step."""
        user = await self.profiles.me(caller)
        # 1. A fresh code to the account's own number; then the erasure log.
        await self.auth.verify_code(user.phone, code, ip=ip)
        self.erasure_log.append(user.id, self.clock.now())
        return await self._erase(user, caller)

    async def replay_erasure(self, user_id: int) -> Receipt | None:
        """Erase again an account that the erasure log says was erased (after a restore from
        a backup made before): the same steps, without the code; None if it is not there."""
        async with self.db.read() as conn:
            user = await users.get(conn, user_id)
        if user is None:
            return None
        return await self._erase(user, Caller(user_id=user.id, device_id=0))

    async def _erase(self, user: User, caller: Caller) -> Receipt:
        # 2. Photo files.
        removed: Counter[str] = Counter()
        if user.photo_key or user.photo_thumb_key:
            await self.profiles.delete_photo(caller)
            removed["profile_photo_files"] = sum(
                1 for key in (user.photo_key, user.photo_thumb_key) if key
            )
        now = self.clock.now()
        until = now + self.settings.erasure_cooldown_days * 86400
        phone_hash = self.auth.phone_hash(user.phone)
        pending: list[PendingUpdate] = []
        async with self.db.write() as conn:
            # 3a. Messages.
            removed["messages"], tell, frames = await self._tombstone_messages(conn, user.id, now)
            pending += tell
            freed_media = await media_store.release_sent_by(conn, user.id)
            # 3b. Chats.
            removed["chat_memberships"], tell, freed, gone = await self._leave_chats(
                conn, user.id, now
            )
            pending += tell
            # Uploads no message carries any more (never sent, or sent in what went above).
            freed_media += await media_store.release_owner(conn, user.id)
            # 3c. Every other row that names the user.
            for subject in reversed(privacy.subject_tables()):
                if subject.table.name in _DECIDED_ELSEWHERE:
                    continue
                count = await privacy.delete_rows_of(conn, subject, user.id, phone_hash)
                if count:
                    removed[subject.table.name] += count
            # Reports the user made go; reports about them stay for moderators, nameless
            # (ON DELETE SET NULL when the account row goes, below).
            removed["reports"] = await account_state.delete_reports_by(conn, user.id)
            # 3d. The cool-down, 3e. the account.
            await account_state.start_cooldown(conn, phone_hash, until)
            removed["account"] = await account_state.delete_user(conn, user.id)
            # 4. Recorded in this transaction, published after it.
            recorded = await self.updates.record(conn, [p for p in pending if p.user_id != user.id])
        # Every session went with the account: its sockets close, in every process.
        await self.auth.sessions_ended(user.id)
        await self.updates.publish(recorded)
        for chat_id, frame in frames:
            await self.updates.publish_channel(chat_id, frame)
        for chat_id, subscribers in gone.items():  # channels deleted with their owner
            others = [uid for uid in subscribers if uid != user.id]
            await channels.tell_deleted(self.db, self.updates, chat_id, others, by=None)
        # 5. Off the disk: photos of groups that went with the last member, the media files
        # nothing carries any more (P5.3), then the purge.
        erased = await self.profiles.photos.files.forget([*freed, *freed_media])
        if erased:
            removed["files"] = erased
        await self.purge.run()
        # 6. The texts sent to the number (codes, the one that proved this erasure included).
        if self.sms_records is not None:
            lines = await self.sms_records.erase(user.phone)
            if lines:
                removed["sms_outbox_lines"] = lines
        return Receipt(
            receipt_id=secrets.token_hex(16),
            user_id=user.id,
            erased_at=now,
            removed=dict(sorted(removed.items())),
            kept=[
                {
                    "field": "erasure_cooldowns.phone_hash",
                    "what": "a keyed hash of your number (not the number)",
                    "until": iso(until),
                    "why": "a just-deleted number cannot open a new account at once (abuse)",
                }
            ],
        )

    async def _tombstone_messages(
        self, conn: AsyncConnection, user_id: int, now: float
    ) -> tuple[int, list[PendingUpdate], list[tuple[int, dict[str, Any]]]]:
        """Tombstone the user's messages; the updates for members of groups and direct chats,
        and one live frame per channel post (a channel writes no update per subscriber)."""
        rows = (
            await conn.execute(
                select(messages.c.id, messages.c.chat_id, messages.c.seq).where(
                    messages.c.sender_id == user_id, messages.c.deleted_at.is_(None)
                )
            )
        ).all()
        await message_store.tombstone(conn, [r.id for r in rows], now)
        # Others' forwards of the user's messages keep their text (it is theirs now) but no
        # longer name the erased account.
        await conn.execute(
            update(messages)
            .where(messages.c.forward_from_user_id == user_id)
            .values(forward_from_user_id=None)
        )
        in_channels = await chat_store.channels_among(conn, {r.chat_id for r in rows})
        members = await chat_store.member_ids_of(conn, {r.chat_id for r in rows} - in_channels)
        frames = [
            (
                r.chat_id,
                {
                    "type": "channel",
                    "chat_id": r.chat_id,
                    "kind": events.MESSAGE_DELETED,
                    "message": {
                        "id": r.id,
                        "chat_id": r.chat_id,
                        "seq": r.seq,
                        "deleted": True,
                        "text": None,
                    },
                },
            )
            for r in rows
            if r.chat_id in in_channels
        ]
        pending = [
            PendingUpdate(
                uid,
                events.MESSAGE_DELETED,
                r.chat_id,
                r.id,
                None,
                {"id": r.id, "chat_id": r.chat_id, "seq": r.seq, "deleted": True, "text": None},
            )
            for r in rows
            for uid in members.get(r.chat_id, [])
        ]
        return len(rows), pending, frames

    async def _leave_chats(
        self, conn: AsyncConnection, user_id: int, now: float
    ) -> tuple[int, list[PendingUpdate], list[str | None], dict[int, list[int]]]:
        """Leave every chat; also returns the photo (and media) files of chats deleted on the
        way, and the subscribers of each channel deleted, to be told after the commit."""
        pending: list[PendingUpdate] = []
        freed: list[str | None] = []
        gone: dict[int, list[int]] = {}
        found = await privacy.memberships_with_chats(conn, user_id)
        for item in found:
            chat, me = item["chat"], item["membership"]
            chat_id = chat["id"]
            if chat["type"] == channels.CHANNEL:
                told, deleted = await self._leave_channel(conn, chat_id, user_id, me["role"], now)
                pending += told
                if deleted is not None:
                    gone[chat_id], files = deleted
                    freed += [chat.get("photo_key"), chat.get("photo_thumb_key"), *files]
                continue
            await chat_store.remove_member(conn, chat_id, user_id)
            await message_store.unhide_chat(conn, user_id, chat_id)
            rest = await chat_store.members(conn, chat_id)
            if not rest:
                # Nobody can see this chat any more: it, its messages and its photo go (P5.3).
                freed += [chat.get("photo_key"), chat.get("photo_thumb_key")]
                freed += await chat_store.delete_chat(conn, chat_id)
                continue
            if chat["type"] == "group" and me["role"] == OWNER:
                heir = heir_of(rest)
                await chat_store.update_member(conn, chat_id, heir.user_id, role=OWNER)
                pending += [
                    PendingUpdate(
                        m.user_id,
                        events.MEMBER_ROLE,
                        chat_id,
                        None,
                        {"user_id": heir.user_id, "role": OWNER},
                    )
                    for m in rest
                ]
            if chat["direct_key"] is not None:
                await conn.execute(
                    update(chats).where(chats.c.id == chat_id).values(direct_key=None)
                )
            pending += [
                PendingUpdate(
                    m.user_id,
                    events.MEMBER_REMOVED,
                    chat_id,
                    None,
                    {"user_id": user_id, "by": user_id, "account_deleted": True},
                )
                for m in rest
            ]
        return len(found), pending, freed, gone

    @staticmethod
    async def _leave_channel(
        conn: AsyncConnection, chat_id: int, user_id: int, role: str, now: float
    ) -> tuple[list[PendingUpdate], tuple[list[int], list[str]] | None]:
        """The same rules as leaving (``ChatService._leave_channel``), without reading the
        subscribers: an owner's channel goes to its oldest admin, or with no admin is deleted
        (posts and all, P5.3); nobody else is told of the erased user's going. For a deleted
        channel, also its subscribers and freed files (``channels.delete_channel``)."""
        told: list[PendingUpdate] = []
        if role == channels.OWNER:
            heir = await channels.heir_of_channel(conn, chat_id)
            if heir is None:
                return [], await channels.delete_channel(conn, chat_id)
            told = await channels.make_owner(conn, chat_id, heir.user_id)
        await channels.unsubscribe(conn, chat_id, user_id, now)
        return told, None
