"""Sign-in codes and their throttling counters, keyed by the number's HMAC (P1.2)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.storage.tables import auth_codes


@dataclass(frozen=True, slots=True)
class CodeRow:
    phone_hash: bytes
    code_hash: bytes | None
    expires_at: float
    attempts: int
    sends_in_window: int
    last_sent_at: float


async def get(conn: AsyncConnection, phone_hash: bytes) -> CodeRow | None:
    row = (
        await conn.execute(select(auth_codes).where(auth_codes.c.phone_hash == phone_hash))
    ).first()
    return CodeRow(**row._mapping) if row else None


async def put(conn: AsyncConnection, row: CodeRow, *, exists: bool) -> None:
    values = {
        "code_hash": row.code_hash,
        "expires_at": row.expires_at,
        "attempts": row.attempts,
        "sends_in_window": row.sends_in_window,
        "last_sent_at": row.last_sent_at,
    }
    if exists:
        await conn.execute(
            update(auth_codes).where(auth_codes.c.phone_hash == row.phone_hash).values(**values)
        )
    else:
        await conn.execute(insert(auth_codes).values(phone_hash=row.phone_hash, **values))


async def remove(conn: AsyncConnection, phone_hash: bytes) -> None:
    await conn.execute(delete(auth_codes).where(auth_codes.c.phone_hash == phone_hash))


async def prune(conn: AsyncConnection, *, now: float, keep_counters_for: float) -> int:
    """Drop rows whose code is expired or used and whose send counter no longer matters."""
    result = await conn.execute(
        delete(auth_codes).where(
            auth_codes.c.last_sent_at < now - keep_counters_for,
            (auth_codes.c.code_hash.is_(None)) | (auth_codes.c.expires_at < now),
        )
    )
    return int(result.rowcount or 0)
