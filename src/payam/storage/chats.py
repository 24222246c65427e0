"""Chats and their members (P5.1): direct chats (one per pair) and groups."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.storage import media as media_store
from payam.storage import ttl as ttl_store
from payam.storage.pairs import PairLookup
from payam.storage.prepared import Prepared, PreparedBySize
from payam.storage.tables import chat_invites, chat_members, chats, hidden_messages, messages


@dataclass(frozen=True, slots=True)
class ChatRow:
    id: int
    type: str
    title: str | None
    photo_key: str | None
    photo_thumb_key: str | None
    direct_key: str | None
    created_by: int | None
    created_at: float
    last_seq: int
    member_count: int
    # Channels only (NULL elsewhere): the public handle as written, and the description.
    handle: str | None = None
    description: str | None = None
    # P5.3: seconds a new message lives; None: messages stay until deleted.
    message_ttl: int | None = None


@dataclass(frozen=True, slots=True)
class MemberRow:
    chat_id: int
    user_id: int
    role: str
    joined_at: float
    read_seq: int
    cleared_seq: int
    muted: bool


_CHAT = (
    chats.c.id,
    chats.c.type,
    chats.c.title,
    chats.c.photo_key,
    chats.c.photo_thumb_key,
    chats.c.direct_key,
    chats.c.created_by,
    chats.c.created_at,
    chats.c.last_seq,
    chats.c.member_count,
    chats.c.handle,
    chats.c.description,
    chats.c.message_ttl,
)
_MEMBER = (
    chat_members.c.chat_id,
    chat_members.c.user_id,
    chat_members.c.role,
    chat_members.c.joined_at,
    chat_members.c.read_seq,
    chat_members.c.cleared_seq,
    chat_members.c.muted,
)


def direct_key(a: int, b: int) -> str:
    low, high = sorted((a, b))
    return f"{low}:{high}"


async def get(conn: AsyncConnection, chat_id: int, *, lock: bool = False) -> ChatRow | None:
    query = select(*_CHAT).where(chats.c.id == chat_id)
    if lock and conn.dialect.name != "sqlite":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return ChatRow(**row._mapping) if row else None


async def get_many(conn: AsyncConnection, chat_ids: Iterable[int]) -> dict[int, ChatRow]:
    ids = sorted(set(chat_ids))
    if not ids:
        return {}
    if conn.dialect.name == "sqlite":
        return {row[0]: ChatRow(*row) for row in await _CHATS_BY_ID.rows(conn, ids)}
    query = select(*_CHAT).where(chats.c.id.in_(ids)).order_by(chats.c.id).with_for_update()
    return {row.id: ChatRow(**row._mapping) for row in await conn.execute(query)}


# The send path's statements (storage/prepared.py): compiled once, run by the driver as they are.
_CHATS_BY_ID = PreparedBySize(
    lambda size: select(*_CHAT).where(chats.c.id.in_([bindparam(f"v{i}") for i in range(size)]))
)
_MEMBER_IDS = PreparedBySize(
    lambda size: select(chat_members.c.chat_id, chat_members.c.user_id).where(
        chat_members.c.chat_id.in_([bindparam(f"v{i}") for i in range(size)])
    )
)
_SET_LAST_SEQ = Prepared(
    update(chats).where(chats.c.id == bindparam("cid")).values(last_seq=bindparam("seq"))
)
_SHOW_PROFILE = Prepared(
    update(chat_members)
    .where(
        and_(
            chat_members.c.chat_id == bindparam("cid"),
            chat_members.c.user_id == bindparam("uid"),
            chat_members.c.shows_profile.is_(False),
        )
    )
    .values(shows_profile=True)
)


async def get_direct(conn: AsyncConnection, key: str) -> ChatRow | None:
    row = (await conn.execute(select(*_CHAT).where(chats.c.direct_key == key))).first()
    return ChatRow(**row._mapping) if row else None


async def create(
    conn: AsyncConnection,
    *,
    type_: str,
    title: str | None,
    direct: str | None,
    created_by: int,
    now: float,
    handle: str | None = None,
    handle_key: str | None = None,
    description: str | None = None,
) -> int:
    """Insert a chat row; for a channel, a taken ``handle_key`` raises IntegrityError (its
    unique index)."""
    values = _new_chat(type_, title, direct, created_by, now)
    values |= {"handle": handle, "handle_key": handle_key, "description": description}
    chat_id: int = (
        await conn.execute(insert(chats).values(**values).returning(chats.c.id))
    ).scalar_one()
    return chat_id


def _new_chat(
    type_: str, title: str | None, direct: str | None, created_by: int, now: float
) -> dict[str, object]:
    """The columns of a chat nobody has written in yet."""
    return {
        "type": type_,
        "title": title,
        "direct_key": direct,
        "created_by": created_by,
        "created_at": now,
        "last_seq": 0,
        "member_count": 0,
        # The creator's default timer for new chats (P5.3), read in the same statement.
        "message_ttl": ttl_store.default_of(created_by),
    }


async def create_direct(
    conn: AsyncConnection, *, key: str, created_by: int, now: float
) -> int | None:
    """Create the direct chat of a pair; None when it exists already.

    Two first messages between the same pair can arrive at once: on PostgreSQL the second
    insert waits for the first transaction and then does nothing (instead of failing on the
    unique ``direct_key``), after which the chat it made is visible to this transaction.
    """
    dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    chat_id: int | None = (
        await conn.execute(
            dialect_insert(chats)
            .values(**_new_chat("direct", None, key, created_by, now))
            .on_conflict_do_nothing(index_elements=[chats.c.direct_key])
            .returning(chats.c.id)
        )
    ).scalar_one_or_none()
    return chat_id


async def set_last_seqs(conn: AsyncConnection, seqs: dict[int, int]) -> None:
    await _SET_LAST_SEQ.run_many(conn, [{"cid": cid, "seq": seq} for cid, seq in seqs.items()])


async def update_chat(conn: AsyncConnection, chat_id: int, **values: object) -> None:
    await conn.execute(update(chats).where(chats.c.id == chat_id).values(**values))


async def delete_chat(conn: AsyncConnection, chat_id: int) -> list[str]:
    """Delete a chat with its messages, members and invites (ON DELETE CASCADE), and the media
    only its messages carried. Returns the blob keys those media named: the caller hands them
    to ``Files.forget`` after the commit (P5.3)."""
    freed = await media_store.release_chat(conn, chat_id)
    await conn.execute(delete(chats).where(chats.c.id == chat_id))
    return freed


async def member(conn: AsyncConnection, chat_id: int, user_id: int) -> MemberRow | None:
    rows = await _MEMBER_BY_KEY.rows(conn, {"cid": chat_id, "uid": user_id})
    if not rows:
        return None
    chat, user, role, joined_at, read_seq, cleared_seq, muted = rows[0]
    # bool(): the driver's own value, 0 or 1 on SQLite (storage/prepared.py).
    return MemberRow(chat, user, role, joined_at, read_seq, cleared_seq, bool(muted))


# Read by every history page and most of a chat's routes (storage/prepared.py).
_MEMBER_BY_KEY = Prepared(
    select(*_MEMBER).where(
        chat_members.c.chat_id == bindparam("cid"), chat_members.c.user_id == bindparam("uid")
    )
)


async def members(conn: AsyncConnection, chat_id: int) -> list[MemberRow]:
    rows = await conn.execute(
        select(*_MEMBER).where(chat_members.c.chat_id == chat_id).order_by(chat_members.c.joined_at)
    )
    return [MemberRow(**row._mapping) for row in rows]


async def member_ids_of(conn: AsyncConnection, chat_ids: Iterable[int]) -> dict[int, list[int]]:
    ids = sorted(set(chat_ids))
    found: dict[int, list[int]] = {cid: [] for cid in ids}
    if ids:
        for chat_id, user_id in await _MEMBER_IDS.rows(conn, ids):
            found[chat_id].append(user_id)
    return found


async def roles_among(
    conn: AsyncConnection, pairs: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], str]:
    """The role of each (chat, user) pair that is a membership: what a batch of channel posts
    needs, without reading the (perhaps millions of) other subscribers.

    ``chat_id IN (...) AND user_id IN (...)`` is one primary-key lookup per combination on
    SQLite and PostgreSQL, where ``(chat_id, user_id) IN ((..), (..))`` scans the table on
    SQLite; the few combinations that are not wanted are dropped here."""
    wanted = set(pairs)
    found: dict[tuple[int, int], str] = {}
    chat_ids = sorted({c for c, _ in wanted})
    user_ids = sorted({u for _, u in wanted})
    for start in range(0, len(user_ids), 400):
        rows = await conn.execute(
            select(chat_members.c.chat_id, chat_members.c.user_id, chat_members.c.role).where(
                chat_members.c.chat_id.in_(chat_ids),
                chat_members.c.user_id.in_(user_ids[start : start + 400]),
            )
        )
        found.update(
            {
                (row.chat_id, row.user_id): row.role
                for row in rows
                if (row.chat_id, row.user_id) in wanted
            }
        )
    return found


_CLEARED = PairLookup(
    select(chat_members.c.chat_id, chat_members.c.cleared_seq),
    chat_members.c.user_id,
    chat_members.c.chat_id,
)


async def cleared_seqs(
    conn: AsyncConnection, user_id: int, chat_ids: Iterable[int]
) -> dict[int, int]:
    """The user's ``cleared_seq`` in each of these chats they are a member of (others are
    left out): one prepared statement (storage/prepared.py), read by every catch-up."""
    pairs = [(user_id, chat_id) for chat_id in sorted(set(chat_ids))]
    return {int(row[0]): int(row[1]) for row in await _CLEARED.rows(conn, pairs)} if pairs else {}


async def channels_among(conn: AsyncConnection, chat_ids: Iterable[int]) -> set[int]:
    """Which of these chats are channels (public: their posts are readable by anyone)."""
    ids = sorted(set(chat_ids))
    if not ids:
        return set()
    rows = await conn.execute(
        select(chats.c.id).where(chats.c.id.in_(ids), chats.c.type == "channel")
    )
    return {row.id for row in rows}


async def channel_ids_of(conn: AsyncConnection, user_id: int) -> list[int]:
    """The channels the user is subscribed to, whatever their role (one query)."""
    rows = await conn.execute(
        select(chat_members.c.chat_id)
        .join(chats, chats.c.id == chat_members.c.chat_id)
        .where(chat_members.c.user_id == user_id, chats.c.type == "channel")
    )
    return [row.chat_id for row in rows]


async def add_members(
    conn: AsyncConnection,
    chat_id: int,
    user_roles: Sequence[tuple[int, str]],
    *,
    now: float,
    start_seq: int,
    cleared_seq: int = 0,
    shown: Iterable[int] = (),
) -> None:
    """Add members who read up to ``start_seq`` and see history after ``cleared_seq``; those
    in ``shown`` show their profile to the other members (P3.2, ``domain/visibility.py``)."""
    shown = set(shown)
    if not user_roles:
        return
    await conn.execute(
        insert(chat_members),
        [
            {
                "chat_id": chat_id,
                "user_id": uid,
                "role": role,
                "joined_at": now,
                "read_seq": start_seq,
                "cleared_seq": cleared_seq,
                "muted": False,
                "shows_profile": uid in shown,
            }
            for uid, role in user_roles
        ],
    )
    await conn.execute(
        update(chats)
        .where(chats.c.id == chat_id)
        .values(member_count=chats.c.member_count + len(user_roles))
    )


async def remove_member(conn: AsyncConnection, chat_id: int, user_id: int) -> bool:
    result = await conn.execute(
        delete(chat_members).where(
            chat_members.c.chat_id == chat_id, chat_members.c.user_id == user_id
        )
    )
    if result.rowcount:
        await conn.execute(
            update(chats).where(chats.c.id == chat_id).values(member_count=chats.c.member_count - 1)
        )
    return bool(result.rowcount)


async def update_member(
    conn: AsyncConnection, chat_id: int, user_id: int, **values: object
) -> None:
    await conn.execute(
        update(chat_members)
        .where(chat_members.c.chat_id == chat_id, chat_members.c.user_id == user_id)
        .values(**values)
    )


def _unread(of: Any, *, chat_id: Any, read_seq: Any, cleared_seq: Any) -> Any:
    """The rule of ``unread_counts``, on the messages table or an alias of it."""
    user_id: Any = bindparam("user_id")
    return and_(
        of.c.chat_id == chat_id,
        of.c.seq > read_seq,
        of.c.seq > cleared_seq,
        of.c.sender_id != user_id,
        of.c.deleted_at.is_(None),
        ~select(hidden_messages.c.message_id)
        .where(hidden_messages.c.user_id == user_id, hidden_messages.c.message_id == of.c.id)
        .exists(),
        ttl_store.live(bindparam("now", type_=Float), of=of),
    )


# The chat list's page: the caller's chats, newest message first, ``limit`` of them, and only
# then, for those alone, the unread count. One statement (one trip), built once (building it
# per call cost more than running it).
_PAGE = (
    select(
        *_CHAT,
        *_MEMBER,
        messages.c.id.label("last_id"),
        func.coalesce(messages.c.id, 0).label("newest"),
    )
    .join(chat_members, chat_members.c.chat_id == chats.c.id)
    .outerjoin(messages, and_(messages.c.chat_id == chats.c.id, messages.c.seq == chats.c.last_seq))
    .where(chat_members.c.user_id == bindparam("user_id"))
    .order_by(func.coalesce(messages.c.id, 0).desc(), chats.c.id.desc())
    .limit(bindparam("limit", type_=Integer))
    .subquery("page")
)
_WAITING = messages.alias("waiting")
_CHATS_OF = select(
    *[_PAGE.c[c.name] for c in (*_CHAT, *_MEMBER)],
    _PAGE.c.last_id,
    # Only a chat with a message past both markers can have one waiting: no count asked.
    case(
        (
            and_(_PAGE.c.last_seq > _PAGE.c.read_seq, _PAGE.c.last_seq > _PAGE.c.cleared_seq),
            select(func.count())
            .where(
                _unread(
                    _WAITING,
                    chat_id=_PAGE.c.id,
                    read_seq=_PAGE.c.read_seq,
                    cleared_seq=_PAGE.c.cleared_seq,
                )
            )
            .scalar_subquery(),
        ),
        else_=0,
    ),
).order_by(_PAGE.c.newest.desc(), _PAGE.c.id.desc())
# The chat list's one query, compiled once (storage/prepared.py): through ``execute`` its
# compilation cache, parameter and result processing were a tenth of a chat list's CPU.
_CHATS_OF_PREPARED = Prepared(_CHATS_OF)
_UNREAD = (
    select(messages.c.chat_id, func.count())
    .join(
        chat_members,
        and_(
            chat_members.c.chat_id == messages.c.chat_id,
            chat_members.c.user_id == bindparam("user_id"),
        ),
    )
    .where(
        messages.c.chat_id.in_(bindparam("chat_ids", expanding=True)),
        _unread(
            messages,
            chat_id=messages.c.chat_id,
            read_seq=chat_members.c.read_seq,
            cleared_seq=chat_members.c.cleared_seq,
        ),
    )
    .group_by(messages.c.chat_id)
)
# The list builds its rows by position, which needs the dataclasses' fields in column order.
if [c.name for c in _CHAT] != [f.name for f in fields(ChatRow)] or [c.name for c in _MEMBER] != [
    f.name for f in fields(MemberRow)
]:
    raise RuntimeError("ChatRow and MemberRow must list their fields in the columns' order")
_N_CHAT = len(_CHAT)
_N_MEMBER = len(_MEMBER)


async def chats_of(
    conn: AsyncConnection, user_id: int, *, limit: int, now: float
) -> list[tuple[ChatRow, MemberRow, int | None, int]]:
    """The user's chats, newest activity first, each with the id of its newest message and the
    number of messages waiting to be read (``unread_counts``' rule)."""
    out = []
    params = {"user_id": user_id, "limit": limit, "now": now}
    n = _N_CHAT + _N_MEMBER
    for row in await _CHATS_OF_PREPARED.rows(conn, params):
        chat_id, member_id, role, joined_at, read_seq, cleared_seq, muted = row[_N_CHAT:n]
        out.append(
            (
                ChatRow(*row[:_N_CHAT]),
                # bool(): the driver's own value, 0 or 1 on SQLite (storage/prepared.py).
                MemberRow(chat_id, member_id, role, joined_at, read_seq, cleared_seq, bool(muted)),
                row[n],
                int(row[n + 1] or 0),
            )
        )
    return out


async def unread_counts(
    conn: AsyncConnection, user_id: int, chat_ids: list[int], *, now: float
) -> dict[int, int]:
    """Messages after the user's read marker, from others, not deleted (for everyone, nor for
    the user alone: a message they deleted for themself is not waiting to be read), not expired
    (P5.3), per chat."""
    found: dict[int, int] = {}
    for start in range(0, len(chat_ids), 500):
        params = {"user_id": user_id, "chat_ids": chat_ids[start : start + 500], "now": now}
        found.update((row[0], int(row[1])) for row in await conn.execute(_UNREAD, params))
    return found


async def shows_profile_to(conn: AsyncConnection, owner: int, viewer: int) -> bool:
    """Whether ``owner`` shows their profile to ``viewer`` through a chat they share: one (not a
    channel) where the owner's membership ``shows_profile`` (P3.2, ``domain/visibility.py``)."""
    other = chat_members.alias("viewer")
    found = await conn.scalar(
        select(chat_members.c.chat_id)
        .join(other, and_(other.c.chat_id == chat_members.c.chat_id, other.c.user_id == viewer))
        .join(chats, chats.c.id == chat_members.c.chat_id)
        .where(
            chat_members.c.user_id == owner,
            chat_members.c.shows_profile.is_(True),
            chats.c.type != "channel",
        )
        .limit(1)
    )
    return found is not None


async def shares_direct(conn: AsyncConnection, a: int, b: int) -> bool:
    """Whether ``a`` and ``b`` are both in their direct chat (neither deleted it)."""
    found = await conn.scalar(
        select(func.count())
        .select_from(chat_members)
        .join(chats, chats.c.id == chat_members.c.chat_id)
        .where(chats.c.direct_key == direct_key(a, b), chat_members.c.user_id.in_([a, b]))
    )
    return int(found or 0) == 2


async def advance_read(conn: AsyncConnection, marks: dict[tuple[int, int], int]) -> None:
    """Move each (chat, user) read marker forward to the seq given (never back)."""
    await _ADVANCE_READ.run_many(
        conn, [{"cid": c, "uid": u, "seq": s} for (c, u), s in marks.items()]
    )


_ADVANCE_READ = Prepared(
    update(chat_members)
    .where(
        and_(
            chat_members.c.chat_id == bindparam("cid"),
            chat_members.c.user_id == bindparam("uid"),
            chat_members.c.read_seq < bindparam("seq"),
        )
    )
    .values(read_seq=bindparam("seq"))
)


async def show_profiles(conn: AsyncConnection, memberships: Iterable[tuple[int, int]]) -> None:
    """These (chat, user) members spoke in the chat: their profile shows to its members now."""
    pairs = sorted(set(memberships))
    await _SHOW_PROFILE.run_many(conn, [{"cid": c, "uid": u} for c, u in pairs])


async def photo_key_in_use(conn: AsyncConnection, key: str) -> bool:
    """Whether any group still shows this (content-addressed) file as photo or thumbnail."""
    found = await conn.scalar(
        select(chats.c.id)
        .where((chats.c.photo_key == key) | (chats.c.photo_thumb_key == key))
        .limit(1)
    )
    return found is not None


# Invite links ------------------------------------------------------------------------------


async def create_invite(
    conn: AsyncConnection, *, token: str, chat_id: int, created_by: int, now: float
) -> None:
    await conn.execute(
        insert(chat_invites).values(
            token=token, chat_id=chat_id, created_by=created_by, created_at=now
        )
    )


async def invite(conn: AsyncConnection, token: str) -> tuple[int, float | None] | None:
    row = (
        await conn.execute(
            select(chat_invites.c.chat_id, chat_invites.c.revoked_at).where(
                chat_invites.c.token == token
            )
        )
    ).first()
    return (row.chat_id, row.revoked_at) if row else None


async def invites_of(conn: AsyncConnection, chat_id: int) -> list[dict[str, object]]:
    rows = await conn.execute(
        select(chat_invites)
        .where(chat_invites.c.chat_id == chat_id)
        .order_by(chat_invites.c.created_at)
    )
    return [dict(row._mapping) for row in rows]


async def revoke_invite(conn: AsyncConnection, chat_id: int, token: str, now: float) -> bool:
    result = await conn.execute(
        update(chat_invites)
        .where(
            chat_invites.c.chat_id == chat_id,
            chat_invites.c.token == token,
            chat_invites.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    return bool(result.rowcount)
