"""The per-user updates log (P5.1 sync): every change a user should see, numbered 1, 2, 3...
per user. Rows refer to messages by id and never copy their text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.storage.tables import update_counters, updates


@dataclass(frozen=True, slots=True)
class UpdateRow:
    user_id: int
    seq: int
    kind: str
    chat_id: int | None
    message_id: int | None
    payload: str | None
    created_at: float


async def allocate(conn: AsyncConnection, counts: dict[int, int]) -> dict[int, int]:
    """Reserve ``counts[user]`` seqs for each user; returns each user's first reserved seq.

    Counters are locked in id order on PostgreSQL (no deadlocks between processes); SQLite's
    single writer serialises anyway.
    """
    users = sorted(u for u, n in counts.items() if n > 0)
    if not users:
        return {}
    dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    await conn.execute(
        dialect_insert(update_counters)
        .values([{"user_id": u, "last_seq": 0} for u in users])
        .on_conflict_do_nothing(index_elements=[update_counters.c.user_id])
    )
    query = select(update_counters.c.user_id, update_counters.c.last_seq).where(
        update_counters.c.user_id.in_(users)
    )
    if conn.dialect.name != "sqlite":
        query = query.order_by(update_counters.c.user_id).with_for_update()
    current = {row.user_id: row.last_seq for row in await conn.execute(query)}
    await conn.execute(
        update(update_counters)
        .where(update_counters.c.user_id == bindparam("uid"))
        .values(last_seq=bindparam("new_seq")),
        [{"uid": u, "new_seq": current[u] + counts[u]} for u in users],
    )
    return {u: current[u] + 1 for u in users}


async def insert_many(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(updates), list(rows))


async def after(conn: AsyncConnection, user_id: int, after_seq: int, limit: int) -> list[UpdateRow]:
    rows = await conn.execute(
        select(updates)
        .where(updates.c.user_id == user_id, updates.c.seq > after_seq)
        .order_by(updates.c.seq)
        .limit(limit)
    )
    return [UpdateRow(**row._mapping) for row in rows]


async def last_seq(conn: AsyncConnection, user_id: int) -> int:
    value = await conn.scalar(
        select(update_counters.c.last_seq).where(update_counters.c.user_id == user_id)
    )
    return int(value or 0)


async def first_kept_seq(conn: AsyncConnection, user_id: int) -> int | None:
    value = await conn.scalar(
        select(updates.c.seq).where(updates.c.user_id == user_id).order_by(updates.c.seq).limit(1)
    )
    return int(value) if value is not None else None


async def prune(conn: AsyncConnection, *, older_than: float) -> int:
    result = await conn.execute(delete(updates).where(updates.c.created_at < older_than))
    return int(result.rowcount or 0)
