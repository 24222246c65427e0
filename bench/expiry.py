"""Disappearing messages (P5.3): what the expiry sweep costs when few messages are due among
many. ``--messages`` messages with a timer (not due yet) and ``--due`` that are, in one chat;
then timed: the sweep's look-up of what is due (``storage.ttl.due``, the partial index), the
sweep itself (``TtlService.expire``: tombstones, media release, the purge request), and a
history page read with the expiry filter. Usage:

    python -m bench.expiry [--messages 100000] [--due 5000] [--database-url URL]

SQLite (the default, in a temporary directory, durable commits) or PostgreSQL with
``--database-url postgresql+asyncpg://...`` (a fresh schema, dropped afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import time

from sqlalchemy import insert, text

from bench.inprocess import in_process_services
from payam.domain.clock import FakeClock
from payam.storage import messages as message_store
from payam.storage import ttl
from payam.storage.tables import chats, messages, users


async def run(total: int, due: int, database_url: str | None) -> None:
    clock = FakeClock()
    now = clock.now()
    async with in_process_services(database_url, clock) as services:
        db = services.db
        async with db.write() as conn:
            user_id = (
                await conn.execute(
                    insert(users)
                    .values(
                        phone="+989120000001",
                        phone_hash=b"x" * 32,
                        name="bench",
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(users.c.id)
                )
            ).scalar_one()
            chat_id = (
                await conn.execute(
                    insert(chats)
                    .values(type="group", title="b", created_at=now, last_seq=0, member_count=0)
                    .returning(chats.c.id)
                )
            ).scalar_one()
        started = time.perf_counter()
        seq = 0
        for start in range(0, total + due, 5000):
            rows = []
            for i in range(start, min(start + 5000, total + due)):
                seq += 1
                # The first ``due`` expired a minute ago; the rest expire in a day.
                expires = now - 60 if i < due else now + 86400
                rows.append(
                    {
                        "chat_id": chat_id,
                        "seq": seq,
                        "sender_id": user_id,
                        "client_id": f"b{i}",
                        "text": f"message {i} with some words",
                        "created_at": now - 3600,
                        "expires_at": expires,
                    }
                )
            async with db.write() as conn:
                await conn.execute(insert(messages), rows)
        print(f"populated {total + due} messages in {time.perf_counter() - started:.1f} s")
        if database_url:  # as autovacuum would by now: the planner needs the table's statistics
            async with db.write() as conn:
                await conn.execute(text("ANALYZE messages"))
            async with db.read() as conn:
                plan = await conn.execute(
                    text(
                        "EXPLAIN SELECT id, chat_id FROM messages WHERE "
                        "expires_at IS NOT NULL AND deleted_at IS NULL AND expires_at <= :now "
                        "ORDER BY expires_at LIMIT 500"
                    ),
                    {"now": now},
                )
                print("plan:", " / ".join(str(row[0]).strip() for row in plan))

        async with db.read() as conn:
            t = time.perf_counter()
            found = await ttl.due(conn, now, limit=500)
            look_up = time.perf_counter() - t
        print(f"due(): first batch of {len(found)} in {look_up * 1000:.1f} ms")

        t = time.perf_counter()
        removed = await services.ttl.expire()
        sweep = time.perf_counter() - t
        print(f"expire(): {removed} removed in {sweep:.2f} s ({removed / sweep:.0f}/s)")
        # The purge it asked for (index merge, WAL truncation), before anything else is timed.
        await services.purge.stop()
        t = time.perf_counter()
        await services.purge.run()
        print(f"purge after the sweep: {time.perf_counter() - t:.2f} s")

        async with db.read() as conn:
            t = time.perf_counter()
            nothing = await ttl.due(conn, now, limit=500)
            idle = time.perf_counter() - t
        print(f"due() with nothing due among {total}: {idle * 1000:.2f} ms ({len(nothing)} found)")

        async with db.read() as conn:
            t = time.perf_counter()
            for _ in range(100):
                await message_store.page(
                    conn,
                    chat_id,
                    viewer_id=user_id,
                    after_seq=0,
                    before_seq=None,
                    limit=50,
                    newest_first=True,
                    now=now,
                )
            page = (time.perf_counter() - t) / 100
        print(f"history page of 50 (newest, with its media look-up): {page * 1000:.2f} ms")
    print(f"({platform.python_version()}, {'PostgreSQL' if database_url else 'SQLite'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=5000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    asyncio.run(run(args.messages, args.due, args.database_url))


if __name__ == "__main__":
    main()
