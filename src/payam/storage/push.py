"""Web Push subscriptions: one per device (docs/push.md)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.storage.prepared import PreparedBySize
from payam.storage.tables import chat_members, messages, push_subscriptions

# The subscriptions of a list of users (storage/prepared.py: compiled once per list size).
_OF_USERS = PreparedBySize(
    lambda size: select(
        push_subscriptions.c.user_id,
        push_subscriptions.c.device_id,
        push_subscriptions.c.endpoint,
        push_subscriptions.c.p256dh,
        push_subscriptions.c.auth,
    ).where(push_subscriptions.c.user_id.in_([bindparam(f"v{i}") for i in range(size)]))
)


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    device_id: int
    endpoint: str
    p256dh: str
    auth: str


async def put(
    conn: AsyncConnection,
    *,
    user_id: int,
    device_id: int,
    endpoint: str,
    p256dh: str,
    auth: str,
    now: float,
) -> None:
    """The device's subscription, replacing the one it had."""
    dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    values = {"endpoint": endpoint, "p256dh": p256dh, "auth": auth, "created_at": now}
    statement = dialect_insert(push_subscriptions).values(
        device_id=device_id, user_id=user_id, **values
    )
    await conn.execute(statement.on_conflict_do_update(index_elements=["device_id"], set_=values))


async def remove(conn: AsyncConnection, *, user_id: int, device_id: int) -> bool:
    result = await conn.execute(
        delete(push_subscriptions).where(
            push_subscriptions.c.device_id == device_id,
            push_subscriptions.c.user_id == user_id,
        )
    )
    return bool(result.rowcount)


async def remove_if_same(conn: AsyncConnection, device_id: int, endpoint: str) -> None:
    """Drop a subscription the push service no longer knows, unless it was replaced."""
    await conn.execute(
        delete(push_subscriptions).where(
            push_subscriptions.c.device_id == device_id,
            push_subscriptions.c.endpoint == endpoint,
        )
    )


async def of_users(
    conn: AsyncConnection, user_ids: Iterable[int]
) -> dict[int, list[SubscriptionRow]]:
    """The subscriptions of each of ``user_ids`` that has any (chunks of 512 ids on the
    ``user_id`` index): users without one are simply absent."""
    ids = sorted(set(user_ids))
    found: dict[int, list[SubscriptionRow]] = {}
    if ids:
        for user_id, device_id, endpoint, p256dh, auth in await _OF_USERS.rows(conn, ids):
            found.setdefault(user_id, []).append(SubscriptionRow(device_id, endpoint, p256dh, auth))
    return found


async def muted(conn: AsyncConnection, user_id: int, chat_id: int) -> bool:
    found = await conn.scalar(
        select(chat_members.c.muted).where(
            chat_members.c.chat_id == chat_id, chat_members.c.user_id == user_id
        )
    )
    return bool(found)


async def unread_total(conn: AsyncConnection, user_id: int) -> int:
    """Messages from others after the user's read marker in the chats they have not muted:
    the one number a push may carry."""
    found = await conn.scalar(
        select(func.count())
        .select_from(messages)
        .join(
            chat_members,
            and_(chat_members.c.chat_id == messages.c.chat_id, chat_members.c.user_id == user_id),
        )
        .where(
            messages.c.seq > chat_members.c.read_seq,
            messages.c.seq > chat_members.c.cleared_seq,
            messages.c.sender_id != user_id,
            messages.c.deleted_at.is_(None),
            chat_members.c.muted.is_(False),
        )
    )
    return int(found or 0)
