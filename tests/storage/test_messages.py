"""The send path's message statements: one INSERT for a batch whatever the database, ids
handed back in the order the rows were given, and idempotency and "hidden for me" lookups
that use the indexes instead of reading the whole table (docs/benchmarks.md)."""

from __future__ import annotations

import re
from typing import Any

from payam.storage import messages as store
from payam.storage.database import Database
from tests.storage.send_path_helpers import make_groups, make_users, recording, sqlite_plan


def message(chat_id: int, seq: int, sender_id: int, client_id: str) -> dict[str, Any]:
    return {
        "chat_id": chat_id,
        "seq": seq,
        "sender_id": sender_id,
        "client_id": client_id,
        "text": f"{client_id} in {chat_id}",
        "content_hash": None,
        "reply_to": None,
        "forward_of": None,
        "forward_from_user_id": None,
        "created_at": 2.0,
    }


async def test_insert_many_gives_back_each_rows_id_in_the_order_given(db: Database) -> None:
    async with db.write() as conn:
        senders = await make_users(conn, 3)
        groups = await make_groups(conn, senders[0], 3)
        # Interleaved chats, seqs not in order: the ids must still line up with the rows.
        rows = [message(groups[i % 3], 40 - i, senders[i % 2], f"c{i}") for i in range(40)]
        ids = await store.insert_many(conn, rows)
        stored = await store.get_many(conn, ids)
    assert len(set(ids)) == len(rows)
    for row, message_id in zip(rows, ids, strict=True):
        found = stored[message_id]
        assert (found.chat_id, found.seq, found.client_id) == (
            row["chat_id"],
            row["seq"],
            row["client_id"],
        )


async def test_a_batch_of_messages_is_one_insert_statement(db: Database) -> None:
    async with db.write() as conn:
        (sender,) = await make_users(conn, 1)
        (group,) = await make_groups(conn, sender, 1)
    for size in (1, 7, 120):
        async with db.write() as conn:
            start = await store.page(
                conn,
                group,
                viewer_id=sender,
                after_seq=0,
                before_seq=None,
                limit=1,
                newest_first=True,
                now=1.0,
            )
            first = start[0].seq + 1 if start else 1
            rows = [message(group, first + i, sender, f"s{size}-{i}") for i in range(size)]
            with recording(db) as sent:
                await store.insert_many(conn, rows)
        # SQLite once got one INSERT per row (SQLAlchemy's ordered RETURNING fallback).
        assert len(sent.matching("INSERT")) == 1, size


async def test_by_client_ids_finds_exactly_the_pairs_asked_for(db: Database) -> None:
    async with db.write() as conn:
        alice, bob = await make_users(conn, 2)
        (group,) = await make_groups(conn, alice, 1)
        await store.insert_many(
            conn,
            [message(group, 1 + i, alice if i % 2 else bob, f"k{i}") for i in range(300)],
        )
    async with db.read() as conn:
        # Odd k are Alice's: (alice, k1) exists, (bob, k1) does not. Past one chunk of keys.
        keys = [(alice, f"k{i}") for i in range(1, 300, 2)] + [
            (bob, f"k{i}") for i in range(1, 300, 2)
        ]
        keys += [(alice, f"k{i}") for i in range(0, 300, 2)] + [(bob, "k0"), (bob, "k0")]
        found = await store.by_client_ids(conn, keys)
        three = await store.by_client_ids(conn, [(alice, "k1"), (bob, "k1"), (bob, "k2")])
        none = await store.by_client_ids(conn, [])
    assert set(found) == {(alice, f"k{i}") for i in range(1, 300, 2)} | {(bob, "k0")}
    assert all(found[key].sender_id == key[0] for key in found)
    assert set(three) == {(alice, "k1"), (bob, "k2")}
    assert none == {}


async def test_lookups_by_key_pair_use_the_index_on_sqlite(db: Database) -> None:
    if not db.is_sqlite:
        return  # the table scan was SQLite's plan for (a, b) IN (VALUES ...)
    async with db.write() as conn:
        alice, bob = await make_users(conn, 2)
        (group,) = await make_groups(conn, alice, 1)
        ids = await store.insert_many(conn, [message(group, 1, alice, "x")])
        await store.hide(conn, bob, ids[0])
    async with db.read() as conn:
        with recording(db) as sent:
            await store.by_client_ids(conn, [(alice, "x"), (bob, "y"), (alice, "z")])
            await store.hidden_among(conn, [(bob, ids[0]), (alice, ids[0])])
        plans = [await sqlite_plan(conn, sql, p) for sql, p in sent.matching("SELECT")]
    # (Other statements may follow, such as the media a message carries.)
    for table in ("messages", "hidden_messages"):
        assert any(f"SEARCH {table} USING" in plan for plan in plans), plans
        assert not any(re.search(rf"SCAN {table}\b", plan) for plan in plans), plans


async def test_hidden_among_says_which_pairs_are_hidden(db: Database) -> None:
    async with db.write() as conn:
        alice, bob = await make_users(conn, 2)
        (group,) = await make_groups(conn, alice, 1)
        ids = await store.insert_many(conn, [message(group, s, alice, f"h{s}") for s in (1, 2)])
        await store.hide(conn, bob, ids[0])
        await store.hide(conn, alice, ids[1])
    async with db.read() as conn:
        hidden = await store.hidden_among(
            conn, [(bob, ids[0]), (bob, ids[1]), (alice, ids[0]), (alice, ids[1])]
        )
    assert hidden == {(bob, ids[0]), (alice, ids[1])}


async def test_key_pair_lookups_compile_a_few_statements_whatever_the_batch_size(
    db: Database,
) -> None:
    async with db.write() as conn:
        (alice,) = await make_users(conn, 1)
    cache: dict[Any, Any] = {}
    async with db.read() as conn:
        await conn.execution_options(compiled_cache=cache)
        for size in range(1, 70):
            await store.by_client_ids(conn, [(alice, f"c{i}") for i in range(size)])
    # One statement per power of two up to 64 keys: 1, 2, 4, ... 128.
    assert len(cache) <= 8
