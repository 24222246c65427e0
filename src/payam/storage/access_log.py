"""The access log (P4.2): one row per request, deleted after its retention period (P4.3)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.storage.prepared import insert_of
from payam.storage.tables import access_log, users


async def append_many(conn: AsyncConnection, entries: Sequence[dict[str, Any]]) -> int:
    """Insert ``entries``; return how many were kept.

    Entries of an account deleted while they waited in the writer's buffer are dropped: the
    erasure already took that account's log (P11.3), and one such entry must not make the
    whole batch fail on the foreign key.
    """
    user_ids = {e["user_id"] for e in entries if e.get("user_id") is not None}
    if user_ids:
        # FOR KEY SHARE on PostgreSQL: no account can go between this check and the insert.
        found = await conn.execute(
            select(users.c.id)
            .where(users.c.id.in_(user_ids))
            .with_for_update(read=True, key_share=True)
        )
        existing = set(found.scalars())
        entries = [e for e in entries if e.get("user_id") is None or e["user_id"] in existing]
    if not entries:
        return 0
    keys = tuple(entries[0])
    if all(tuple(e) == keys for e in entries):
        # One statement per set of keys, handed to the driver as it is (storage/prepared.py):
        # SQLAlchemy's processing of each row's parameters was the cost of a busy second.
        await insert_of(access_log, keys).run_many(conn, entries)
    else:
        await conn.execute(insert(access_log), list(entries))
    return len(entries)


async def for_user(conn: AsyncConnection, user_id: int, limit: int = 1000) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(access_log)
        .where(access_log.c.user_id == user_id)
        .order_by(access_log.c.at.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in rows]


async def prune(conn: AsyncConnection, *, older_than: float) -> int:
    result = await conn.execute(delete(access_log).where(access_log.c.at < older_than))
    return int(result.rowcount or 0)
