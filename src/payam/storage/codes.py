"""Sign-in codes and their throttling counters, keyed by the number's HMAC (P1.2).

A code is single use even when two requests carry it at once: ``get(..., lock=True)`` takes the
row lock on PostgreSQL (SQLite's one write transaction at a time already serialises), so the
second request sees the code already spent. The first row for a number is created with
``insert``, which reports a concurrent creator instead of failing on the primary key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
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


def _values(row: CodeRow) -> dict[str, Any]:
    return {
        "code_hash": row.code_hash,
        "expires_at": row.expires_at,
        "attempts": row.attempts,
        "sends_in_window": row.sends_in_window,
        "last_sent_at": row.last_sent_at,
    }


async def get(conn: AsyncConnection, phone_hash: bytes, *, lock: bool = False) -> CodeRow | None:
    """The number's row; with ``lock`` held for the rest of the transaction."""
    query = select(auth_codes).where(auth_codes.c.phone_hash == phone_hash)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return CodeRow(**row._mapping) if row else None


async def insert(conn: AsyncConnection, row: CodeRow) -> bool:
    """Create the number's first row; False if a concurrent transaction created it first."""
    dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    result = await conn.execute(
        dialect_insert(auth_codes)
        .values(phone_hash=row.phone_hash, **_values(row))
        .on_conflict_do_nothing(index_elements=[auth_codes.c.phone_hash])
    )
    return bool(result.rowcount)


async def replace(conn: AsyncConnection, row: CodeRow) -> None:
    """Overwrite the number's existing row."""
    await conn.execute(
        update(auth_codes).where(auth_codes.c.phone_hash == row.phone_hash).values(**_values(row))
    )


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
