"""View counting of channel posts (P10.1): daily salts, the salted marks that say "already
counted", and the posts' public ``views`` counters.

A mark is ``HMAC(salt of a day, what + who)`` truncated to 16 bytes; ``view_marks`` holds the
mark and its day and nothing else (no user id, no post id), and ``prune`` drops the marks with
their salt. Both inserts here are insert-or-nothing, so concurrent requests (other processes
included, on PostgreSQL) agree on one salt per day and on which request a mark was new in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.domain.models import Caller
from payam.storage.tables import chats, devices, messages, users, view_marks, view_salts


@dataclass(frozen=True, slots=True)
class Post:
    id: int
    chat_id: int
    created_at: float
    views: int


async def posts(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, Post]:
    """The channel posts among ``ids`` that are not deleted, whatever their channels (the
    caller keeps those of the right one), with their counts. A post is a message of a channel
    (its ``views`` counter is set)."""
    wanted = sorted(set(ids))
    found: dict[int, Post] = {}
    for start in range(0, len(wanted), 500):
        rows = await conn.execute(
            select(messages.c.id, messages.c.chat_id, messages.c.created_at, messages.c.views)
            .join(chats, chats.c.id == messages.c.chat_id)
            .where(
                messages.c.id.in_(wanted[start : start + 500]),
                messages.c.views.is_not(None),
                messages.c.deleted_at.is_(None),
                chats.c.type == "channel",
            )
        )
        found.update(
            {row.id: Post(row.id, row.chat_id, row.created_at, int(row.views)) for row in rows}
        )
    return found


async def salts(conn: AsyncConnection, days: Iterable[int]) -> dict[int, bytes]:
    wanted = sorted(set(days))
    if not wanted:
        return {}
    rows = await conn.execute(
        select(view_salts.c.day, view_salts.c.salt).where(view_salts.c.day.in_(wanted))
    )
    return {row.day: bytes(row.salt) for row in rows}


async def create_salt(conn: AsyncConnection, day: int, salt: bytes) -> bytes:
    """The salt of ``day``: ``salt`` if this call made it, else the one another request made
    first (waiting for it to commit on PostgreSQL)."""
    dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    await conn.execute(
        dialect_insert(view_salts).values(day=day, salt=salt).on_conflict_do_nothing()
    )
    found = await conn.scalar(select(view_salts.c.salt).where(view_salts.c.day == day))
    assert found is not None
    return bytes(found)


async def existing_marks(conn: AsyncConnection, marks: Iterable[bytes]) -> set[bytes]:
    wanted = sorted(set(marks))
    if not wanted:
        return set()
    rows = await conn.execute(select(view_marks.c.mark).where(view_marks.c.mark.in_(wanted)))
    return {bytes(row.mark) for row in rows}


async def add_marks(conn: AsyncConnection, marks: Sequence[tuple[bytes, int]]) -> set[bytes]:
    """Insert (mark, day) pairs; returns the marks that were new. A mark another transaction
    holds is waited for and then not new, so one viewer's concurrent reports count once.
    Sorted, so that two transactions take their locks in the same order; 1,000 rows a
    statement (both databases bound the parameters of one)."""
    dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    rows = [{"mark": mark, "day": day} for mark, day in sorted(set(marks))]
    new: set[bytes] = set()
    for start in range(0, len(rows), 1000):
        result = await conn.execute(
            dialect_insert(view_marks)
            .values(rows[start : start + 1000])
            .on_conflict_do_nothing()
            .returning(view_marks.c.mark)
        )
        new.update(bytes(row.mark) for row in result)
    return new


async def add_views(conn: AsyncConnection, views: Mapping[int, int]) -> None:
    """Add new views to posts: one statement for them all, in id order (so that two
    transactions lock the rows in the same order)."""
    if views:
        await conn.execute(
            update(messages)
            .where(messages.c.id == bindparam("pid"))
            .values(views=messages.c.views + bindparam("n")),
            [{"pid": pid, "n": n} for pid, n in sorted(views.items())],
        )


async def counts(conn: AsyncConnection, post_ids: Iterable[int]) -> dict[int, int]:
    wanted = sorted(set(post_ids))
    found: dict[int, int] = {}
    for start in range(0, len(wanted), 500):
        rows = await conn.execute(
            select(messages.c.id, messages.c.views).where(
                messages.c.id.in_(wanted[start : start + 500])
            )
        )
        found.update({row.id: int(row.views or 0) for row in rows})
    return found


async def viewers(
    conn: AsyncConnection, callers: Sequence[Caller]
) -> dict[int, tuple[str, str | None]]:
    """{device id: (number, OS)} of the viewers and the devices they report from: read only to
    be reduced to a calling code and an OS family before anything is counted. A device signed
    out meanwhile has no OS."""
    if not callers:
        return {}
    phones = {
        row.id: row.phone
        for row in await conn.execute(
            select(users.c.id, users.c.phone).where(
                users.c.id.in_(sorted({c.user_id for c in callers}))
            )
        )
    }
    oses = {
        (row.id, row.user_id): row.os
        for row in await conn.execute(
            select(devices.c.id, devices.c.user_id, devices.c.os).where(
                devices.c.id.in_(sorted({c.device_id for c in callers}))
            )
        )
    }
    return {
        c.device_id: (phones.get(c.user_id, ""), oses.get((c.device_id, c.user_id)))
        for c in callers
    }


async def prune(conn: AsyncConnection, *, before_day: int) -> tuple[int, int]:
    """Drop marks and salts of days before ``before_day``; (marks, salts) removed. After this
    nobody, the server included, can tell whether a viewer saw a post of those days."""
    marks = await conn.execute(delete(view_marks).where(view_marks.c.day < before_day))
    salts_removed = await conn.execute(delete(view_salts).where(view_salts.c.day < before_day))
    return int(marks.rowcount or 0), int(salts_removed.rowcount or 0)
