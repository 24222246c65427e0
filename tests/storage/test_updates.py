"""Seq reservation for the per-user update log: consecutive, never reused, and a fixed
number of statements per batch whatever the number of users (compiled once, not per size)."""

from __future__ import annotations

from typing import Any

from payam.storage import updates
from payam.storage.database import Database
from tests.storage.send_path_helpers import make_users, recording


async def test_allocate_reserves_consecutive_seqs_per_user(db: Database) -> None:
    async with db.write() as conn:
        a, b, c = await make_users(conn, 3)
        first = await updates.allocate(conn, {a: 3, b: 1, c: 0})
        second = await updates.allocate(conn, {b: 2, a: 1, c: 4})
        assert await updates.last_seq(conn, a) == 4
        assert await updates.last_seq(conn, b) == 3
        assert await updates.last_seq(conn, c) == 4
    # a: 1-3 then 4; b: 1 then 2-3; c asked for none the first time.
    assert first == {a: 1, b: 1}
    assert second == {a: 4, b: 2, c: 1}
    async with db.write() as conn:
        assert await updates.allocate(conn, {}) == {}


async def test_allocate_sends_one_statement_compiled_once_whatever_the_batch(
    db: Database,
) -> None:
    async with db.write() as conn:
        people = await make_users(conn, 40)
    cache: dict[Any, Any] = {}
    counts = []
    for size in range(1, 41):
        async with db.write() as conn:
            await conn.execution_options(compiled_cache=cache)
            with recording(db) as sent:
                reserved = await updates.allocate(conn, dict.fromkeys(people[:size], 2))
            counts.append(len(sent.statements))
        # User i was in every earlier batch from size i + 1 on, two seqs each time.
        assert reserved == {u: 1 + 2 * (size - 1 - i) for i, u in enumerate(people[:size])}
    # The same statements for 1 user as for 40. PostgreSQL: one upsert RETURNING the
    # counters. SQLite (one writer): an executemany of the upsert, then one read of the
    # counters by key (storage/prepared.py: compiled once per list size, not per batch).
    assert set(counts) == ({2} if db.is_sqlite else {1})
    # One compiled form for a lone user (execute), one for two or more (executemany).
    assert len(cache) <= 2


async def test_insert_many_stores_every_row_in_one_statement(db: Database) -> None:
    async with db.write() as conn:
        a, b = await make_users(conn, 2)
    rows = [
        (a, 1, "message_new", 7, 70, None, 1.5),
        (b, 1, "read", 7, None, '{"user_id":1,"read_seq":3}', 2.5),
        (a, 2, "chat_new", None, None, None, 3.5),
    ]
    async with db.write() as conn:
        with recording(db) as sent:
            await updates.insert_many(conn, rows)
            await updates.insert_many(conn, [])
    assert len(sent.statements) == 1
    async with db.read() as conn:
        got = await updates.after(conn, a, 0, 10) + await updates.after(conn, b, 0, 10)
    assert [
        (r.user_id, r.seq, r.kind, r.chat_id, r.message_id, r.payload, r.created_at) for r in got
    ] == [rows[0], rows[2], rows[1]]
