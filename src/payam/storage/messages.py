"""Messages (P5.1): stored per chat with a gapless ``seq``; deletion leaves a tombstone without
text or content hash (P5.3), and the SQLite full-text index follows by trigger."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.storage import media as media_store
from payam.storage import ttl as ttl_store
from payam.storage.media import MediaRow
from payam.storage.pairs import PairLookup
from payam.storage.tables import chat_members, hidden_messages, messages


@dataclass(frozen=True, slots=True)
class MessageRow:
    id: int
    chat_id: int
    seq: int
    sender_id: int
    client_id: str
    text: str | None
    content_hash: bytes | None
    reply_to: int | None
    forward_of: int | None
    forward_from_user_id: int | None
    created_at: float
    edited_at: float | None
    deleted_at: float | None
    # Channel posts only (None elsewhere): distinct viewers and forwards (P10.1).
    views: int | None = None
    forwards: int | None = None
    # P5.3: when it disappears (None: never); filtered out of every read once past.
    expires_at: float | None = None
    # "call" for a call's record (its outcome as JSON in ``call``), None for a written message.
    kind: str | None = None
    call: str | None = None
    # The media it carries, in order (filled by every read below, one query per read).
    media: tuple[MediaRow, ...] = ()


_COLUMNS = tuple(messages.c)
_BY_IDS = select(*_COLUMNS).where(messages.c.id.in_(bindparam("ids", expanding=True)))
_INSERT = insert(messages).returning(messages.c.id, messages.c.chat_id, messages.c.seq)
# Index lookups per key, where ``tuple_(...).in_(...)`` scanned the table on SQLite.
_BY_CLIENT_ID = PairLookup(select(*_COLUMNS), messages.c.sender_id, messages.c.client_id)
_HIDDEN = PairLookup(
    select(hidden_messages.c.user_id, hidden_messages.c.message_id),
    hidden_messages.c.user_id,
    hidden_messages.c.message_id,
)


def _row(row: Any) -> MessageRow:
    return MessageRow(**row._mapping)


async def _carrying(conn: AsyncConnection, found: list[MessageRow]) -> list[MessageRow]:
    """These messages with the media they carry: one query for all of them."""
    carried = await media_store.for_messages(conn, [m.id for m in found]) if found else {}
    if not carried:
        return found
    return [replace(m, media=carried[m.id]) if m.id in carried else m for m in found]


async def get(conn: AsyncConnection, message_id: int) -> MessageRow | None:
    row = (await conn.execute(select(*_COLUMNS).where(messages.c.id == message_id))).first()
    return (await _carrying(conn, [_row(row)]))[0] if row else None


async def get_many(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, MessageRow]:
    wanted = sorted(set(ids))
    found: dict[int, MessageRow] = {}
    for start in range(0, len(wanted), 500):
        rows = await conn.execute(_BY_IDS, {"ids": wanted[start : start + 500]})
        found.update({row.id: _row(row) for row in rows})
    return {m.id: m for m in await _carrying(conn, list(found.values()))}


async def by_client_ids(
    conn: AsyncConnection, keys: Sequence[tuple[int, str]]
) -> dict[tuple[int, str], MessageRow]:
    """Existing messages for (sender_id, client_id) pairs: the idempotency lookup."""
    rows = await _BY_CLIENT_ID.rows(conn, keys)
    found = await _carrying(conn, [_row(row) for row in rows])
    return {(m.sender_id, m.client_id): m for m in found}


async def insert_many(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert messages; returns their ids in the order given.

    One multi-row ``INSERT ... RETURNING`` per 1,000 rows. Neither database promises the
    order of RETURNING rows, and asking SQLAlchemy to sort them (``sort_by_parameter_order``)
    makes it send one INSERT per row on SQLite; each row says its (chat_id, seq) instead,
    which is unique."""
    if not rows:
        return []
    result = await conn.execute(_INSERT, list(rows))
    ids = {(row.chat_id, row.seq): row.id for row in result}
    return [ids[(row["chat_id"], row["seq"])] for row in rows]


async def page(
    conn: AsyncConnection,
    chat_id: int,
    *,
    viewer_id: int,
    after_seq: int,
    before_seq: int | None,
    limit: int,
    newest_first: bool,
    now: float,
) -> list[MessageRow]:
    """Messages of a chat between seqs, minus those the viewer hid for themself and those
    that expired (P5.3)."""
    hidden = select(hidden_messages.c.message_id).where(
        hidden_messages.c.user_id == viewer_id, hidden_messages.c.message_id == messages.c.id
    )
    query = select(*_COLUMNS).where(
        messages.c.chat_id == chat_id,
        messages.c.seq > after_seq,
        ~hidden.exists(),
        ttl_store.live(now),
    )
    if before_seq is not None:
        query = query.where(messages.c.seq < before_seq)
    order = messages.c.seq.desc() if newest_first else messages.c.seq.asc()
    rows = await conn.execute(query.order_by(order).limit(limit))
    found = await _carrying(conn, [_row(row) for row in rows])
    return sorted(found, key=lambda m: m.seq)


