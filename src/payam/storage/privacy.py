"""Rows by data subject, read off the tables' ``subject`` annotations (P11.1, P11.3).

``tables.py`` says on each table which columns tie a row to its data subject
(``info={"subject": ...}``); export and erasure iterate over :func:`subject_tables` instead of
keeping their own lists, so a new table is exported and erased as soon as it is annotated (and
``tests/storage/test_subjects.py`` fails until it is). The special cases are explicit here:

- ``users`` is the subject itself (its ``id``);
- ``chats`` are reached through ``chat_members`` (export); erasure never deletes a chat row
  generically: a chat belongs to all its members (``services/erasure.py`` decides);
- ``blocks`` name the subject on both sides; ``reports`` as reporter and as the reported;
- ``auth_codes`` and ``erasure_cooldowns`` are keyed by the number's keyed hash;
- ``rate_limits`` are keyed hashes of ids, numbers and addresses: unlinkable here, and they
  expire on their own (their retention is ``rate_limit``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from payam.storage import ttl as ttl_store
from payam.storage.tables import (
    chat_members,
    chats,
    disclosure_log,
    hidden_messages,
    messages,
    metadata,
    partner_objections,
    users,
)


@dataclass(frozen=True, slots=True)
class Subject:
    """How one table's rows are tied to a person."""

    table: Table
    user_columns: tuple[str, ...]
    phone_hash: str | None
    via: str | None
    note: str


def subject_of(table: Table) -> Subject | None:
    info = table.info.get("subject")
    if info is None:
        return None
    return Subject(
        table,
        tuple(info.get("user", ())),
        info.get("phone_hash"),
        info.get("via"),
        str(info.get("note", "")),
    )


def has_personal_columns(table: Table) -> bool:
    return any(column.info.get("personal") is not None for column in table.columns)


def subject_tables() -> list[Subject]:
    """Every annotated table, in dependency order (parents first)."""
    found = []
    for table in metadata.sorted_tables:
        subject = subject_of(table)
        if subject is not None:
            found.append(subject)
    return found


def _condition(
    subject: Subject, user_id: int, phone_hash: bytes | None
) -> ColumnElement[bool] | None:
    parts: list[ColumnElement[bool]] = [
        subject.table.c[name] == user_id for name in subject.user_columns
    ]
    if subject.phone_hash is not None and phone_hash is not None:
        parts.append(subject.table.c[subject.phone_hash] == phone_hash)
    if not parts:
        return None
    return or_(*parts)


async def rows_of(
    conn: AsyncConnection, subject: Subject, user_id: int, phone_hash: bytes | None
) -> list[dict[str, Any]]:
    """The table's rows that name the subject (every column), oldest first where there is an
    ``id``. A table reached only ``via`` another has no rows of its own here."""
    condition = _condition(subject, user_id, phone_hash)
    if condition is None:
        return []
    query = select(subject.table).where(condition)
    if "id" in subject.table.c:
        query = query.order_by(subject.table.c.id)
    return [dict(row._mapping) for row in await conn.execute(query)]


async def delete_rows_of(
    conn: AsyncConnection, subject: Subject, user_id: int, phone_hash: bytes | None
) -> int:
    """Delete the table's rows that name the subject; return how many went."""
    condition = _condition(subject, user_id, phone_hash)
    if condition is None:
        return 0
    result = await conn.execute(delete(subject.table).where(condition))
    return int(result.rowcount or 0)


async def memberships_with_chats(conn: AsyncConnection, user_id: int) -> list[dict[str, Any]]:
    """The chats the user is a member of, each with the chat's row and the membership row."""
    rows = await conn.execute(
        select(chats, *[c.label(f"m_{c.name}") for c in chat_members.c])
        .join(chat_members, chat_members.c.chat_id == chats.c.id)
        .where(chat_members.c.user_id == user_id)
        .order_by(chats.c.id)
    )
    found = []
    for row in rows:
        mapping = dict(row._mapping)
        member = {k[2:]: mapping.pop(k) for k in list(mapping) if k.startswith("m_")}
        found.append({"chat": mapping, "membership": member})
    return found


async def visible_messages(
    conn: AsyncConnection,
    user_id: int,
    chat_id: int,
    cleared_seq: int,
    *,
    own_only: bool = False,
    now: float,
) -> list[dict[str, Any]]:
    """The messages of a chat the member can see: after their cleared seq, not hidden by them,
    not deleted for everyone, not expired (P5.3); with ``own_only``, only those the member
    sent."""
    hidden = select(hidden_messages.c.message_id).where(hidden_messages.c.user_id == user_id)
    query = (
        select(
            messages.c.id,
            messages.c.seq,
            messages.c.sender_id,
            messages.c.text,
            messages.c.reply_to,
            messages.c.forward_from_user_id,
            messages.c.created_at,
            messages.c.edited_at,
            messages.c.expires_at,
            # Call records (P5.1): the kind and the outcome, as JSON text.
            messages.c.kind,
            messages.c.call,
        )
        .where(
            messages.c.chat_id == chat_id,
            messages.c.seq > cleared_seq,
            messages.c.deleted_at.is_(None),
            messages.c.id.not_in(hidden),
            ttl_store.live(now),
        )
        .order_by(messages.c.seq)
    )
    if own_only:
        query = query.where(messages.c.sender_id == user_id)
    rows = await conn.execute(query)
    return [dict(row._mapping) for row in rows]


async def disclosures_for(conn: AsyncConnection, user_id: int) -> list[dict[str, Any]]:
    """Shares (P8.2) that may have included the user: exported while they had an account,
    by a partner they did not object to."""
    created = select(users.c.created_at).where(users.c.id == user_id).scalar_subquery()
    objected = select(partner_objections.c.partner_id).where(
        partner_objections.c.user_id == user_id
    )
    rows = await conn.execute(
        select(disclosure_log)
        .where(
            disclosure_log.c.exported_at >= created,
            disclosure_log.c.partner_id.not_in(objected),
        )
        .order_by(disclosure_log.c.id)
    )
    return [dict(row._mapping) for row in rows]
