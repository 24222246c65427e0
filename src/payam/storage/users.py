"""Accounts and profiles (P1.1, P1.3, P3.1)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.domain.models import User
from payam.storage.prepared import Prepared
from payam.storage.tables import users

_USER_COLUMNS = (
    users.c.id,
    users.c.phone,
    users.c.name,
    users.c.status,
    users.c.photo_key,
    users.c.photo_thumb_key,
    users.c.created_at,
    users.c.updated_at,
    users.c.default_message_ttl,
)


def _user(row: Any) -> User:
    return User(**row._mapping)


async def get(conn: AsyncConnection, user_id: int) -> User | None:
    rows = await _BY_ID.rows(conn, {"uid": user_id})
    return User(*rows[0]) if rows else None


# Read on every GET /v1/me (storage/prepared.py: compiled once, run by the driver as it is).
_BY_ID = Prepared(select(*_USER_COLUMNS).where(users.c.id == bindparam("uid")))
_GROUP_ADDS = Prepared(select(users.c.group_adds).where(users.c.id == bindparam("uid")))


async def get_by_phone_hash(conn: AsyncConnection, phone_hash: bytes) -> User | None:
    row = (
        await conn.execute(select(*_USER_COLUMNS).where(users.c.phone_hash == phone_hash))
    ).first()
    return _user(row) if row else None


async def get_many_by_phone_hash(
    conn: AsyncConnection, phone_hashes: list[bytes]
) -> dict[bytes, User]:
    """The accounts of these numbers' keyed hashes: one index lookup each, 500 a statement."""
    found: dict[bytes, User] = {}
    for start in range(0, len(phone_hashes), 500):
        chunk = phone_hashes[start : start + 500]
        for row in await conn.execute(_BY_PHONE_HASHES, {"hashes": chunk}):
            found[row[0]] = User(**dict(zip(_USER_NAMES, row[1:], strict=True)))
    return found


# Built once: a contact upload asks it for up to 5,000 numbers, and building an expression of
# 500 values per call cost more than the lookups (docs/benchmarks.md, issue 12).
_BY_PHONE_HASHES = select(users.c.phone_hash, *_USER_COLUMNS).where(
    users.c.phone_hash.in_(bindparam("hashes", expanding=True))
)
_USER_NAMES = tuple(c.name for c in _USER_COLUMNS)


async def phone_hash_of(conn: AsyncConnection, user_id: int) -> bytes | None:
    value: bytes | None = await conn.scalar(select(users.c.phone_hash).where(users.c.id == user_id))
    return value


async def create(
    conn: AsyncConnection, *, phone: str, phone_hash: bytes, name: str, now: float
) -> User:
    user_id = (
        await conn.execute(
            insert(users)
            .values(phone=phone, phone_hash=phone_hash, name=name, created_at=now, updated_at=now)
            .returning(users.c.id)
        )
    ).scalar_one()
    return User(
        id=user_id,
        phone=phone,
        name=name,
        status=None,
        photo_key=None,
        photo_thumb_key=None,
        created_at=now,
        updated_at=now,
    )


async def update_profile(conn: AsyncConnection, user_id: int, now: float, **values: Any) -> None:
    await conn.execute(update(users).where(users.c.id == user_id).values(updated_at=now, **values))


async def swap_photo(
    conn: AsyncConnection,
    user_id: int,
    now: float,
    *,
    photo_key: str | None,
    photo_thumb_key: str | None,
) -> tuple[str | None, str | None] | None:
    """Set (or, with None, clear) the photo; return the keys it replaced, None if no user.

    The row is locked while read (FOR UPDATE on PostgreSQL; SQLite writes are serialised), so
    two uploads at once cannot both believe they replaced the same old photo and leave the
    other's files behind with nothing pointing at them.
    """
    old = (
        await conn.execute(
            select(users.c.photo_key, users.c.photo_thumb_key)
            .where(users.c.id == user_id)
            .with_for_update()
        )
    ).first()
    if old is None:
        return None
    await update_profile(conn, user_id, now, photo_key=photo_key, photo_thumb_key=photo_thumb_key)
    return old.photo_key, old.photo_thumb_key


async def photo_key_in_use(conn: AsyncConnection, key: str) -> bool:
    """Whether any account still shows this (content-addressed) file as photo or thumbnail."""
    found = await conn.scalar(
        select(users.c.id)
        .where((users.c.photo_key == key) | (users.c.photo_thumb_key == key))
        .limit(1)
    )
    return found is not None


async def group_adds_of(conn: AsyncConnection, user_id: int) -> str | None:
    """Who may add the user to groups, as they chose ("everyone", "contacts"); None: they did
    not choose (the server's default applies)."""
    rows = await _GROUP_ADDS.rows(conn, {"uid": user_id})
    value: str | None = rows[0][0] if rows else None
    return value


async def group_adds_among(conn: AsyncConnection, user_ids: list[int]) -> dict[int, str | None]:
    """``group_adds_of`` for many users at once."""
    found: dict[int, str | None] = {}
    for start in range(0, len(user_ids), 500):
        rows = await conn.execute(
            select(users.c.id, users.c.group_adds).where(
                users.c.id.in_(user_ids[start : start + 500])
            )
        )
        found.update({row.id: row.group_adds for row in rows})
    return found
