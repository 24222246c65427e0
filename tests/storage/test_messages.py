"""The send path's message statements: one INSERT for a batch whatever the database, ids
handed back in the order the rows were given (docs/benchmarks.md)."""

from __future__ import annotations

from typing import Any

from payam.storage import messages as store
from payam.storage.database import Database
from tests.storage.send_path_helpers import make_groups, make_users, recording


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
            )
            first = start[0].seq + 1 if start else 1
            rows = [message(group, first + i, sender, f"s{size}-{i}") for i in range(size)]
            with recording(db) as sent:
                await store.insert_many(conn, rows)
        # SQLite once got one INSERT per row (SQLAlchemy's ordered RETURNING fallback).
        assert len(sent.matching("INSERT")) == 1, size
