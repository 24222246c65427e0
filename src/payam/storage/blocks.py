"""Blocks between users and reports to moderators."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.storage.pairs import PairLookup
from payam.storage.tables import blocks, reports

# Index lookups per pair, where ``tuple_(...).in_(...)`` scanned the table on SQLite.
_PAIRS = PairLookup(
    select(blocks.c.blocker_id, blocks.c.blocked_id), blocks.c.blocker_id, blocks.c.blocked_id
)


async def is_blocked(conn: AsyncConnection, *, blocker: int, blocked: int) -> bool:
    found = await conn.scalar(
        select(blocks.c.blocker_id).where(
            blocks.c.blocker_id == blocker, blocks.c.blocked_id == blocked
        )
    )
    return found is not None


async def blocked_pairs(
    conn: AsyncConnection, pairs: Sequence[tuple[int, int]]
) -> set[tuple[int, int]]:
    """Which (blocker, blocked) pairs exist."""
    return {(blocker, blocked) for blocker, blocked in await _PAIRS.rows(conn, pairs)}


async def who_blocked(conn: AsyncConnection, viewer: int, owners: Sequence[int]) -> set[int]:
    """Which of ``owners`` blocked ``viewer`` (they hide their photo from them: P3.2, P9.1)."""
    found = await blocked_pairs(conn, [(owner, viewer) for owner in owners])
    return {blocker for blocker, _ in found}


async def blocked_either_way(conn: AsyncConnection, user: int, others: Sequence[int]) -> set[int]:
    """Which of ``others`` blocked ``user`` or were blocked by them: typing and read receipts
    do not pass between them (either way)."""
    others = [o for o in others if o != user]
    if not others:
        return set()
    pairs = [(user, o) for o in others] + [(o, user) for o in others]
    found = await blocked_pairs(conn, pairs)
    return {b if a == user else a for a, b in found}


async def add(conn: AsyncConnection, *, blocker: int, blocked: int, now: float) -> None:
    """Block; blocking again (even twice at once) keeps the first block and its time."""
    dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    await conn.execute(
        dialect_insert(blocks)
        .values(blocker_id=blocker, blocked_id=blocked, created_at=now)
        .on_conflict_do_nothing(index_elements=[blocks.c.blocker_id, blocks.c.blocked_id])
    )


async def remove(conn: AsyncConnection, *, blocker: int, blocked: int) -> bool:
    result = await conn.execute(
        delete(blocks).where(blocks.c.blocker_id == blocker, blocks.c.blocked_id == blocked)
    )
    return bool(result.rowcount)


async def blocked_by(conn: AsyncConnection, blocker: int) -> list[tuple[int, float]]:
    rows = await conn.execute(
        select(blocks.c.blocked_id, blocks.c.created_at)
        .where(blocks.c.blocker_id == blocker)
        .order_by(blocks.c.created_at)
    )
    return [(row.blocked_id, row.created_at) for row in rows]


async def add_report(
    conn: AsyncConnection,
    *,
    reporter_id: int,
    message_id: int,
    chat_id: int,
    reported_user_id: int,
    reason: str,
    now: float,
) -> int:
    report_id: int = (
        await conn.execute(
            insert(reports)
            .values(
                reporter_id=reporter_id,
                message_id=message_id,
                chat_id=chat_id,
                reported_user_id=reported_user_id,
                reason=reason,
                created_at=now,
                status="open",
            )
            .returning(reports.c.id)
        )
    ).scalar_one()
    return report_id
