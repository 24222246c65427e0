"""Migration 0008 (P3.2): memberships from before it show their profile only where the member
spoke for themself (created the chat or sent a message in it), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from payam.storage import migrate
from payam.storage.database import Database
from tests.conftest import DatabaseTarget


@pytest.fixture
async def db(database: DatabaseTarget) -> AsyncIterator[Database]:
    opened = Database(database.url, schema=database.schema)
    try:
        yield opened
    finally:
        await opened.dispose()


async def test_existing_memberships_show_only_where_the_member_spoke_for_themself(
    db: Database,
) -> None:
    await migrate.upgrade(db, "0007")
    async with db.writer_connection() as conn:
        for uid in (1, 2, 3):
            await conn.execute(
                text(
                    "INSERT INTO users (id, phone, phone_hash, name, created_at, updated_at) "
                    "VALUES (:id, :phone, :hash, :name, 0, 0)"
                ),
                {"id": uid, "phone": f"+98912000000{uid}", "hash": bytes([uid]) * 32, "name": "u"},
            )
        await conn.execute(
            text(
                "INSERT INTO chats (id, type, title, created_by, created_at, last_seq, "
                "member_count) VALUES (1, 'group', 'G', 1, 0, 1, 3)"
            )
        )
        for uid in (1, 2, 3):
            await conn.execute(
                text(
                    "INSERT INTO chat_members (chat_id, user_id, role, joined_at, read_seq, "
                    "cleared_seq, muted) VALUES (1, :uid, 'member', 0, 0, 0, false)"
                ),
                {"uid": uid},
            )
        await conn.execute(
            text(
                "INSERT INTO messages (chat_id, seq, sender_id, client_id, text, created_at) "
                "VALUES (1, 1, 2, 'c1', 'hello', 0)"
            )
        )
        await conn.commit()
    await migrate.upgrade(db)
    async with db.reader.connect() as conn:
        rows = await conn.execute(
            text("SELECT user_id, shows_profile FROM chat_members ORDER BY user_id")
        )
        shown = {row.user_id: bool(row.shows_profile) for row in rows}
        choice = await conn.scalar(text("SELECT group_adds FROM users WHERE id = 1"))
    # The creator and the member who wrote show; the member who was only put there does not.
    assert shown == {1: True, 2: True, 3: False}
    assert choice is None  # the server's default applies until the user chooses
