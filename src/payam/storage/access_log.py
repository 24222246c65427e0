"""The access log (P4.2): one row per request, deleted after its retention period (P4.3)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.storage.tables import access_log


async def append_many(conn: AsyncConnection, entries: Sequence[dict[str, Any]]) -> None:
    if entries:
        await conn.execute(insert(access_log), list(entries))


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
