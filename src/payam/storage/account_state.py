"""What gates an account beyond its sessions: suspension by an operator (P9) and the erasure
cool-down of a deleted number (P11.3)."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.storage.tables import erasure_cooldowns, reports, users


async def is_suspended(conn: AsyncConnection, user_id: int) -> bool:
    found = await conn.scalar(select(users.c.suspended_at).where(users.c.id == user_id))
    return found is not None


async def set_suspended(conn: AsyncConnection, user_id: int, at: float | None) -> bool:
    """Suspend (``at``) or lift the suspension (None); False if there is no such user."""
    result = await conn.execute(update(users).where(users.c.id == user_id).values(suspended_at=at))
    return bool(result.rowcount)


async def cooldown_until(conn: AsyncConnection, phone_hash: bytes, *, now: float) -> float | None:
    """When the number's cool-down ends, if it has not yet."""
    until: float | None = await conn.scalar(
        select(erasure_cooldowns.c.until).where(
            erasure_cooldowns.c.phone_hash == phone_hash, erasure_cooldowns.c.until > now
        )
    )
    return until


async def start_cooldown(conn: AsyncConnection, phone_hash: bytes, until: float) -> None:
    await conn.execute(
        delete(erasure_cooldowns).where(erasure_cooldowns.c.phone_hash == phone_hash)
    )
    await conn.execute(insert(erasure_cooldowns).values(phone_hash=phone_hash, until=until))


async def prune_cooldowns(conn: AsyncConnection, *, now: float) -> int:
    result = await conn.execute(delete(erasure_cooldowns).where(erasure_cooldowns.c.until <= now))
    return int(result.rowcount or 0)


async def delete_reports_by(conn: AsyncConnection, user_id: int) -> int:
    result = await conn.execute(delete(reports).where(reports.c.reporter_id == user_id))
    return int(result.rowcount or 0)


async def delete_user(conn: AsyncConnection, user_id: int) -> int:
    """Delete the account row (what still refers to it is cascaded or set NULL)."""
    result = await conn.execute(delete(users).where(users.c.id == user_id))
    return int(result.rowcount or 0)


async def set_phone(
    conn: AsyncConnection, user_id: int, *, phone: str, phone_hash: bytes, now: float
) -> bool:
    """Switch the account's number and its keyed hash together (P11.2)."""
    result = await conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(phone=phone, phone_hash=phone_hash, updated_at=now)
    )
    return bool(result.rowcount)
