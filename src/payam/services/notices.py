"""Notices: what the server must tell a user, and the record that it did (P12.1, P8.2, P7.2).

A notice is created once per user and thing (a policy version, a partner proposal, a prize
draw) in the transaction that makes the thing, with a ``notice`` update for the user's devices
published after the commit. ``GET /v1/me/notices`` marks them seen; acknowledging records when.
A user who has never been shown any policy version is shown the current one the first time
they ask, so people who sign up after a version see the version in force.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from payam.domain.clock import Clock
from payam.domain.errors import NotFound
from payam.domain.events import NOTICE, PendingUpdate, Update, iso
from payam.domain.models import Caller
from payam.services.updates import UpdateLog
from payam.storage import draws, partners, policy
from payam.storage import notices as store
from payam.storage.database import Database
from payam.storage.notices import NoticeRow

# Notice kinds (public contract, ``kind`` in GET /v1/me/notices and in ``notice`` updates).
POLICY = "policy"
PARTNER = "partner"
PRIZE = "prize"

# Users per transaction chunk of updates: keeps every IN list well under driver limits.
FAN_OUT_CHUNK = 1000


def policy_details(version: policy.PolicyVersion) -> dict[str, Any]:
    return {
        "version": version.version,
        "important": version.important,
        "sha256": version.sha256,
        "published_at": iso(version.published_at),
        "url": "/v1/policy",
    }


def partner_details(partner: partners.Partner) -> dict[str, Any]:
    return {
        "partner_id": partner.id,
        "name": partner.name,
        "purpose": partner.purpose,
        "fields": list(partner.fields),
        "notice_until": iso(partner.notice_until),
        "object_url": f"/v1/me/partner-objections/{partner.id}",
    }


def prize_details(draw: draws.Draw) -> dict[str, Any]:
    return {"draw_id": draw.id, "name": draw.name, "drawn_at": iso(draw.drawn_at)}


def notice_json(row: NoticeRow, details: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "created_at": iso(row.created_at),
        "seen_at": iso(row.seen_at),
        "acknowledged_at": iso(row.acknowledged_at),
        row.kind: details,
    }


async def _details(conn: AsyncConnection, rows: Sequence[NoticeRow]) -> dict[int, Any]:
    """notice id -> what it is about, read from the policy, partner and draw tables."""
    by_kind: dict[str, set[int]] = {}
    for row in rows:
        by_kind.setdefault(row.kind, set()).add(row.ref_id)
    versions = await policy.by_ids(conn, by_kind.get(POLICY, ()))
    proposals = await partners.by_ids(conn, by_kind.get(PARTNER, ()))
    prizes = await draws.by_ids(conn, by_kind.get(PRIZE, ()))
    out: dict[int, Any] = {}
    for row in rows:
        if row.kind == POLICY and row.ref_id in versions:
            out[row.id] = policy_details(versions[row.ref_id])
        elif row.kind == PARTNER and row.ref_id in proposals:
            out[row.id] = partner_details(proposals[row.ref_id])
        elif row.kind == PRIZE and row.ref_id in prizes:
            out[row.id] = prize_details(prizes[row.ref_id])
    return out


class NoticeService:
    def __init__(self, db: Database, clock: Clock, updates: UpdateLog) -> None:
        self.db = db
        self.clock = clock
        self.updates = updates

    async def tell(
        self,
        conn: AsyncConnection,
        kind: str,
        ref_id: int,
        user_ids: Sequence[int],
        details: dict[str, Any],
    ) -> list[Update]:
        """Create the notice for each user (inside the caller's transaction) and record a
        ``notice`` update each; the caller publishes the returned updates after its commit."""
        now = self.clock.now()
        created = await store.create_many(conn, kind, ref_id, user_ids, now=now)
        out: list[Update] = []
        for start in range(0, len(created), FAN_OUT_CHUNK):
            out += await self.updates.record(
                conn,
                [
                    PendingUpdate(
                        row.user_id, NOTICE, payload={"notice": notice_json(row, details)}
                    )
                    for row in created[start : start + FAN_OUT_CHUNK]
                ],
            )
        return out

    async def list_notices(self, caller: Caller) -> list[dict[str, Any]]:
        """The caller's notices, oldest first; from now on they count as seen (P12.1)."""
        published: list[Update] = []
        async with self.db.write() as conn:
            if not await store.has_kind(conn, caller.user_id, POLICY):
                current = await policy.latest(conn)
                if current is not None:
                    published = await self.tell(
                        conn, POLICY, current.id, [caller.user_id], policy_details(current)
                    )
            rows = await store.for_user(conn, caller.user_id)
            await store.mark_seen(conn, caller.user_id, now=self.clock.now())
            details = await _details(conn, rows)
        await self.updates.publish(published)
        # Shown as they were before this call marked them: a client sees which ones are new.
        return [notice_json(row, details.get(row.id)) for row in rows]

    async def acknowledge(self, caller: Caller, notice_id: int) -> dict[str, Any]:
        """Record that the caller acknowledged the notice (the first time counts). Another
        user's notice is NotFound, like a missing one."""
        async with self.db.write() as conn:
            row = await store.get_for_user(conn, caller.user_id, notice_id)
            if row is None:
                raise NotFound("No such notice.", code="notice_not_found")
            await store.acknowledge(conn, row, now=self.clock.now())
            row = await store.get_for_user(conn, caller.user_id, notice_id)
            assert row is not None
            details = await _details(conn, [row])
        return notice_json(row, details.get(row.id))
