"""Contact discovery and invitations (P2).

An uploaded address book is kept only as keyed hashes of its numbers (P2.2), is readable by its
uploader alone (P2.3), and each account spends a budget of numbers it never held before
(P2.4, Signal's design) so nobody can walk the number space.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from payam.adapters.sms import SmsError, SmsSender
from payam.config import Settings
from payam.domain.clock import Clock
from payam.domain.errors import Conflict, InvalidInput, PayloadTooLarge
from payam.domain.keys import Keys
from payam.domain.limits import Limit
from payam.domain.models import Caller, User
from payam.domain.phone import normalize_phone, region_of
from payam.domain.visibility import Relation, profile_view
from payam.services.auth import SmsUnavailable
from payam.services.limiter import RateLimiter
from payam.storage import blocks, contacts, users
from payam.storage.database import Database


def _holder_view(user: User, blockers: set[int]) -> dict[str, Any]:
    """The profile as one who holds the number sees it; no photo if its owner blocked them."""
    return profile_view(user, Relation(holds_number=True, blocked_by_owner=user.id in blockers))


@dataclass
class UploadResult:
    registered: list[dict[str, Any]] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    stored: int = 0
    new_numbers: int = 0


class ContactService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        keys: Keys,
        limiter: RateLimiter,
        sms: SmsSender,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.keys = keys
        self.limiter = limiter
        self.sms = sms

    async def _region(self, caller: Caller) -> str | None:
        async with self.db.read() as conn:
            me = await users.get(conn, caller.user_id)
        return (region_of(me.phone) if me else None) or self.settings.default_region

    async def replace(self, caller: Caller, phones: list[str]) -> UploadResult:
        """Replace the caller's address book and say which numbers are registered.

        All or nothing (P9.2): an upload refused for its size, the upload limit or the
        discovery budget leaves the previous book as it was.
        """
        if len(phones) > self.settings.contacts_max:
            raise PayloadTooLarge(
                f"At most {self.settings.contacts_max} numbers per upload.",
                code="too_many_contacts",
            )
        await self.limiter.spend(
            Limit.contact_upload_per_user, f"user:{caller.user_id}", code="too_many_uploads"
        )
        region = await self._region(caller)
        # 5,000 numbers take phonenumbers ~0.1 s of CPU: not on the event loop.
        sent_as, invalid = await asyncio.to_thread(self._hash_book, phones, region)
        result = UploadResult(invalid=invalid)
        hashes = set(sent_as)
        async with self.db.write() as conn:
            await contacts.lock_book(conn, caller.user_id)
            held = await contacts.hashes_of(conn, caller.user_id)
            result.new_numbers = len(hashes - held)
            # Spent in this transaction: a refused upload stores nothing and costs nothing.
            await self.limiter.spend(
                Limit.contact_discovery_per_user,
                f"user:{caller.user_id}",
                cost=result.new_numbers,
                conn=conn,
                code="discovery_budget_exhausted",
                message="This upload has more new numbers than your discovery budget allows now.",
            )
            await contacts.replace(conn, caller.user_id, hashes, held=held, now=self.clock.now())
            found = await users.get_many_by_phone_hash(conn, sorted(hashes))
            blockers = await blocks.who_blocked(
                conn, caller.user_id, [u.id for u in found.values()]
            )
        result.stored = len(hashes)
        for phone_hash, user in sorted(found.items(), key=lambda item: item[1].id):
            if user.id == caller.user_id:
                continue
            view = _holder_view(user, blockers)
            for raw in sent_as[phone_hash]:
                result.registered.append({"phone": raw, "user_id": user.id, "profile": view})
        return result

    def _hash_book(
        self, phones: list[str], region: str | None
    ) -> tuple[dict[bytes, list[str]], list[str]]:
        """Each number's keyed hash with the distinct spellings it was sent as, and the
        entries that are not numbers. Nothing else of the raw book leaves this function."""
        sent_as: dict[bytes, list[str]] = {}
        invalid: list[str] = []
        for raw in dict.fromkeys(phones):  # an exact repeat says nothing new
            try:
                e164 = normalize_phone(raw, region)
            except InvalidInput:
                invalid.append(raw)
                continue
            sent_as.setdefault(self.keys.phone_hash(e164), []).append(raw)
        return sent_as, invalid

    async def held(self, caller: Caller) -> dict[str, Any]:
        """What is kept of the caller's address book: hashes only (P2.2, P11.1)."""
        async with self.db.read() as conn:
            hashes = await contacts.hashes_of(conn, caller.user_id)
            found = await users.get_many_by_phone_hash(conn, sorted(hashes))
            blockers = await blocks.who_blocked(
                conn, caller.user_id, [u.id for u in found.values()]
            )
        return {
            "count": len(hashes),
            "stored_as": "HMAC-SHA256 of each E.164 number, keyed with the server secret",
            "hashes": sorted(h.hex() for h in hashes),
            "registered": [
                {"user_id": u.id, "profile": _holder_view(u, blockers)}
                for u in sorted(found.values(), key=lambda u: u.id)
                if u.id != caller.user_id
            ],
        }

    async def wipe(self, caller: Caller) -> int:
        async with self.db.write() as conn:
            return await contacts.wipe(conn, caller.user_id)

    async def invite(self, caller: Caller, raw_phone: str) -> str:
        """Text an invitation to a number that is not on payam yet (P2.1).

        Every attempt spends the inviter's budget *before* the registered check: otherwise the
        409 would tell anyone, for free and without end, whether a number is on payam, a way
        around the discovery budget (P2.4).
        """
        phone = normalize_phone(raw_phone, await self._region(caller))
        await self.limiter.spend(
            Limit.invite_per_user, f"user:{caller.user_id}", code="too_many_invites"
        )
        async with self.db.read() as conn:
            me = await users.get(conn, caller.user_id)
            existing = await users.get_by_phone_hash(conn, self.keys.phone_hash(phone))
        if existing is not None:
            raise Conflict("This number is already on payam.", code="already_registered")
        await self.limiter.spend(
            Limit.invite_per_phone,
            f"phone:{phone}",
            code="number_recently_invited",
            message="This number was invited recently; try again later.",
        )
        inviter = me.name if me else "A friend"
        try:
            await self.sms.send(phone, f"{inviter} invites you to payam, a private messenger.")
        except SmsError as exc:
            # Nothing left: the number may be invited again at once, and nobody paid for it.
            async with self.db.write() as conn:
                await self.limiter.refund(Limit.invite_per_phone, f"phone:{phone}", conn=conn)
                await self.limiter.refund(
                    Limit.invite_per_user, f"user:{caller.user_id}", conn=conn
                )
            raise SmsUnavailable("The invitation could not be sent; try again shortly.") from exc
        return phone
