"""Channel statistics as aggregates only (P10.1): counts per channel, UTC day, metric and a
coarse key. Nothing here names a person; suppression of small cells happens when a report is
made (``services/channel_stats.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.domain.aggregates import CODE_DIGITS
from payam.storage.tables import channel_stats, chat_members, chats, devices, messages, users

DAY = 86400

# Metrics (the ``metric`` column).
JOINED = "joined"  # subscriptions started that day
LEFT = "left"  # subscriptions ended that day
VIEWS = "views"  # views newly counted that day, all posts together
# Distinct viewers that day (their first view in the channel that day), keys "" (everyone),
# "cc:<calling code>", "os:<OS family>", "hour:<UTC hour of that first view>".
VIEWERS = "viewers"
# A snapshot of the subscribers at the end of a day (taken by the retention job after it),
# keys "", "cc:<calling code>", "os:<OS family of their most recently used device>".
SUBSCRIBERS = "subscribers"


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


async def cells(
    conn: AsyncConnection, chat_id: int, first_day: int, last_day: int
) -> dict[int, dict[str, dict[str, int]]]:
    """Every cell of a channel from ``first_day`` to ``last_day``: {day: {metric: {key: n}}}."""
    rows = await conn.execute(
        select(
            channel_stats.c.day,
            channel_stats.c.metric,
            channel_stats.c.key,
            channel_stats.c.count.label("n"),
        ).where(
            channel_stats.c.chat_id == chat_id,
            channel_stats.c.day >= first_day,
            channel_stats.c.day <= last_day,
        )
    )
    found: dict[int, dict[str, dict[str, int]]] = {}
    for row in rows:
        found.setdefault(row.day, {}).setdefault(row.metric, {})[row.key] = int(row.n)
    return found


async def put_day(
    conn: AsyncConnection, chat_id: int, day: int, metric: str, values: Mapping[str, int]
) -> bool:
    """Write a whole day of one metric at once (a snapshot), unless it exists: the total ("")
    goes first and decides, so two reports racing to take the same snapshot leave one of them
    whole rather than a mix of both. Whether this call wrote it."""
    dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    base = {"chat_id": chat_id, "day": day, "metric": metric}
    won = await conn.scalar(
        dialect_insert(channel_stats)
        .values(**base, key="", count=values.get("", 0))
        .on_conflict_do_nothing()
        .returning(channel_stats.c.key)
    )
    rest = [{**base, "key": k, "count": n} for k, n in sorted(values.items()) if k and n]
    if won is None:
        return False
    if rest:
        await conn.execute(dialect_insert(channel_stats), rest)
    return True


@dataclass(frozen=True, slots=True)
class SubscriberGroup:
    prefix: str  # the first digits of the numbers, enough to tell the calling code
    os: str | None  # as the device declared it; None without a signed-in device
    count: int


async def channels_without(conn: AsyncConnection, day: int, metric: str) -> list[int]:
    """Channels that existed by the end of ``day`` and have no ``metric`` cells for it."""
    done = select(channel_stats.c.chat_id).where(
        channel_stats.c.chat_id == chats.c.id,
        channel_stats.c.day == day,
        channel_stats.c.metric == metric,
        channel_stats.c.key == "",
    )
    rows = await conn.execute(
        select(chats.c.id)
        .where(chats.c.type == "channel", chats.c.created_at < (day + 1) * DAY, ~done.exists())
        .order_by(chats.c.id)
    )
    return [row.id for row in rows]


async def subscriber_groups(
    conn: AsyncConnection, chat_id: int, joined_before: float
) -> list[SubscriberGroup]:
    """Subscribers who joined before ``joined_before``, counted by the leading digits of their
    number and the OS of their most recently used device, in the database: no number or id
    leaves it, and a million subscribers come back as at most a few thousand groups."""
    latest_os = (
        select(devices.c.os)
        .where(devices.c.user_id == chat_members.c.user_id)
        .order_by(devices.c.last_active_at.desc(), devices.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    each = (
        select(func.substr(users.c.phone, 2, CODE_DIGITS).label("prefix"), latest_os.label("os"))
        .select_from(chat_members.join(users, users.c.id == chat_members.c.user_id))
        .where(chat_members.c.chat_id == chat_id, chat_members.c.joined_at < joined_before)
        .subquery()
    )
    rows = await conn.execute(
        select(each.c.prefix, each.c.os, func.count().label("n")).group_by(each.c.prefix, each.c.os)
    )
    return [SubscriberGroup(str(row.prefix), row.os, int(row.n)) for row in rows]


@dataclass(frozen=True, slots=True)
class PostFigures:
    id: int
    seq: int
    created_at: float
    views: int
    forwards: int


async def posts_between(
    conn: AsyncConnection, chat_id: int, start: float, end: float, limit: int
) -> list[PostFigures]:
    """The channel's posts made in [start, end) that are not deleted, newest first, with
    their public counters.

    Read backwards by seq a page at a time, stopping at the first post made before ``start``
    (a channel numbers its posts in the order they are made), so a report reads the posts of
    its period, not the channel's whole history."""
    found: list[PostFigures] = []
    below: int | None = None
    while len(found) < limit:
        query = (
            select(
                messages.c.id,
                messages.c.seq,
                messages.c.created_at,
                messages.c.deleted_at,
                messages.c.views,
                messages.c.forwards,
            )
            .where(messages.c.chat_id == chat_id)
            .order_by(messages.c.seq.desc())
            .limit(500)
        )
        if below is not None:
            query = query.where(messages.c.seq < below)
        rows = (await conn.execute(query)).all()
        for r in rows:
            if r.created_at < start:
                return found
            if r.created_at < end and r.deleted_at is None and r.views is not None:
                found.append(
                    PostFigures(r.id, r.seq, r.created_at, int(r.views), int(r.forwards or 0))
                )
                if len(found) == limit:
                    break
        if len(rows) < 500:
            break
        below = rows[-1].seq
    return found
