"""Channel statistics as aggregates only (P10.1): counts per channel, UTC day, metric and a
coarse key. Nothing here names a person; suppression of small cells happens when a report is
made (``services/channel_stats.py``)."""

from __future__ import annotations

from sqlalchemy import bindparam, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.storage.tables import channel_stats

DAY = 86400

# Metrics (the ``metric`` column).
JOINED = "joined"  # subscriptions started that day
LEFT = "left"  # subscriptions ended that day


def day_of(ts: float) -> int:
    """Days since the epoch (UTC) of a timestamp."""
    return int(ts // DAY)


async def count(
    conn: AsyncConnection, chat_id: int, now: float, metric: str, key: str = "", n: int = 1
) -> None:
    """Add ``n`` to one cell, inside the caller's transaction."""
    await count_many(conn, chat_id, now, {(metric, key): n})


async def count_many(
    conn: AsyncConnection, chat_id: int, now: float, cells: dict[tuple[str, str], int]
) -> None:
    """Add to several cells of one channel and day in two statements."""
    if not cells:
        return
    day = day_of(now)
    rows = [{"chat_id": chat_id, "day": day, "metric": m, "key": k, "count": 0} for (m, k) in cells]
    dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    await conn.execute(dialect_insert(channel_stats).on_conflict_do_nothing(), rows)
    await conn.execute(
        update(channel_stats)
        .where(
            channel_stats.c.chat_id == chat_id,
            channel_stats.c.day == day,
            channel_stats.c.metric == bindparam("m"),
            channel_stats.c.key == bindparam("k"),
        )
        .values(count=channel_stats.c.count + bindparam("n")),
        [{"m": m, "k": k, "n": n} for (m, k), n in sorted(cells.items())],
    )
