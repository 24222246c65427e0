"""Operator access (P9, P11.1): an admin role, looking a user up, suspending, and reports.

Invariants:
- only admins reach any of this; to anyone else the admin API answers the same 404 as a
  route that does not exist, so it does not even say that it exists;
- every admin read of a user's data, and every action on an account, is recorded in
  ``admin_access`` (admin, subject, action, time) in the same transaction, and the subject
  sees it in their export (kept ``admin_audit_retention_days``);
- a suspended account cannot sign in, and its sessions answer 403 ``account_suspended``.
"""

from __future__ import annotations

from typing import Any

from payam.adapters.bus import EventBus
from payam.config import Settings
from payam.domain.clock import Clock
from payam.domain.errors import Conflict, InvalidInput, NotFound
from payam.domain.events import iso
from payam.domain.keys import Keys
from payam.domain.limits import AUDIT_PAGE_MAX
from payam.domain.models import Caller
from payam.domain.phone import normalize_phone
from payam.services.session_cache import ACCOUNT_SUSPENDED
from payam.storage import account_state, admin, contacts, devices, users
from payam.storage.database import Database

REPORT_STATUSES = ("open", "resolved", "dismissed")


def _hidden() -> NotFound:
    # Word for word what an unknown route answers.
    return NotFound("Not Found", code="not_found")


class AdminService:
    def __init__(
        self, db: Database, settings: Settings, clock: Clock, keys: Keys, bus: EventBus
    ) -> None:
        self.db = db
        self.bus = bus
        self.settings = settings
        self.clock = clock
        self.keys = keys

    # --- the command line (the operator on the server itself) ---------------------------

    async def _user_id_of_phone(self, raw_phone: str) -> int:
        phone = normalize_phone(raw_phone, self.settings.default_region)
        async with self.db.read() as conn:
            user = await users.get_by_phone_hash(conn, self.keys.phone_hash(phone))
        if user is None:
            raise NotFound(f"No account has the number {phone}.", code="user_not_found")
        return user.id

    async def grant(self, raw_phone: str) -> tuple[int, bool]:
        """Make the account with this number an admin; (user id, whether it changed)."""
        user_id = await self._user_id_of_phone(raw_phone)
        async with self.db.write() as conn:
            return user_id, await admin.grant(conn, user_id, self.clock.now())

    async def revoke(self, raw_phone: str) -> tuple[int, bool]:
        user_id = await self._user_id_of_phone(raw_phone)
        async with self.db.write() as conn:
            return user_id, await admin.revoke(conn, user_id)

    # --- the admin API --------------------------------------------------------------------

    async def check_admin(self, caller: Caller) -> None:
        async with self.db.read() as conn:
            if not await admin.is_admin(conn, caller.user_id):
                raise _hidden()

    async def look_up(
        self, caller: Caller, *, user_id: int | None = None, phone: str | None = None
    ) -> dict[str, Any]:
        """A user's account as an operator sees it; the read is recorded (P11.1)."""
        await self.check_admin(caller)
        if (user_id is None) == (phone is None):
            raise InvalidInput("Give either user_id or phone.", code="invalid_lookup")
        now = self.clock.now()
        async with self.db.write() as conn:
            if phone is not None:
                number = normalize_phone(phone, self.settings.default_region)
                user = await users.get_by_phone_hash(conn, self.keys.phone_hash(number))
            else:
                assert user_id is not None
                user = await users.get(conn, user_id)
            if user is None:
                raise NotFound("No such user.", code="user_not_found")
            suspended = await account_state.is_suspended(conn, user.id)
            device_list = await devices.list_for_user(conn, user.id)
            contact_count = await contacts.count(conn, user.id)
            await admin.record_access(
                conn, admin_id=caller.user_id, subject_id=user.id, action="lookup", now=now
            )
        return {
            "id": user.id,
            "phone": user.phone,
            "name": user.name,
            "status": user.status,
            "has_photo": user.photo_key is not None,
            "created_at": iso(user.created_at),
            "suspended": suspended,
            "devices": [
                {
                    "id": d.id,
                    "model": d.model,
                    "os": d.os,
                    "app_version": d.app_version,
                    "last_active_at": iso(d.last_active_at),
                }
                for d in device_list
            ],
            "contacts_count": contact_count,
        }

    async def set_suspended(self, caller: Caller, user_id: int, *, suspended: bool) -> None:
        await self.check_admin(caller)
        if user_id == caller.user_id:
            raise Conflict("An admin cannot suspend themselves.", code="cannot_suspend_self")
        now = self.clock.now()
        async with self.db.write() as conn:
            if not await account_state.set_suspended(conn, user_id, now if suspended else None):
                raise NotFound("No such user.", code="user_not_found")
            await admin.record_access(
                conn,
                admin_id=caller.user_id,
                subject_id=user_id,
                action="suspend" if suspended else "unsuspend",
                now=now,
            )
        if suspended:  # its open sockets close, in every process
            await self.bus.publish_session_end(user_id, None, ACCOUNT_SUSPENDED)

    async def reports(
        self, caller: Caller, status: str = "open", limit: int = 100
    ) -> list[dict[str, Any]]:
        """Reports with the reported message's text (if not deleted); reading them is a read
        of the reported user's data and is recorded for them."""
        await self.check_admin(caller)
        if status not in REPORT_STATUSES:
            raise InvalidInput(f"status is one of {', '.join(REPORT_STATUSES)}.")
        now = self.clock.now()
        async with self.db.write() as conn:
            found = await admin.list_reports(conn, status, limit, now=self.clock.now())
            for subject_id in sorted({r["reported_user_id"] for r in found} - {None}):
                await admin.record_access(
                    conn,
                    admin_id=caller.user_id,
                    subject_id=subject_id,
                    action="report_view",
                    now=now,
                )
        return [{**r, "created_at": iso(r["created_at"])} for r in found]

    async def audit(
        self, caller: Caller, *, limit: int = 50, before: int | None = None
    ) -> dict[str, Any]:
        """The audit trail of operator reads (P11.1), newest first; ``next_before`` pages on.

        Reading the trail is not a read of any user's data, so it is not itself recorded: it
        shows ids and actions only, nothing the subjects gave the service."""
        await self.check_admin(caller)
        if not 1 <= limit <= AUDIT_PAGE_MAX:
            raise InvalidInput(f"limit is from 1 to {AUDIT_PAGE_MAX}.", code="invalid_limit")
        async with self.db.read() as conn:
            # One more than asked says whether an older page exists.
            found = await admin.list_access(conn, limit=limit + 1, before=before)
        page = found[:limit]
        return {
            "entries": [{**e, "at": iso(e["at"])} for e in page],
            "next_before": page[-1]["id"] if len(found) > limit else None,
        }

    async def resolve_report(self, caller: Caller, report_id: int, status: str) -> None:
        await self.check_admin(caller)
        if status not in REPORT_STATUSES:
            raise InvalidInput(f"status is one of {', '.join(REPORT_STATUSES)}.")
        async with self.db.write() as conn:
            if not await admin.set_report_status(conn, report_id, status):
                raise NotFound("No such report.", code="report_not_found")
