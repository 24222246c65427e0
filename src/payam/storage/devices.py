"""Signed-in devices, each one session with its bearer token's hash (P1.4, P4.1)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.domain.models import Device
from payam.storage.tables import devices, users

_DEVICE_COLUMNS = (
    devices.c.id,
    devices.c.user_id,
    devices.c.model,
    devices.c.os,
    devices.c.app_version,
    devices.c.created_at,
    devices.c.last_active_at,
    devices.c.last_ip,
)


def _device(row: Any) -> Device:
    return Device(**row._mapping)


async def create(
    conn: AsyncConnection,
    *,
    user_id: int,
    token_hash: bytes,
    model: str,
    os: str,
    app_version: str,
    ip: str | None,
    now: float,
) -> Device:
    device_id = (
        await conn.execute(
            insert(devices)
            .values(
                user_id=user_id,
                token_hash=token_hash,
                model=model,
                os=os,
                app_version=app_version,
                created_at=now,
                last_active_at=now,
                last_ip=ip,
            )
            .returning(devices.c.id)
        )
    ).scalar_one()
    return Device(device_id, user_id, model, os, app_version, now, now, ip)


async def by_token_hash(conn: AsyncConnection, token_hash: bytes) -> Device | None:
    row = (
        await conn.execute(select(*_DEVICE_COLUMNS).where(devices.c.token_hash == token_hash))
    ).first()
    return _device(row) if row else None


async def list_for_user(conn: AsyncConnection, user_id: int) -> list[Device]:
    rows = await conn.execute(
        select(*_DEVICE_COLUMNS).where(devices.c.user_id == user_id).order_by(devices.c.id)
    )
    return [_device(row) for row in rows]


async def touch(conn: AsyncConnection, device_id: int, *, ip: str | None, now: float) -> None:
    await conn.execute(
        update(devices).where(devices.c.id == device_id).values(last_active_at=now, last_ip=ip)
    )


async def suspended_of(conn: AsyncConnection, device_ids: list[int]) -> dict[int, bool]:
    """For those of ``device_ids`` that still exist: whether their account is suspended."""
    rows = await conn.execute(
        select(devices.c.id, users.c.suspended_at)
        .join(users, users.c.id == devices.c.user_id)
        .where(devices.c.id.in_(device_ids))
    )
    return {row.id: row.suspended_at is not None for row in rows}


async def delete_for_user(conn: AsyncConnection, *, user_id: int, device_id: int) -> bool:
    """Delete one of the user's devices; False if there is no such device *of theirs*."""
    result = await conn.execute(
        delete(devices).where(devices.c.id == device_id, devices.c.user_id == user_id)
    )
    return bool(result.rowcount)
