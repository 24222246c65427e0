"""Channels (P5.1): lookups by public handle, the search, and the few members a channel names
(its owner and admins). Nothing here reads a channel's subscribers as a list: a channel may have
millions, and no use case needs them one by one except deleting the channel.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, case, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from payam.storage import chats as chat_store
from payam.storage.chats import _CHAT, _MEMBER, ChatRow, MemberRow
from payam.storage.tables import STAFF_ROLES, chat_members, chats, users

CHANNEL = "channel"


async def create(
    conn: AsyncConnection,
    *,
    title: str,
    handle: str,
    handle_key: str,
    description: str | None,
    created_by: int,
    now: float,
) -> int:
    """Insert the channel row; a taken ``handle_key`` raises IntegrityError (unique index)."""
    return await chat_store.create(
        conn,
        type_=CHANNEL,
        title=title,
        direct=None,
        created_by=created_by,
        now=now,
        handle=handle,
        handle_key=handle_key,
        description=description,
    )


async def by_handle(conn: AsyncConnection, handle_key: str) -> ChatRow | None:
    """The channel with this (lower-cased) handle: one probe of the unique index."""
    row = (
        await conn.execute(
            select(*_CHAT).where(chats.c.handle_key == handle_key, chats.c.type == CHANNEL)
        )
    ).first()
    return ChatRow(**row._mapping) if row else None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _handle_prefix(conn: AsyncConnection, prefix: str) -> ColumnElement[bool]:
    """``handle_key`` starts with ``prefix`` (lower case, handle characters only), written so
    the unique index on ``handle_key`` serves it on SQLite: a range (SQLite's LIKE is
    case-insensitive and so cannot use a BINARY index). On PostgreSQL, LIKE: exact under any
    collation, where a range is not (en_US orders "_" as if it were absent), but the default
    b-tree serves it only under the C collation, so it filters the table (docs/api.md)."""
    if conn.dialect.name == "sqlite":
        # Handle characters sort below "~" in a byte-wise collation.
        return and_(chats.c.handle_key >= prefix, chats.c.handle_key < prefix + "~")
    return chats.c.handle_key.like(_escape_like(prefix) + "%", escape="\\")


async def search(
    conn: AsyncConnection, *, handle_prefix: str | None, title_part: str | None, limit: int
) -> list[ChatRow]:
    """Channels whose handle starts with ``handle_prefix`` or whose title contains
    ``title_part`` (both lower case): handle matches first, then by handle. A handle prefix
    alone is an index range on SQLite (see ``_handle_prefix`` for PostgreSQL); a title part is
    a scan of the chats table."""
    conditions: list[ColumnElement[bool]] = []
    if handle_prefix:
        conditions.append(_handle_prefix(conn, handle_prefix))
    if title_part:
        pattern = "%" + _escape_like(title_part) + "%"
        conditions.append(func.lower(chats.c.title).like(pattern, escape="\\"))
    if not conditions:
        return []
    query = select(*_CHAT).where(chats.c.type == CHANNEL, or_(*conditions))
    if handle_prefix and title_part:
        query = query.order_by(case((conditions[0], 0), else_=1))
    rows = await conn.execute(query.order_by(chats.c.handle_key).limit(limit))
    return [ChatRow(**row._mapping) for row in rows]


async def staff(conn: AsyncConnection, chat_id: int) -> list[MemberRow]:
    """The owner and admins of a channel, oldest first.

    Served by the partial index ``ix_chat_members_staff`` (migration 0007): the cost is the
    few rows returned, not the channel's subscribers. The condition is written out as the
    index's own text, since SQLite uses a partial index only when the query repeats its
    condition with the same literals (a bound parameter would not do)."""
    rows = await conn.execute(
        select(*_MEMBER)
        .where(chat_members.c.chat_id == chat_id, text(STAFF_ROLES))
        .order_by(chat_members.c.joined_at, chat_members.c.user_id)
    )
    return [MemberRow(**row._mapping) for row in rows]


async def subscriber_ids(conn: AsyncConnection, chat_id: int) -> list[int]:
    """Every member of a channel: only for deleting it, when each must be told once."""
    rows = await conn.execute(
        select(chat_members.c.user_id).where(chat_members.c.chat_id == chat_id)
    )
    return [row.user_id for row in rows]


async def existing_users(conn: AsyncConnection, user_ids: Sequence[int]) -> list[int]:
    """Those of ``user_ids`` whose account still exists (in the order given)."""
    if not user_ids:
        return []
    found = set(
        (await conn.scalars(select(users.c.id).where(users.c.id.in_(list(user_ids))))).all()
    )
    return [uid for uid in user_ids if uid in found]
