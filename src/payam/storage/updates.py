"""The per-user updates log (P5.1 sync): every change a user should see, numbered 1, 2, 3...
per user. Rows refer to messages by id and never copy their text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from payam.storage.prepared import Prepared, PreparedBySize
from payam.storage.tables import update_counters, updates


@dataclass(frozen=True, slots=True)
class UpdateRow:
    user_id: int
    seq: int
    kind: str
    chat_id: int | None
    message_id: int | None
    payload: str | None
    created_at: float


async def allocate(conn: AsyncConnection, counts: dict[int, int]) -> dict[int, int]:
    """Reserve ``counts[user]`` seqs for each user; returns each user's first reserved seq.

    One statement per batch whatever its users: an upsert that adds each count to the user's
    counter (creating it at 0) and returns the new value, sent as an executemany of one fixed
    statement, so SQLAlchemy compiles it once; a multi-VALUES statement built per batch
    was compiled again for every number of users. Rows go in user id order, so on PostgreSQL
    the counters are locked in id order (no deadlocks between processes); SQLite's single
    writer serialises anyway.
    """
    users = sorted(u for u, n in counts.items() if n > 0)
    if not users:
        return {}
    if conn.dialect.name == "sqlite":
        # SQLite has one writer: the counters read back in the same transaction are the ones
        # this statement set. An executemany and one read by key, whatever the group's size.
        await _BUMP.run_many_in_order(conn, [(u, counts[u]) for u in users])
        found = await _LAST_SEQS.rows(conn, users)
        return {user_id: last_seq - counts[user_id] + 1 for user_id, last_seq in found}
    params = [{"user_id": u, "last_seq": counts[u]} for u in users]
    result = await conn.execute(_RESERVE[conn.dialect.name], params)
    return {row.user_id: row.last_seq - counts[row.user_id] + 1 for row in result}


def _reserve(dialect_insert: Any) -> Any:
    new = dialect_insert(update_counters)
    return new.on_conflict_do_update(
        index_elements=[update_counters.c.user_id],
        set_={"last_seq": update_counters.c.last_seq + new.excluded.last_seq},
    ).returning(update_counters.c.user_id, update_counters.c.last_seq)


_RESERVE = {"sqlite": _reserve(sqlite_insert), "postgresql": _reserve(pg_insert)}
_BUMPED = sqlite_insert(update_counters).values(
    user_id=bindparam("user_id"), last_seq=bindparam("last_seq")
)
_BUMP = Prepared(
    _BUMPED.on_conflict_do_update(
        index_elements=[update_counters.c.user_id],
        set_={"last_seq": update_counters.c.last_seq + _BUMPED.excluded.last_seq},
    ),
    order=("user_id", "last_seq"),
)
_LAST_SEQS = PreparedBySize(
    lambda size: select(update_counters.c.user_id, update_counters.c.last_seq).where(
        update_counters.c.user_id.in_([bindparam(f"v{i}") for i in range(size)])
    )
)


# The columns of a row, in the order ``insert_many`` takes them.
COLUMNS = ("user_id", "seq", "kind", "chat_id", "message_id", "payload", "created_at")
_INSERT = Prepared(
    insert(updates).values({name: bindparam(name) for name in COLUMNS}), order=COLUMNS
)


async def insert_many(conn: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Store update rows, each a tuple in ``COLUMNS`` order: one executemany of one fixed
    statement, handed to the driver as it is. A group message writes a row per member, and
    SQLAlchemy's processing of each row's parameters (a dict per row, compiled defaults,
    type processors) cost more on the event loop than the database's insert of them."""
    if not rows:
        return
    await _INSERT.run_many_in_order(conn, rows)


# Read by every catch-up and long poll (storage/prepared.py), the columns in UpdateRow's order.
_AFTER = Prepared(
    select(*(updates.c[name] for name in UpdateRow.__dataclass_fields__))
    .where(updates.c.user_id == bindparam("user_id"), updates.c.seq > bindparam("after_seq"))
    .order_by(updates.c.seq)
    .limit(bindparam("limit"))
)
_LAST_SEQ = Prepared(
    select(update_counters.c.last_seq).where(update_counters.c.user_id == bindparam("user_id"))
)
_FIRST_KEPT = Prepared(
    select(updates.c.seq)
    .where(updates.c.user_id == bindparam("user_id"))
    .order_by(updates.c.seq)
    .limit(1)
)


async def after(conn: AsyncConnection, user_id: int, after_seq: int, limit: int) -> list[UpdateRow]:
    found = await _AFTER.rows(conn, {"user_id": user_id, "after_seq": after_seq, "limit": limit})
    return [UpdateRow(*row) for row in found]


async def last_seq(conn: AsyncConnection, user_id: int) -> int:
    found = await _LAST_SEQ.rows(conn, {"user_id": user_id})
    return int(found[0][0]) if found else 0


async def first_kept_seq(conn: AsyncConnection, user_id: int) -> int | None:
    found = await _FIRST_KEPT.rows(conn, {"user_id": user_id})
    return int(found[0][0]) if found else None


async def prune(conn: AsyncConnection, *, older_than: float) -> int:
    result = await conn.execute(delete(updates).where(updates.c.created_at < older_than))
    return int(result.rowcount or 0)
