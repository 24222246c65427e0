"""Who may pull whom into a chat, and invitations to groups (P3.2, P9.2).

Being put in a chat must not open one's profile to a stranger (``domain/visibility.py``), nor
may anyone fill a stranger's chat list:

- Each user chooses who may add them to groups (``PATCH /v1/me {"group_adds"}``):
  ``"contacts"`` (the default: people whose number they hold) or ``"everyone"``. Anyone else
  who adds them sends an invitation instead, which they accept (they join: they spoke for
  themself) or decline (it is gone).
- A membership shows its profile to the chat (``chat_members.shows_profile``) only where the
  member spoke for themself or was added by someone who holds their number.
- ``stranger_chats_per_user`` (``domain/limits.py``): one token per stranger (neither holds the
  other's number) an account pulls into a chat: a new direct chat with them, or adding or
  inviting them to a group. 429 ``too_many_strangers`` with ``Retry-After`` when spent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from payam.config import Settings
from payam.domain import events
from payam.domain.clock import Clock
from payam.domain.errors import Conflict, NotFound
from payam.domain.events import PendingUpdate, iso
from payam.domain.limits import Limit
from payam.domain.models import Caller
from payam.services.chats import MEMBER, chat_json
from payam.services.limiter import RateLimiter
from payam.services.updates import UpdateLog
from payam.storage import chats as chat_store
from payam.storage import contacts as contact_store
from payam.storage import invitations as store
from payam.storage import users as user_store
from payam.storage.database import Database
from payam.storage.invitations import InvitationRow


@dataclass
class Adds:
    """How a list of users to put in a group divides up."""

    members: list[int] = field(default_factory=list)  # added now
    shown: set[int] = field(default_factory=set)  # of those, whose profile shows (P3.2)
    invited: list[int] = field(default_factory=list)  # invited instead


def invitation_json(row: InvitationRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "chat_id": row.chat_id,
        "title": row.title,
        "member_count": row.member_count,
        "invited_by": row.invited_by,
        "created_at": iso(row.created_at),
    }


class InvitationService:
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

    # -- the rule, inside the caller's transaction ------------------------------------------------

    async def spend_on_strangers(self, conn: AsyncConnection, caller_id: int, count: int) -> None:
        """Charge ``stranger_chats_per_user`` for ``count`` strangers (in ``conn``: a refusal
        later in the transaction costs nothing)."""
        await self.limiter.spend(
            Limit.stranger_chats_per_user,
            f"user:{caller_id}",
            cost=count,
            conn=conn,
            code="too_many_strangers",
            message="Too many chats with people who do not have your number, nor you theirs; "
            "try again later.",
        )

    @staticmethod
    async def is_stranger(conn: AsyncConnection, a: int, b: int) -> bool:
        """Neither holds the other's number."""
        return not (
            await contact_store.holds_user(conn, holder_id=a, user_id=b)
            or await contact_store.holds_user(conn, holder_id=b, user_id=a)
        )

    async def sort_adds(
        self, conn: AsyncConnection, adder_id: int, user_ids: Sequence[int]
    ) -> Adds:
        """Who of ``user_ids`` the adder may add now (their ``group_adds`` allows it), whose
        profile then shows (the adder holds their number), and who gets an invitation. Charges
        the stranger limit for every stranger among them, added or invited."""
        adds = Adds()
        ids = list(user_ids)
        held_by_adder = await contact_store.numbers_held(conn, adder_id, ids)
        holding_adder = await contact_store.holders_among(conn, adder_id, ids)
        choices = await user_store.group_adds_among(conn, ids)
        strangers = 0
        for uid in ids:
            strangers += uid not in held_by_adder and uid not in holding_adder
            choice = choices.get(uid) or self.settings.group_adds_default
            if choice == "everyone" or uid in holding_adder:
                adds.members.append(uid)
                if uid in held_by_adder:
                    adds.shown.add(uid)
            else:
                adds.invited.append(uid)
        await self.spend_on_strangers(conn, adder_id, strangers)
        return adds

    async def invite(
        self, conn: AsyncConnection, chat_id: int, inviter_id: int, user_ids: Sequence[int]
    ) -> list[PendingUpdate]:
        """Invite these users to the group (again: nothing new); the updates that tell them."""
        now = self.clock.now()
        pending = []
        for uid in user_ids:
            invitation_id = await store.create(
                conn, chat_id=chat_id, user_id=uid, invited_by=inviter_id, now=now
            )
            if invitation_id is None:
                continue
            row = await store.get(conn, invitation_id, uid)
            assert row is not None
            payload = {"invitation": invitation_json(row)}
            pending.append(PendingUpdate(uid, events.INVITATION_NEW, None, None, payload))
        return pending

    # -- the invitee's routes ---------------------------------------------------------------------

    async def list(self, caller: Caller) -> list[dict[str, Any]]:
        async with self.db.read() as conn:
            rows = await store.of_user(conn, caller.user_id)
        return [invitation_json(r) for r in rows]

    async def accept(self, caller: Caller, invitation_id: int) -> dict[str, Any]:
        """Join the group: the invitee chose to, so their profile shows to its members (P3.2).
        A full group refuses (409 ``member_limit``) and the invitation stays."""
        now = self.clock.now()
        async with self.db.write() as conn:
            row = await store.get(conn, invitation_id, caller.user_id)
            if row is None:
                raise NotFound("No such invitation.", code="invitation_not_found")
            chat = await chat_store.get(conn, row.chat_id, lock=True)
            assert chat is not None  # invitations go with their group
            current = (await chat_store.member_ids_of(conn, [chat.id]))[chat.id]
            pending = []
            if caller.user_id not in current:
                if len(current) + 1 > self.settings.group_member_limit:
                    raise Conflict(
                        f"The group is full. A group has at most "
                        f"{self.settings.group_member_limit} members.",
                        code="member_limit",
                    )
                await chat_store.add_members(
                    conn,
                    chat.id,
                    [(caller.user_id, MEMBER)],
                    now=now,
                    start_seq=chat.last_seq,
                    shown=[caller.user_id],
                )
                by = {"by": row.invited_by}
                pending.append(
                    PendingUpdate(
                        caller.user_id,
                        events.CHAT_NEW,
                        chat.id,
                        None,
                        {"chat_type": "group", **by},
                    )
                )
                pending += [
                    PendingUpdate(
                        m, events.MEMBER_ADDED, chat.id, None, {"user_id": caller.user_id, **by}
                    )
                    for m in current
                ]
            await store.remove(conn, invitation_id, caller.user_id)
            updates = await self.updates.record(conn, pending)
            chat = await chat_store.get(conn, row.chat_id)
            me = await chat_store.member(conn, row.chat_id, caller.user_id)
            assert chat is not None and me is not None
        await self.updates.publish(updates)
        return chat_json(chat, me, viewer_id=caller.user_id)

    async def decline(self, caller: Caller, invitation_id: int) -> None:
        """Decline: the invitation is gone; the inviter is not told."""
        async with self.db.write() as conn:
            if not await store.remove(conn, invitation_id, caller.user_id):
                raise NotFound("No such invitation.", code="invitation_not_found")
