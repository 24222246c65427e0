"""Media (P5.1, P5.3, P9.2): uploaded files and the messages that carry them.

A ``media`` row is one upload by one user; its bytes are a blob (``blob_key``, and for images a
``thumb_key``), shared with every other row, photo or upload of equal bytes. ``message_media``
says which messages carry it, in order. The invariants these functions keep:

- a media row is carried by a message, or it is an upload younger than
  ``media_unattached_hours`` that no message carried yet (``attached_at`` NULL);
- when the last message carrying a row stops carrying it (deleted for everyone, history
  cleared for everyone, chat deleted, sender erased), the row goes in the same transaction; the
  functions that delete rows return the blob keys they named, and the caller erases those that
  nothing names any more after the commit (``services/files.py``);
- on PostgreSQL, attaching and releasing lock the media rows (``FOR UPDATE``), so a send that
  attaches an upload and a deletion that frees it cannot both believe they decided its fate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select

from payam.storage import ttl as ttl_store
from payam.storage.tables import (
    chat_members,
    chats,
    hidden_messages,
    media,
    message_media,
    messages,
)

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class MediaRow:
    id: int
    owner_id: int | None
    kind: str
    mime: str
    size: int
    width: int | None
    height: int | None
    blob_key: str
    thumb_key: str | None
    created_at: float
    attached_at: float | None
    name: str | None = None  # as sent, sanitised


_COLUMNS = tuple(media.c)


def _row(row: Any) -> MediaRow:
    return MediaRow(**row._mapping)


def _chunks(ids: Iterable[int]) -> list[list[int]]:
    wanted = sorted(set(ids))
    return [wanted[i : i + _CHUNK] for i in range(0, len(wanted), _CHUNK)]


def _keys(rows: Iterable[Any]) -> list[str]:
    return [key for row in rows for key in (row.blob_key, row.thumb_key) if key]


async def insert_one(conn: AsyncConnection, **values: Any) -> MediaRow:
    result = await conn.execute(insert(media).values(**values).returning(*_COLUMNS))
    return _row(result.one())


async def get(conn: AsyncConnection, media_id: int) -> MediaRow | None:
    row = (await conn.execute(select(*_COLUMNS).where(media.c.id == media_id))).first()
    return _row(row) if row else None


async def get_many(
    conn: AsyncConnection, ids: Iterable[int], *, lock: bool = False
) -> dict[int, MediaRow]:
    """Rows by id; ``lock`` holds them until the transaction ends (PostgreSQL), so that no
    deletion can take a row this transaction is about to attach."""
    found: dict[int, MediaRow] = {}
    for chunk in _chunks(ids):
        query = select(*_COLUMNS).where(media.c.id.in_(chunk))
        if lock and conn.dialect.name != "sqlite":
            query = query.with_for_update()
        found.update({row.id: _row(row) for row in await conn.execute(query)})
    return found


async def for_messages(
    conn: AsyncConnection, message_ids: Iterable[int]
) -> dict[int, tuple[MediaRow, ...]]:
    """The media each message carries, in its order: one query for a whole page or batch."""
    carried: dict[int, list[MediaRow]] = {}
    for chunk in _chunks(message_ids):
        for row in await conn.execute(_FOR_MESSAGES, {"ids": chunk}):
            values = dict(row._mapping)
            carried.setdefault(values.pop("message_id"), []).append(MediaRow(**values))
    return {mid: tuple(found) for mid, found in carried.items()}


# Built once: every page of messages asks it, and building it cost more than running it.
_FOR_MESSAGES = (
    select(message_media.c.message_id, *_COLUMNS)
    .join(media, media.c.id == message_media.c.media_id)
    .where(message_media.c.message_id.in_(bindparam("ids", expanding=True)))
    .order_by(message_media.c.message_id, message_media.c.position)
)


async def attach(
    conn: AsyncConnection, carried: Sequence[tuple[int, Sequence[int]]], now: float
) -> None:
    """Record which media each new message carries (one insert for a whole batch); uploads
    carried for the first time stop being unattached."""
    links = [
        {"message_id": message_id, "media_id": media_id, "position": position}
        for message_id, media_ids in carried
        for position, media_id in enumerate(media_ids)
    ]
    if not links:
        return
    await conn.execute(insert(message_media), links)
    for chunk in _chunks(link["media_id"] for link in links):
        await conn.execute(
            update(media)
            .where(media.c.id.in_(chunk), media.c.attached_at.is_(None))
            .values(attached_at=now)
        )


async def can_see(conn: AsyncConnection, media_id: int, user_id: int, *, now: float) -> bool:
    """Whether a message that is not deleted nor expired (P5.3) carries this media where the
    user sees it: a
    channel post (channels are public), or a message of a chat they are a member of, after
    their cleared seq and not hidden for them (P9.1)."""
    member = and_(chat_members.c.chat_id == messages.c.chat_id, chat_members.c.user_id == user_id)
    hidden = select(hidden_messages.c.message_id).where(
        hidden_messages.c.user_id == user_id, hidden_messages.c.message_id == messages.c.id
    )
    found = await conn.scalar(
        select(messages.c.id)
        .select_from(message_media)
        .join(messages, messages.c.id == message_media.c.message_id)
        .join(chats, chats.c.id == messages.c.chat_id)
        .outerjoin(chat_members, member)
        .where(
            message_media.c.media_id == media_id,
            messages.c.deleted_at.is_(None),
            ttl_store.live(now),
            or_(
                chats.c.type == "channel",
                and_(
                    chat_members.c.user_id.is_not(None),
                    messages.c.seq > chat_members.c.cleared_seq,
                    ~hidden.exists(),
                ),
            ),
        )
        .limit(1)
    )
    return found is not None


async def release(conn: AsyncConnection, message_ids: Sequence[int]) -> list[str]:
    """These messages carry nothing any more (deleted for everyone); the media rows no other
    message carries go too. Returns the blob keys those rows named."""
    if not message_ids:
        return []
    return await _release(conn, select(messages.c.id).where(messages.c.id.in_(message_ids)))


async def release_chat(
    conn: AsyncConnection, chat_id: int, up_to_seq: int | None = None
) -> list[str]:
    """The same for a chat's messages (up to ``up_to_seq``; all of them when None): history
    cleared for everyone, or the chat about to be deleted."""
    query = select(messages.c.id).where(messages.c.chat_id == chat_id)
    if up_to_seq is not None:
        query = query.where(messages.c.seq <= up_to_seq)
    return await _release(conn, query)


async def release_sent_by(conn: AsyncConnection, sender_id: int) -> list[str]:
    """The same for every message a user sent (account erasure, after they were tombstoned)."""
    return await _release(conn, select(messages.c.id).where(messages.c.sender_id == sender_id))


async def _release(conn: AsyncConnection, message_ids: Select[Any]) -> list[str]:
    carrying = message_media.c.message_id.in_(message_ids.scalar_subquery())
    candidates = list(
        (await conn.scalars(select(message_media.c.media_id).where(carrying).distinct())).all()
    )
    if not candidates:
        return []
    await conn.execute(delete(message_media).where(carrying))
    return await _delete_uncarried(conn, candidates)


async def _delete_uncarried(conn: AsyncConnection, media_ids: Sequence[int]) -> list[str]:
    carried = select(message_media.c.media_id).where(message_media.c.media_id == media.c.id)
    keys: list[str] = []
    for chunk in _chunks(media_ids):
        if conn.dialect.name != "sqlite":
            # Wait for a send attaching one of these to commit (or take it first): the check
            # below then sees its message_media row, or the send sees the row gone.
            await conn.execute(select(media.c.id).where(media.c.id.in_(chunk)).with_for_update())
        result = await conn.execute(
            delete(media)
            .where(media.c.id.in_(chunk), ~carried.exists())
            .returning(media.c.blob_key, media.c.thumb_key)
        )
        keys += _keys(result)
    return keys


async def release_owner(conn: AsyncConnection, owner_id: int) -> list[str]:
    """Account erasure: the user's uploads that no message carries go (the messages they sent
    were released before). Uploads still carried by others' forwards stay with those
    messages and lose their uploader (``owner_id`` is set NULL with the account row) and the
    file name they gave it."""
    owned = list((await conn.scalars(select(media.c.id).where(media.c.owner_id == owner_id))).all())
    freed = await _delete_uncarried(conn, owned)
    # What stays with others' forwards keeps its bytes but not the name the user gave it.
    await conn.execute(update(media).where(media.c.owner_id == owner_id).values(name=None))
    return freed


async def expire_unattached(conn: AsyncConnection, created_before: float) -> tuple[int, list[str]]:
    """Uploads no message ever carried, older than the cut-off (media_unattached_hours):
    how many went, and the blob keys they named."""
    rows = (
        await conn.execute(
            delete(media)
            .where(media.c.attached_at.is_(None), media.c.created_at < created_before)
            .returning(media.c.blob_key, media.c.thumb_key)
        )
    ).all()
    return len(rows), _keys(rows)


async def of_owner(conn: AsyncConnection, owner_id: int) -> list[MediaRow]:
    rows = await conn.execute(
        select(*_COLUMNS).where(media.c.owner_id == owner_id).order_by(media.c.id)
    )
    return [_row(row) for row in rows]


async def key_in_use(conn: AsyncConnection, key: str) -> bool:
    """Whether any media row still names this (content-addressed) blob."""
    found = await conn.scalar(
        select(media.c.id).where((media.c.blob_key == key) | (media.c.thumb_key == key)).limit(1)
    )
    return found is not None
