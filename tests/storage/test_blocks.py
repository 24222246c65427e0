"""Block lookups for a batch of sends: exact pairs, by the primary key's index."""

from __future__ import annotations

from payam.storage import blocks
from payam.storage.database import Database
from tests.storage.send_path_helpers import make_users, recording, sqlite_plan


async def test_blocked_pairs_finds_exactly_the_blocks_asked_about(db: Database) -> None:
    async with db.write() as conn:
        people = await make_users(conn, 5)
        a, b, c, d, e = people
        await blocks.add(conn, blocker=a, blocked=b, now=1.0)
        await blocks.add(conn, blocker=c, blocked=d, now=1.0)
    async with db.read() as conn:
        asked = [(x, y) for x in people for y in people if x != y]
        found = await blocks.blocked_pairs(conn, asked)
        # Blocking is one way: b did not block a.
        reversed_ = await blocks.blocked_pairs(conn, [(b, a), (d, c), (e, a)])
        with recording(db) as sent:
            await blocks.blocked_pairs(conn, [(a, b), (e, a)])
        plans = (
            [await sqlite_plan(conn, sql, p) for sql, p in sent.matching("SELECT")]
            if db.is_sqlite
            else []
        )
    assert found == {(a, b), (c, d)}
    assert reversed_ == set()
    for plan in plans:
        assert "SCAN" not in plan, plan
