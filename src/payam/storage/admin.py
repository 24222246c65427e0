"""Operators (P9): the admin role, the audit of their reads (P11.1) and reports to handle."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.storage import ttl as ttl_store
from payam.storage.tables import admin_access, admins, messages, reports


async def is_admin(conn: AsyncConnection, user_id: int) -> bool:
    found = await conn.scalar(select(admins.c.user_id).where(admins.c.user_id == user_id))
    return found is not None


async def grant(conn: AsyncConnection, user_id: int, now: float) -> bool:
    """Make the user an admin; False if they already were."""
    if await is_admin(conn, user_id):
        return False
    await conn.execute(insert(admins).values(user_id=user_id, granted_at=now))
    return True


async def revoke(conn: AsyncConnection, user_id: int) -> bool:
    result = await conn.execute(delete(admins).where(admins.c.user_id == user_id))
    return bool(result.rowcount)


async def record_access(
    conn: AsyncConnection, *, admin_id: int, subject_id: int, action: str, now: float
) -> None:
    """One admin read of (or action on) a user's data, shown to that user in their export."""
    await conn.execute(
        insert(admin_access).values(admin_id=admin_id, subject_id=subject_id, action=action, at=now)
    )


async def list_access(
    conn: AsyncConnection, *, limit: int, before: int | None = None
) -> list[dict[str, Any]]:
    """The audit trail of operator reads, newest first (by id), ``before`` an id if given."""
    query = select(
        admin_access.c.id,
        admin_access.c.admin_id,
        admin_access.c.subject_id,
        admin_access.c.action,
        admin_access.c.at,
    )
    if before is not None:
        query = query.where(admin_access.c.id < before)
    rows = await conn.execute(query.order_by(admin_access.c.id.desc()).limit(limit))
    return [dict(row._mapping) for row in rows]


async def prune_access(conn: AsyncConnection, *, older_than: float) -> int:
    result = await conn.execute(delete(admin_access).where(admin_access.c.at < older_than))
    return int(result.rowcount or 0)


async def list_reports(
    conn: AsyncConnection, status: str, limit: int, *, now: float
) -> list[dict[str, Any]]:
    """Reports with the reported message's text, unless it expired (P5.3): a disappearing
    message is gone for moderators too."""
    rows = await conn.execute(
        select(
            reports.c.id,
            reports.c.reporter_id,
            reports.c.reported_user_id,
            reports.c.chat_id,
            reports.c.message_id,
            reports.c.reason,
            reports.c.created_at,
            reports.c.status,
            messages.c.text.label("message_text"),
        )
        .outerjoin(messages, and_(messages.c.id == reports.c.message_id, ttl_store.live(now)))
        .where(reports.c.status == status)
        .order_by(reports.c.id)
        .limit(limit)
    )
    return [dict(row._mapping) for row in rows]


async def set_report_status(conn: AsyncConnection, report_id: int, status: str) -> bool:
    result = await conn.execute(
        update(reports).where(reports.c.id == report_id).values(status=status)
    )
    return bool(result.rowcount)
