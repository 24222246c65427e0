"""What each user was told and when they saw and acknowledged it (P12.1, P8.2, P7.2).

One row per (user, kind, thing): a policy version, a partner proposal, a prize draw. Creating
one twice is a no-op, so a repeated fan-out never tells anyone twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.storage.tables import notices, users

# Rows per INSERT: well under both drivers' limits on bound parameters.
CHUNK = 1000


@dataclass(frozen=True, slots=True)
class NoticeRow:
    id: int
    user_id: int
    kind: str
    ref_id: int
    created_at: float
    seen_at: float | None
    acknowledged_at: float | None


def _row(row: Any) -> NoticeRow:
    return NoticeRow(**row._mapping)


async def create_many(
    conn: AsyncConnection, kind: str, ref_id: int, user_ids: Sequence[int], *, now: float
) -> list[NoticeRow]:
    """Create the notice for each user who does not have it yet; returns the new rows."""
    dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    created: list[NoticeRow] = []
    for start in range(0, len(user_ids), CHUNK):
        values = [
            {"user_id": uid, "kind": kind, "ref_id": ref_id, "created_at": now}
            for uid in user_ids[start : start + CHUNK]
        ]
        result = await conn.execute(
            dialect_insert(notices)
            .values(values)
            .on_conflict_do_nothing(
                index_elements=[notices.c.user_id, notices.c.kind, notices.c.ref_id]
            )
            .returning(*notices.c)
        )
        created += [_row(r) for r in result]
    return sorted(created, key=lambda n: n.user_id)


async def all_accounts(conn: AsyncConnection) -> list[int]:
    """Every account, in id order: who is told of an important change or a partner proposal."""
    return [int(r.id) for r in await conn.execute(select(users.c.id).order_by(users.c.id))]


async def for_user(conn: AsyncConnection, user_id: int) -> list[NoticeRow]:
    rows = await conn.execute(
        select(notices).where(notices.c.user_id == user_id).order_by(notices.c.id)
    )
    return [_row(r) for r in rows]


async def has_kind(conn: AsyncConnection, user_id: int, kind: str) -> bool:
    query = select(notices.c.id).where(notices.c.user_id == user_id, notices.c.kind == kind)
    return (await conn.execute(query.limit(1))).first() is not None


async def get_for_user(
    conn: AsyncConnection, user_id: int, notice_id: int, *, kind: str | None = None
) -> NoticeRow | None:
    query = select(notices).where(notices.c.id == notice_id, notices.c.user_id == user_id)
    if kind is not None:
        query = query.where(notices.c.kind == kind)
    row = (await conn.execute(query)).first()
    return _row(row) if row else None


async def find(conn: AsyncConnection, user_id: int, kind: str, ref_id: int) -> NoticeRow | None:
    query = select(notices).where(
        notices.c.user_id == user_id, notices.c.kind == kind, notices.c.ref_id == ref_id
    )
    row = (await conn.execute(query)).first()
    return _row(row) if row else None


async def user_ids(conn: AsyncConnection, kind: str, ref_id: int) -> list[int]:
    """Every user told about this thing, in id order."""
    rows = await conn.execute(
        select(notices.c.user_id)
        .where(notices.c.kind == kind, notices.c.ref_id == ref_id)
        .order_by(notices.c.user_id)
    )
    return [int(r.user_id) for r in rows]


async def mark_seen(conn: AsyncConnection, user_id: int, *, now: float) -> None:
    await conn.execute(
        update(notices)
        .where(and_(notices.c.user_id == user_id, notices.c.seen_at.is_(None)))
        .values(seen_at=now)
    )


async def acknowledge(conn: AsyncConnection, row: NoticeRow, *, now: float) -> None:
    """The first acknowledgement counts; seeing is implied by it."""
    await conn.execute(
        update(notices)
        .where(notices.c.id == row.id, notices.c.acknowledged_at.is_(None))
        .values(acknowledged_at=now, seen_at=row.seen_at if row.seen_at is not None else now)
    )
