"""Token-bucket state for the named limits of ``domain.limits``."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.domain.limits import BucketState
from payam.storage.tables import rate_limits


async def lock(conn: AsyncConnection, key: str, initial: BucketState) -> BucketState:
    """Return the bucket's state, creating it as ``initial`` if new, locked for this transaction
    (SQLite's write transaction already serialises; PostgreSQL takes the row lock)."""
    dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    await conn.execute(
        dialect_insert(rate_limits)
        .values(key=key, tokens=initial.tokens, updated_at=initial.updated_at)
        .on_conflict_do_nothing(index_elements=[rate_limits.c.key])
    )
    query = select(rate_limits.c.tokens, rate_limits.c.updated_at).where(rate_limits.c.key == key)
    if conn.dialect.name != "sqlite":
        query = query.with_for_update()
    row = (await conn.execute(query)).one()
    return BucketState(row.tokens, row.updated_at)


async def store(conn: AsyncConnection, key: str, state: BucketState) -> None:
    await conn.execute(
        update(rate_limits)
        .where(rate_limits.c.key == key)
        .values(tokens=state.tokens, updated_at=state.updated_at)
    )


async def prune(conn: AsyncConnection, *, prefix: str, older_than: float) -> int:
    """Buckets untouched for a full period are full again: the row says nothing any more."""
    result = await conn.execute(
        delete(rate_limits).where(
            rate_limits.c.key.startswith(prefix, autoescape=True),
            rate_limits.c.updated_at < older_than,
        )
    )
    return int(result.rowcount or 0)
