"""Cookie-category choices (P6.2) and the anonymous usage counters they gate (P6.1, P7.2).

``usage_daily`` holds (day, feature, count) and nothing else: no user id, ever.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.storage.tables import consents, usage_daily


async def for_user(conn: AsyncConnection, user_id: int) -> dict[str, tuple[bool, float]]:
    """category -> (granted, updated_at) of the user's recorded choices."""
    rows = await conn.execute(
        select(consents.c.category, consents.c.granted, consents.c.updated_at).where(
            consents.c.user_id == user_id
        )
    )
    return {r.category: (bool(r.granted), float(r.updated_at)) for r in rows}


async def put(
    conn: AsyncConnection, user_id: int, choices: Mapping[str, bool], *, now: float
) -> None:
    dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    for category, granted in choices.items():
        statement = dialect_insert(consents).values(
            user_id=user_id, category=category, granted=granted, updated_at=now
        )
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=[consents.c.user_id, consents.c.category],
                set_={"granted": granted, "updated_at": now},
            )
        )


async def granted_since(
    conn: AsyncConnection, user_ids: Iterable[int], category: str
) -> dict[int, float]:
    """user -> when they granted ``category``, for those of ``user_ids`` who grant it now."""
    ids = sorted(set(user_ids))
    found: dict[int, float] = {}
    for start in range(0, len(ids), 1000):
        rows = await conn.execute(
            select(consents.c.user_id, consents.c.updated_at).where(
                consents.c.user_id.in_(ids[start : start + 1000]),
                consents.c.category == category,
                consents.c.granted.is_(True),
            )
        )
        found.update({int(r.user_id): float(r.updated_at) for r in rows})
    return found


async def add_usage(conn: AsyncConnection, counts: Mapping[tuple[str, str], int]) -> None:
    """Add ``counts[(day, feature)]`` to the daily counters."""
    dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    for (day, feature), count in sorted(counts.items()):
        statement = dialect_insert(usage_daily).values(day=day, feature=feature, count=count)
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=[usage_daily.c.day, usage_daily.c.feature],
                set_={"count": usage_daily.c.count + statement.excluded.count},
            )
        )


async def usage(conn: AsyncConnection) -> dict[tuple[str, str], int]:
    rows = await conn.execute(select(usage_daily.c.day, usage_daily.c.feature, usage_daily.c.count))
    return {(r.day, r.feature): int(r._mapping["count"]) for r in rows}
