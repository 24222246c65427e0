"""Disappearing messages (P5.3): the read filter every message read applies, the timers of
chats and users' defaults, and the sweep's look-up of what is due.

A message whose ``expires_at`` has passed is gone for every reader at that instant, whether or
not the sweep has removed it yet: ``live(now)`` is the one filter that says so, and each query
that answers messages (history, search, unread counts, media access, export) includes it. The
sweep then removes the message as a deletion for everyone (``services/ttl.py``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.storage.tables import EXPIRING, chats, message_media, messages, users


def live(now: float | ColumnElement[float], *, of: Any = messages) -> ColumnElement[bool]:
    """Messages that have not expired at ``now`` (those without a timer never do); ``now`` may
    be a bound parameter, for a statement built once, and ``of`` an alias of ``messages``."""
    return or_(of.c.expires_at.is_(None), of.c.expires_at > now)


def expired(expires_at: float | None, now: float) -> bool:
    """The same rule for a row already read."""
    return expires_at is not None and expires_at <= now


def expires_at(message_ttl: int | None, created_at: float) -> float | None:
    """When a message stored at ``created_at`` in a chat with this timer disappears."""
    return None if message_ttl is None else created_at + message_ttl


async def due(conn: AsyncConnection, now: float, *, limit: int) -> list[tuple[int, int]]:
    """(message id, chat id) of up to ``limit`` messages whose time has come and that are not
    removed yet, oldest expiry first. The literal WHERE is the partial index's own
    (``ix_messages_expiring``), so SQLite reads only the index entries that are due."""
    rows = await conn.execute(
        select(messages.c.id, messages.c.chat_id)
        .where(text(EXPIRING), messages.c.expires_at <= now)
        .order_by(messages.c.expires_at)
        .limit(limit)
    )
    return [(row.id, row.chat_id) for row in rows]


async def set_chat_ttl(conn: AsyncConnection, chat_id: int, seconds: int | None) -> None:
    await conn.execute(update(chats).where(chats.c.id == chat_id).values(message_ttl=seconds))


async def set_default(conn: AsyncConnection, user_id: int, seconds: int | None) -> None:
    await conn.execute(
        update(users).where(users.c.id == user_id).values(default_message_ttl=seconds)
    )


def default_of(user_id: int) -> ColumnElement[int | None]:
    """The creator's default timer, as a value for a new chat's ``message_ttl``."""
    return select(users.c.default_message_ttl).where(users.c.id == user_id).scalar_subquery()


async def carried_only_by_expired(conn: AsyncConnection, media_id: int, now: float) -> bool:
    """Whether every message carrying this upload has expired (and at least one does): its
    uploader, too, no longer gets the file through any route (until the sweep erases it)."""
    carriers = (
        select(messages.c.expires_at)
        .join(message_media, message_media.c.message_id == messages.c.id)
        .where(message_media.c.media_id == media_id, messages.c.deleted_at.is_(None))
    )
    found = [row.expires_at for row in await conn.execute(carriers)]
    return bool(found) and all(expired(at, now) for at in found)
