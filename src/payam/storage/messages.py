"""Messages (P5.1): stored per chat with a gapless ``seq``; deletion leaves a tombstone without
text or content hash (P5.3), and the SQLite full-text index follows by trigger."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    Select,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from payam.storage import media as media_store
from payam.storage import ttl as ttl_store
from payam.storage.media import MediaRow
from payam.storage.pairs import PairLookup
from payam.storage.prepared import Prepared, PreparedBySize, insert_of
from payam.storage.tables import chat_members, chats, hidden_messages, messages


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
# Read by every chat list and catch-up (storage/prepared.py).
_BY_IDS = PreparedBySize(
    lambda size: select(*_COLUMNS).where(
        messages.c.id.in_([bindparam(f"v{i}") for i in range(size)])
    )
)
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


# MessageRow's first fields are the table's columns in order: a row builds one positionally.
assert tuple(c.name for c in _COLUMNS) == tuple(MessageRow.__dataclass_fields__)[: len(_COLUMNS)]


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
    if not wanted:
        return {}
    found = [MessageRow(*row) for row in await _BY_IDS.rows(conn, wanted)]
    return {m.id: m for m in await _carrying(conn, found)}


async def by_client_ids(
    conn: AsyncConnection, keys: Sequence[tuple[int, str]]
) -> dict[tuple[int, str], MessageRow]:
    """Existing messages for (sender_id, client_id) pairs: the idempotency lookup."""
    rows = await _BY_CLIENT_ID.rows(conn, keys)
    found = await _carrying(conn, [MessageRow(*row) for row in rows])
    return {(m.sender_id, m.client_id): m for m in found}


async def insert_many(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert messages; returns their ids in the order given.

    One multi-row ``INSERT ... RETURNING`` per 1,000 rows. Neither database promises the
    order of RETURNING rows, and asking SQLAlchemy to sort them (``sort_by_parameter_order``)
    makes it send one INSERT per row on SQLite; each row says its (chat_id, seq) instead,
    which is unique."""
    if not rows:
        return []
    keys = tuple(rows[0])
    if conn.dialect.name == "sqlite" and all(tuple(row) == keys for row in rows):
        each = insert_of(messages, keys, returning="id").each(conn, rows)
        if each is not None:  # on the event loop's thread: a statement per row costs µs
            return [found[0][0] for found in each]
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
    params = {"chat": chat_id, "viewer": viewer_id, "after": after_seq, "now": now}
    params |= {"limit": limit, "before": before_seq if before_seq is not None else 0}
    rows = await _PAGE[(before_seq is not None, newest_first)].rows(conn, params)
    found = await _carrying(conn, [MessageRow(*row) for row in rows])
    return sorted(found, key=lambda m: m.seq)


def _page(bounded: bool, newest_first: bool) -> Prepared:
    hidden = select(hidden_messages.c.message_id).where(
        hidden_messages.c.user_id == bindparam("viewer"),
        hidden_messages.c.message_id == messages.c.id,
    )
    query = select(*_COLUMNS).where(
        messages.c.chat_id == bindparam("chat"),
        messages.c.seq > bindparam("after"),
        ~hidden.exists(),
        ttl_store.live(bindparam("now")),
    )
    if bounded:
        query = query.where(messages.c.seq < bindparam("before"))
    order = messages.c.seq.desc() if newest_first else messages.c.seq.asc()
    return Prepared(query.order_by(order).limit(bindparam("limit")))


# A history page, by whether it has an upper bound and its direction (storage/prepared.py).
_PAGE = {
    (bounded, newest): _page(bounded, newest)
    for bounded in (False, True)
    for newest in (False, True)
}


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
    return {(user_id, message_id) for user_id, message_id in await _HIDDEN.rows(conn, pairs)}


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


# Search (issue 12): its cost must follow the caller, not the database.
# - A caller whose chats hold at most ``_SMALL_HISTORY`` messages: each of them is checked
#   against the words (SQLite: an FTS5 rowid seek, about 20 us; PostgreSQL: ``to_tsvector``).
# - Anyone else: walk newest first and stop once ``limit`` visible matches are found. SQLite
#   walks the word's matches (FTS5 reads row ids in descending order and seeks below a bound),
#   PostgreSQL the messages themselves (its GIN index hands out every match at once, in no
#   order), in chunks that double. Past the budget the caller's matches are rare among what was
#   walked, and the rest below it is found as before: the word's matches against their chats.
_SMALL_HISTORY = 500
_FIRST_CHUNK = 200  # SQLite: matches
_SCAN_BUDGET = 3000
_FIRST_ROWS = 2000  # PostgreSQL: messages
_ROW_BUDGET = 8000


