"""Disappearing messages (P5.2, P5.3): a chat's timer, a user's default for new chats, and the
sweep that removes what expired.

The promise, in order:
- A message stored in a chat with a timer carries ``expires_at`` (its ``created_at`` plus the
  chat's ``message_ttl`` at that moment); changing the timer later changes no stored message.
- From ``expires_at`` on, no route or frame answers the message: every read applies
  ``storage.ttl.live`` (history, search, unread counts, the chat list's last message, replayed
  updates, media reached through it, forwards and replies of it, the export).
- The sweep (``expire``, run by the retention task every ``message_expiry_interval_seconds``)
  then removes it the way a deletion for everyone does: text and content hash go from the row
  (the search index follows by trigger), the media only it carried are released and their
  files erased, and a purge merges the index and truncates the WAL, so the text is in no
  database file (``tests/system/test_deletion_canary.py``). No update is written per member:
  devices hold ``expires_at`` and drop the message themselves at that time.
"""

from __future__ import annotations

import logging
from typing import Any

from payam.domain import events
from payam.domain.clock import Clock
from payam.domain.errors import Forbidden, InvalidInput, NotFound
from payam.domain.events import PendingUpdate
from payam.domain.limits import MESSAGE_TTL_MAX_SECONDS, MESSAGE_TTL_MIN_SECONDS
from payam.domain.models import Caller
from payam.services.files import Files
from payam.services.purge import Purger
from payam.services.updates import UpdateLog
from payam.storage import chats as chat_store
from payam.storage import media as media_store
from payam.storage import messages as message_store
from payam.storage import ttl as store
from payam.storage.database import Database

log = logging.getLogger(__name__)

ADMIN_ROLES = {"owner", "admin"}
# Messages removed per transaction: the writer is shared with every send.
SWEEP_BATCH = 500


def check_message_ttl(seconds: object) -> int | None:
    """A timer as stored: None (off) or whole seconds from five seconds to a year."""
    if seconds is None:
        return None
    if (
        not isinstance(seconds, int)
        or isinstance(seconds, bool)
        or not MESSAGE_TTL_MIN_SECONDS <= seconds <= MESSAGE_TTL_MAX_SECONDS
    ):
        raise InvalidInput(
            f"message_ttl is null (off) or whole seconds from {MESSAGE_TTL_MIN_SECONDS} to "
            f"{MESSAGE_TTL_MAX_SECONDS} (a year).",
            code="invalid_message_ttl",
        )
    return seconds


class TtlService:
    def __init__(
        self, db: Database, clock: Clock, updates: UpdateLog, purge: Purger, files: Files
    ) -> None:
        self.db = db
        self.clock = clock
        self.updates = updates
        self.purge = purge
        self.files = files

    async def set_chat_ttl(self, caller: Caller, chat_id: int, seconds: int | None) -> None:
        """Set or switch off a chat's timer: either side of a direct chat, the admins of a group
        or channel (403 ``not_admin`` for anyone else in it, 404 for anyone outside it). The
        members are told as of a title change: a ``chat_updated`` update with
        ``{"message_ttl", "by"}`` (in a channel, only the caller's devices: subscribers read the
        timer with the channel and on every post's ``expires_at``)."""
        seconds = check_message_ttl(seconds)
        async with self.db.write() as conn:
            chat = await chat_store.get(conn, chat_id, lock=True)
            me = await chat_store.member(conn, chat_id, caller.user_id) if chat else None
            if chat is None or me is None:
                raise NotFound("No such chat.", code="chat_not_found")
            if chat.type != "direct" and me.role not in ADMIN_ROLES:
                kind = "channel" if chat.type == "channel" else "group"
                raise Forbidden(f"Only {kind} admins can do this.", code="not_admin")
            if chat.message_ttl == seconds:
                return  # nothing changed: nothing to announce
            await store.set_chat_ttl(conn, chat_id, seconds)
            told = (
                [caller.user_id]
                if chat.type == "channel"
                else (await chat_store.member_ids_of(conn, [chat_id]))[chat_id]
            )
            payload: dict[str, Any] = {"message_ttl": seconds, "by": caller.user_id}
            updates = await self.updates.record(
                conn,
                [PendingUpdate(uid, events.CHAT_UPDATED, chat_id, None, payload) for uid in told],
            )
        await self.updates.publish(updates)

    async def set_default(self, caller: Caller, seconds: int | None) -> None:
        """The timer the caller's new chats start with (None: off); existing chats keep theirs."""
        seconds = check_message_ttl(seconds)
        async with self.db.write() as conn:
            await store.set_default(conn, caller.user_id, seconds)

    async def expire(self) -> int:
        """Remove every message whose time has come, as a deletion for everyone; how many."""
        removed = 0
        while True:
            now = self.clock.now()
            async with self.db.write() as conn:
                due = await store.due(conn, now, limit=SWEEP_BATCH)
                ids = [mid for mid, _ in due]
                removed += await message_store.tombstone(conn, ids, now)
                freed = await media_store.release(conn, ids)
            await self.files.forget(freed)
            if len(due) < SWEEP_BATCH:
                break
        if removed:
            log.info("disappearing messages: removed %d", removed)
            await self.purge.request()
        return removed
