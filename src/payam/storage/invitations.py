"""Pending invitations to groups (P3.2): for users the inviter could not add directly."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.storage.tables import chats, group_invitations


@dataclass(frozen=True, slots=True)
class InvitationRow:
    id: int
    chat_id: int
    user_id: int
    invited_by: int
    created_at: float
    title: str | None
    member_count: int


_COLUMNS = (
    group_invitations.c.id,
    group_invitations.c.chat_id,
    group_invitations.c.user_id,
    group_invitations.c.invited_by,
    group_invitations.c.created_at,
    chats.c.title,
    chats.c.member_count,
)


async def create(
    conn: AsyncConnection, *, chat_id: int, user_id: int, invited_by: int, now: float
) -> int | None:
    """Invite; None when the user is invited to this group already (the first one stays)."""
    dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    found: int | None = (
        await conn.execute(
            dialect_insert(group_invitations)
            .values(chat_id=chat_id, user_id=user_id, invited_by=invited_by, created_at=now)
            .on_conflict_do_nothing(
                index_elements=[group_invitations.c.chat_id, group_invitations.c.user_id]
            )
            .returning(group_invitations.c.id)
        )
    ).scalar_one_or_none()
    return found


async def of_user(conn: AsyncConnection, user_id: int) -> list[InvitationRow]:
    rows = await conn.execute(
        select(*_COLUMNS)
        .join(chats, chats.c.id == group_invitations.c.chat_id)
        .where(group_invitations.c.user_id == user_id)
        .order_by(group_invitations.c.id)
    )
    return [InvitationRow(**row._mapping) for row in rows]


async def get(conn: AsyncConnection, invitation_id: int, user_id: int) -> InvitationRow | None:
    """The user's own invitation (anyone else's is as missing as one that never was)."""
    row = (
        await conn.execute(
            select(*_COLUMNS)
            .join(chats, chats.c.id == group_invitations.c.chat_id)
            .where(group_invitations.c.id == invitation_id, group_invitations.c.user_id == user_id)
        )
    ).first()
    return InvitationRow(**row._mapping) if row else None


async def remove(conn: AsyncConnection, invitation_id: int, user_id: int) -> bool:
    result = await conn.execute(
        delete(group_invitations).where(
            group_invitations.c.id == invitation_id, group_invitations.c.user_id == user_id
        )
    )
    return bool(result.rowcount)


async def remove_for(conn: AsyncConnection, chat_id: int, user_ids: list[int]) -> None:
    """Invitations made moot: these users are members now."""
    if user_ids:
        await conn.execute(
            delete(group_invitations).where(
                group_invitations.c.chat_id == chat_id, group_invitations.c.user_id.in_(user_ids)
            )
        )


async def invited(conn: AsyncConnection, *, inviter: int, invitee: int) -> bool:
    """Whether ``inviter`` has a pending invitation out to ``invitee`` (who may then see who
    invited them: P3.2)."""
    found = await conn.scalar(
        select(group_invitations.c.id)
        .where(group_invitations.c.invited_by == inviter, group_invitations.c.user_id == invitee)
        .limit(1)
    )
    return found is not None