async def search(
    conn: AsyncConnection, user_id: int, query: str, *, limit: int, now: float
) -> list[MessageRow]:
    """Full-text search over the messages the user can see (member, after their cleared seq,
    not hidden, not deleted, not expired: P5.3), newest first. SQLite: FTS5 ``messages_fts``;
    PostgreSQL: ``to_tsvector`` (``ix_messages_text_search``)."""
    sqlite = conn.dialect.name == "sqlite"
    params = {"q": _fts5_query(query) if sqlite else query}
    found: list[Any]
    if await _history_size(conn, user_id) <= _SMALL_HISTORY:
        mine = _visible(user_id, now)
        mine = mine.where(_FTS_SEEK) if sqlite else _words_in(mine)
        found = list(await conn.execute(mine.limit(limit), params))
        return await _carrying(conn, [_row(row) for row in found])
    walk = _walk_matches if sqlite else _walk_messages
    found, below = await walk(conn, user_id, now, params, limit)
    if len(found) < limit and below is not None:
        rest: Select[Any]
        if sqlite:
            rest = _visible(user_id, now).where(messages.c.id.in_(_FTS_IDS), messages.c.id < below)
        else:
            # The word's matches first (the GIN index), fenced: a generic plan would start from
            # every message of the caller's chats instead.
            hits = select(*_COLUMNS).where(_ts_match(messages.c.text), messages.c.id < below)
            rest = _visible(user_id, now, hits.cte("hits").prefix_with("MATERIALIZED"))
        found += await conn.execute(rest.limit(limit - len(found)), params)
    return await _carrying(conn, [_row(row) for row in found])


_FTS_IDS: Select[Any] = (
    select(literal_column("rowid"))
    .select_from(text("messages_fts"))
    .where(text("messages_fts MATCH :q"))
)
# One index seek per message (``rowid =``), never the word's whole list.
_FTS_SEEK = text(
    "EXISTS (SELECT 1 FROM messages_fts WHERE messages_fts MATCH :q"
    " AND messages_fts.rowid = messages.id)"
)


def _words_in(rows: Select[Any]) -> Select[Any]:
    """PostgreSQL: those of ``rows`` (visible messages) holding the words, newest first.
    Materialised, so the planner can neither swap the rows for the GIN index's every match nor
    run ``to_tsvector`` (about 5-10 us a message) before the cheap checks."""
    some = rows.order_by(None).cte("some").prefix_with("MATERIALIZED")
    return select(*some.c).where(_ts_match(some.c.text)).order_by(some.c.id.desc())


def _ts_match(column: ColumnElement[Any]) -> ColumnElement[bool]:
    vector = func.to_tsvector(literal_column("'simple'"), func.coalesce(column, ""))
    return vector.op("@@")(func.plainto_tsquery(literal_column("'simple'"), bindparam("q")))


async def _walk_matches(
    conn: AsyncConnection, user_id: int, now: float, params: dict[str, str], limit: int
) -> tuple[list[Any], int | None]:
    """SQLite: the visible matches found walking the word's matches newest first, and the id
    below which none was walked (None: every match was)."""
    found: list[Any] = []
    rowid: ColumnElement[Any] = literal_column("messages_fts.rowid")
    before: int | None = None
    chunk, scanned = _FIRST_CHUNK, 0
    while scanned < _SCAN_BUDGET:
        size = min(chunk, _SCAN_BUDGET - scanned)
        matching = _FTS_IDS.with_only_columns(rowid)
        if before is not None:
            matching = matching.where(rowid < before)
        ids = list(
            (await conn.execute(matching.order_by(rowid.desc()).limit(size), params)).scalars()
        )
        if ids:
            wanted = (
                select(*_COLUMNS)
                .where(messages.c.id.in_(ids), *_visible_where(user_id, now))
                .order_by(messages.c.id.desc())
            )
            found += await conn.execute(wanted.limit(limit - len(found)))
        if len(ids) < size:
            return found, None
        if len(found) >= limit:
            return found, ids[-1]
        before, scanned, chunk = ids[-1], scanned + size, chunk * 2
    return found, before


