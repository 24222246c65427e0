"""Uploaded address books, as keyed hashes of the numbers only (P2.2)."""

from __future__ import annotations

from sqlalchemy import bindparam, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.storage.tables import contacts, users


async def lock_book(conn: AsyncConnection, user_id: int) -> None:
    """Serialise changes to one user's book until this transaction ends.

    Without it two uploads on PostgreSQL both read the old book, both charge the discovery
    budget for the same numbers, and the second insert collides with the first. (SQLite's
    single write transaction already serialises.)
    """
    if conn.dialect.name != "sqlite":
        # FOR NO KEY UPDATE: waits for another change of this book, but not for inserts that
        # merely reference the user (devices, access log), which take FOR KEY SHARE.
        await conn.execute(
            select(users.c.id).where(users.c.id == user_id).with_for_update(key_share=True)
        )


async def hashes_of(conn: AsyncConnection, user_id: int) -> set[bytes]:
    rows = await conn.execute(select(contacts.c.phone_hash).where(contacts.c.user_id == user_id))
    return {row.phone_hash for row in rows}


async def count(conn: AsyncConnection, user_id: int) -> int:
    return int(await conn.scalar(select(func.count()).where(contacts.c.user_id == user_id)) or 0)


async def replace(
    conn: AsyncConnection,
    user_id: int,
    phone_hashes: set[bytes],
    *,
    held: set[bytes],
    now: float,
) -> None:
    """Make the book exactly ``phone_hashes``, given that it holds ``held`` now (read under
    ``lock_book``): only the difference is written."""
    gone = held - phone_hashes
    new = phone_hashes - held
    for chunk in _chunks(sorted(gone)):
        await conn.execute(_DELETE, {"user_id": user_id, "hashes": chunk})
    if new:
        # Handed to the driver as it is, as ``updates.insert_many`` does: SQLAlchemy's work per
        # row (a dict, defaults, type processors) cost more than SQLite's insert of it.
        sql = _INSERT_SQL.get(conn.dialect.name)
        if sql is None:
            compiled = insert(contacts).compile(dialect=conn.dialect)
            if tuple(compiled.positiontup or ()) != _COLUMNS:
                raise RuntimeError(f"contacts' columns are {compiled.positiontup}")
            sql = _INSERT_SQL[conn.dialect.name] = str(compiled)
        await conn.exec_driver_sql(sql, [(user_id, h, now) for h in sorted(new)])


# Built once (an upload writes up to 5,000 rows; see ``users.get_many_by_phone_hash``).
_DELETE = delete(contacts).where(
    contacts.c.user_id == bindparam("user_id"),
    contacts.c.phone_hash.in_(bindparam("hashes", expanding=True)),
)
_COLUMNS = ("user_id", "phone_hash", "created_at")
_INSERT_SQL: dict[str, str] = {}


async def wipe(conn: AsyncConnection, user_id: int) -> int:
    result = await conn.execute(delete(contacts).where(contacts.c.user_id == user_id))
    return int(result.rowcount or 0)


async def holds(conn: AsyncConnection, *, holder_id: int, phone_hash: bytes) -> bool:
    """Whether ``holder_id`` uploaded this number (the P3.2 visibility relation)."""
    found = await conn.scalar(
        select(contacts.c.user_id).where(
            contacts.c.user_id == holder_id, contacts.c.phone_hash == phone_hash
        )
    )
    return found is not None


async def holds_user(conn: AsyncConnection, *, holder_id: int, user_id: int) -> bool:
    """Whether ``holder_id`` uploaded the number of the account ``user_id``."""
    found = await conn.scalar(
        select(contacts.c.user_id)
        .join(users, users.c.phone_hash == contacts.c.phone_hash)
        .where(contacts.c.user_id == holder_id, users.c.id == user_id)
        .limit(1)
    )
    return found is not None


async def numbers_held(conn: AsyncConnection, holder_id: int, user_ids: list[int]) -> set[int]:
    """Which of the accounts ``user_ids`` have their number in ``holder_id``'s book."""
    found: set[int] = set()
    for start in range(0, len(user_ids), 500):
        rows = await conn.execute(
            select(users.c.id)
            .join(contacts, contacts.c.phone_hash == users.c.phone_hash)
            .where(contacts.c.user_id == holder_id, users.c.id.in_(user_ids[start : start + 500]))
        )
        found.update(row.id for row in rows)
    return found


async def holders_among(conn: AsyncConnection, user_id: int, holder_ids: list[int]) -> set[int]:
    """Which of ``holder_ids`` hold the number of the account ``user_id``."""
    phone_hash = await conn.scalar(select(users.c.phone_hash).where(users.c.id == user_id))
    found: set[int] = set()
    for start in range(0, len(holder_ids), 500):
        rows = await conn.execute(
            select(contacts.c.user_id).where(
                contacts.c.phone_hash == phone_hash,
                contacts.c.user_id.in_(holder_ids[start : start + 500]),
            )
        )
        found.update(row.user_id for row in rows)
    return found


def _chunks(items: list[bytes], size: int = 500) -> list[list[bytes]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
