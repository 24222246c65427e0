"""PostgreSQL keeps no samples of message text in its planner statistics (P5.3)."""

from __future__ import annotations

from sqlalchemy import text

from tests.conftest import Harness


async def test_deleted_text_is_not_in_postgresql_statistics(harness: Harness) -> None:
    db = harness.services.db
    if db.is_sqlite:
        return  # SQLite gathers no samples of column values (sqlite_stat1 holds counts only)
    sara = await harness.sign_in("+989120000001", "Sara")
    bita = await harness.sign_in("+989120000002", "Bita")
    chat = await harness.http.post(
        "/v1/chats", json={"type": "direct", "user_id": bita.user_id}, headers=sara.headers
    )
    chat_id = chat.json()["id"]
    for i in range(50):
        sent = await harness.http.post(
            f"/v1/chats/{chat_id}/messages",
            json={"client_id": f"m{i}", "text": "statcanary xylophone"},
            headers=sara.headers,
        )
        assert sent.status_code == 201
    async with db.write() as conn:
        await conn.execute(text("ANALYZE messages"))
    async with db.read() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT most_common_vals::text, histogram_bounds::text FROM pg_stats "
                    "WHERE schemaname = current_schema() AND tablename IN "
                    "('messages', 'ix_messages_text_search')"
                )
            )
        ).all()
    dumped = " ".join(str(value) for row in rows for value in row)
    assert "statcanary" not in dumped
