"""The expiry sweep's look-up (P5.3) reads the partial index of messages with a timer, not the
table: on SQLite the plan names ``ix_messages_expiring`` (a test that fails if the sweep's
WHERE stops matching the index's), and on both databases it returns only what is due."""

from __future__ import annotations

from sqlalchemy import insert

from payam.storage import ttl
from payam.storage.database import Database
from payam.storage.tables import messages
from tests.storage.send_path_helpers import make_groups, make_users, recording, sqlite_plan


async def _messages(db: Database) -> dict[str, int]:
    async with db.write() as conn:
        (owner,) = await make_users(conn, 1)
        (chat,) = await make_groups(conn, owner, 1)
        rows = [
            ("no timer", None, None),
            ("due", 100.0, None),
            ("later", 500.0, None),
            ("removed already", 50.0, 60.0),
        ]
        ids = {}
        for seq, (name, expires, deleted) in enumerate(rows, start=1):
            ids[name] = (
                await conn.execute(
                    insert(messages)
                    .values(
                        chat_id=chat,
                        seq=seq,
                        sender_id=owner,
                        client_id=name.replace(" ", "-"),
                        text=name,
                        created_at=1.0,
                        expires_at=expires,
                        deleted_at=deleted,
                    )
                    .returning(messages.c.id)
                )
            ).scalar_one()
    return ids


async def test_due_answers_what_expired_and_is_not_removed_yet(db: Database) -> None:
    ids = await _messages(db)
    async with db.read() as conn:
        assert [mid for mid, _ in await ttl.due(conn, 99.0, limit=10)] == []
        assert [mid for mid, _ in await ttl.due(conn, 100.0, limit=10)] == [ids["due"]]
        assert [mid for mid, _ in await ttl.due(conn, 1000.0, limit=10)] == [
            ids["due"],
            ids["later"],
        ]
        assert len(await ttl.due(conn, 1000.0, limit=1)) == 1


async def test_the_sweep_reads_the_partial_index_on_sqlite(db: Database) -> None:
    if not db.is_sqlite:
        return  # PostgreSQL's planner chooses by statistics; the index exists (test_migrations)
    await _messages(db)
    async with db.read() as conn:
        with recording(db) as sent:
            await ttl.due(conn, 1000.0, limit=10)
        ((sql, parameters),) = sent.matching("SELECT")
        plan = await sqlite_plan(conn, sql, parameters)
    assert "ix_messages_expiring" in plan, plan
    assert "SCAN messages" not in plan, plan