async def add_forwards(conn: AsyncConnection, counts: Mapping[int, int]) -> None:
    """Count forwards of channel posts (P10.1): one statement for a whole batch. Messages
    whose counter is NULL (not channel posts) are left as they are. Rows are updated in id
    order, so two batches (two processes on PostgreSQL) lock shared posts in the same order."""
    if counts:
        await conn.execute(
            update(messages)
            .where(messages.c.id == bindparam("mid"), messages.c.forwards.is_not(None))
            .values(forwards=messages.c.forwards + bindparam("n")),
            [{"mid": mid, "n": n} for mid, n in sorted(counts.items())],
        )


async def edit(conn: AsyncConnection, message_id: int, text_: str, now: float) -> bool:
    """Replace the text of a message that is not deleted; whether one was. The content hash
    goes: a hash of the old text would be a trace of it (P5.3)."""
    result = await conn.execute(
        update(messages)
        .where(
            messages.c.id == message_id,
            messages.c.deleted_at.is_(None),
            messages.c.kind.is_(None),  # a call's record has no text to edit
        )
        .values(text=text_, content_hash=None, edited_at=now)
    )
    return bool(result.rowcount)


_TOMBSTONE = {
    "text": None,
    "content_hash": None,
    "reply_to": None,
    "forward_of": None,
    "forward_from_user_id": None,
    "call": None,
}


async def tombstone(conn: AsyncConnection, message_ids: Sequence[int], now: float) -> int:
    """Delete for everyone: text, hash and a call's record go; the row keeps chat, seq and
    sender (P5.3).
    Returns how many messages were not deleted already."""
    if not message_ids:
        return 0
    result = await conn.execute(
        update(messages)
        .where(messages.c.id.in_(list(message_ids)), messages.c.deleted_at.is_(None))
        .values(deleted_at=now, **_TOMBSTONE)
    )
    return int(result.rowcount)


async def tombstone_chat_before(conn: AsyncConnection, chat_id: int, seq: int, now: float) -> None:
    """Clear a chat's history for everyone up to ``seq``."""
    await conn.execute(
        update(messages)
        .where(
            messages.c.chat_id == chat_id, messages.c.seq <= seq, messages.c.deleted_at.is_(None)
        )
        .values(deleted_at=now, **_TOMBSTONE)
    )


async def hide(conn: AsyncConnection, user_id: int, message_id: int) -> bool:
    """Hide a message from one user; whether it was not hidden already (two concurrent
    requests to hide it do not collide)."""
    dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    result = await conn.execute(
        dialect_insert(hidden_messages)
        .values(user_id=user_id, message_id=message_id)
        .on_conflict_do_nothing()
    )
    return bool(result.rowcount)


async def hidden_among(
    conn: AsyncConnection, pairs: Sequence[tuple[int, int]]
) -> set[tuple[int, int]]:
    """Which (user, message) pairs are hidden for that user."""
    rows = await _HIDDEN.rows(conn, pairs)
    return {(row.user_id, row.message_id) for row in rows}


async def unhide_chat(conn: AsyncConnection, user_id: int, chat_id: int) -> None:
    """Forget which messages of a chat a user hid (they left it; nothing of it is shown)."""
    await conn.execute(
        delete(hidden_messages).where(
            hidden_messages.c.user_id == user_id,
            hidden_messages.c.message_id.in_(
                select(messages.c.id).where(messages.c.chat_id == chat_id)
            ),
        )
    )


async def search(
    conn: AsyncConnection, user_id: int, query: str, *, limit: int, now: float
) -> list[MessageRow]:
    """Full-text search over the messages the user can see (member, after their cleared seq,
    not hidden, not deleted, not expired: P5.3). SQLite: FTS5 ``messages_fts``; PostgreSQL:
    ``to_tsvector``."""
    visible = and_(
        chat_members.c.chat_id == messages.c.chat_id,
        chat_members.c.user_id == user_id,
        messages.c.seq > chat_members.c.cleared_seq,
    )
    hidden = select(hidden_messages.c.message_id).where(
        hidden_messages.c.user_id == user_id, hidden_messages.c.message_id == messages.c.id
    )
    match: Any
    if conn.dialect.name == "sqlite":
        match = messages.c.id.in_(
            select(text("rowid"))
            .select_from(text("messages_fts"))
            .where(text("messages_fts MATCH :q"))
        )
        params = {"q": _fts5_query(query)}
    else:
        match = text(
            "to_tsvector('simple', coalesce(messages.text, '')) @@ plainto_tsquery('simple', :q)"
        )
        params = {"q": query}
    rows = await conn.execute(
        select(*_COLUMNS)
        .join(chat_members, visible)
        .where(match, messages.c.deleted_at.is_(None), ~hidden.exists(), ttl_store.live(now))
        .order_by(messages.c.id.desc())
        .limit(limit),
        params,
    )
    return await _carrying(conn, [_row(row) for row in rows])


def _fts5_query(query: str) -> str:
    # Each word becomes a quoted prefix-free term: user input is never FTS5 syntax.
    words = [w.replace('"', '""') for w in query.split() if w.strip()]
    return " ".join(f'"{w}"' for w in words) or '""'


async def optimize_index(conn: AsyncConnection) -> None:
    """Merge the FTS5 segments so deleted entries leave the index's pages (P5.3)."""
    if conn.dialect.name == "sqlite":
        await conn.execute(text("INSERT INTO messages_fts(messages_fts) VALUES('optimize')"))