async def _walk_messages(
    conn: AsyncConnection, user_id: int, now: float, params: dict[str, str], limit: int
) -> tuple[list[Any], int | None]:
    """PostgreSQL: the visible matches found walking all messages newest first, and the id
    below which none was walked (None: every message was)."""
    found: list[Any] = []
    before: int | None = None
    chunk, scanned = _FIRST_ROWS, 0
    while scanned < _ROW_BUDGET:
        size = min(chunk, _ROW_BUDGET - scanned)
        newest = select(messages.c.id).order_by(messages.c.id.desc()).limit(size)
        if before is not None:
            newest = newest.where(messages.c.id < before)
        lowest = await conn.scalar(select(func.min(newest.subquery().c.id)))
        if lowest is None:
            return found, None
        # Two fences: the range first (a generic plan, which PostgreSQL uses after five runs,
        # guesses a user has two chats and otherwise starts from all of them), then the
        # visibility rule, and only then ``to_tsvector``.
        span = select(*_COLUMNS).where(messages.c.id >= lowest)
        if before is not None:
            span = span.where(messages.c.id < before)
        span = _visible(user_id, now, span.cte("span").prefix_with("MATERIALIZED"))
        wanted = _words_in(span)
        found += await conn.execute(wanted.limit(limit - len(found)), params)
        if len(found) >= limit:
            return found, lowest
        before, scanned, chunk = lowest, scanned + size, chunk * 2
    return found, before


async def _history_size(conn: AsyncConnection, user_id: int) -> int:
    """At most how many messages the user sees: past their cleared seq in each of their chats."""
    # A lookup of each chat by its key (PostgreSQL hashed the whole chats table for a join).
    last_seq = select(chats.c.last_seq).where(chats.c.id == chat_members.c.chat_id)
    size = await conn.scalar(
        select(
            func.coalesce(func.sum(last_seq.scalar_subquery() - chat_members.c.cleared_seq), 0)
        ).where(chat_members.c.user_id == user_id)
    )
    return int(size or 0)


def _visible_where(user_id: int, now: float) -> list[ColumnElement[bool]]:
    """The rule of ``_visible`` for messages looked up one by one (SQLite joined from the
    caller's chats instead, reading all their messages)."""
    m = messages.c
    member = select(chat_members.c.chat_id).where(
        chat_members.c.chat_id == m.chat_id,
        chat_members.c.user_id == user_id,
        chat_members.c.cleared_seq < m.seq,
    )
    hidden = select(hidden_messages.c.message_id).where(
        hidden_messages.c.user_id == user_id, hidden_messages.c.message_id == m.id
    )
    return [
        member.exists(),
        m.deleted_at.is_(None),
        ~hidden.exists(),
        ttl_store.live(now),
    ]


def _visible(user_id: int, now: float, source: Any = messages) -> Select[Any]:
    """The user's visible messages among ``source`` (messages or some of its rows), newest
    first (the caller adds which and how many)."""
    m = source.c
    visible = and_(
        chat_members.c.chat_id == m.chat_id,
        chat_members.c.user_id == user_id,
        m.seq > chat_members.c.cleared_seq,
    )
    hidden = select(hidden_messages.c.message_id).where(
        hidden_messages.c.user_id == user_id, hidden_messages.c.message_id == m.id
    )
    live = or_(m.expires_at.is_(None), m.expires_at > now)  # ttl_store.live for any source
    return (
        select(*m)
        .join(chat_members, visible)
        .where(m.deleted_at.is_(None), ~hidden.exists(), live)
        .order_by(m.id.desc())
    )


def _fts5_query(query: str) -> str:
    # Each word becomes a quoted prefix-free term: user input is never FTS5 syntax.
    words = [w.replace('"', '""') for w in query.split() if w.strip()]
    return " ".join(f'"{w}"' for w in words) or '""'


async def optimize_index(conn: AsyncConnection) -> None:
    """Merge the FTS5 segments so deleted entries leave the index's pages (P5.3)."""
    if conn.dialect.name == "sqlite":
        await conn.execute(text("INSERT INTO messages_fts(messages_fts) VALUES('optimize')"))
