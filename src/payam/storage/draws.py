"""Prize draws and their winners (P7.2): the seed and the size of the eligible set are kept,
so anyone can re-run a draw and check it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.storage.tables import chat_members, chats, draw_winners, draws, users


@dataclass(frozen=True, slots=True)
class Draw:
    id: int
    name: str
    seed: str
    eligible_count: int
    drawn_at: float


async def all_user_ids(conn: AsyncConnection) -> list[int]:
    """Every account that may take part (suspended accounts do not)."""
    rows = await conn.execute(
        select(users.c.id).where(users.c.suspended_at.is_(None)).order_by(users.c.id)
    )
    return [int(r.id) for r in rows]


async def chat_exists(conn: AsyncConnection, chat_id: int) -> bool:
    return (await conn.execute(select(chats.c.id).where(chats.c.id == chat_id))).first() is not None


async def member_ids(conn: AsyncConnection, chat_id: int) -> list[int]:
    rows = await conn.execute(
        select(chat_members.c.user_id)
        .join(users, users.c.id == chat_members.c.user_id)
        .where(chat_members.c.chat_id == chat_id, users.c.suspended_at.is_(None))
        .order_by(chat_members.c.user_id)
    )
    return [int(r.user_id) for r in rows]


async def create(
    conn: AsyncConnection,
    *,
    name: str,
    seed: str,
    eligible_count: int,
    winners: Sequence[int],
    now: float,
) -> Draw:
    draw_id = int(
        (
            await conn.execute(
                insert(draws)
                .values(name=name, seed=seed, eligible_count=eligible_count, drawn_at=now)
                .returning(draws.c.id)
            )
        ).scalar_one()
    )
    if winners:
        await conn.execute(
            insert(draw_winners),
            [{"draw_id": draw_id, "user_id": uid, "notified_at": now} for uid in winners],
        )
    return Draw(draw_id, name, seed, eligible_count, now)


async def by_ids(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, Draw]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await conn.execute(select(draws).where(draws.c.id.in_(wanted)))
    return {int(r.id): Draw(**r._mapping) for r in rows}


async def winner_phones(conn: AsyncConnection, winners: Sequence[int]) -> dict[int, str]:
    """Contact data of the winners, and of nobody else (P7.2)."""
    if not winners:
        return {}
    rows = await conn.execute(select(users.c.id, users.c.phone).where(users.c.id.in_(winners)))
    return {int(r.id): str(r.phone) for r in rows}
