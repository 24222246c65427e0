"""The send path's storage statements on their own: what one group commit's batch costs in
``messages.insert_many``, ``updates.allocate`` and the key-pair lookups (idempotency, blocks,
"hidden for me"), on a SQLite file that already holds many messages. No server: the storage
functions are called directly, each in its own write transaction, and timed on this thread
(statement building and the trip to SQLite's thread included). Usage:

    python -m bench.send_path [--messages 200000] [--batch 100] [--repeat 50]

Run it on two checkouts (``PYTHONPATH=<other>/src``) to compare a change.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert

from bench.messaging import machine
from payam.storage import blocks, migrate, updates
from payam.storage import messages as store
from payam.storage.database import Database
from payam.storage.tables import chats, messages, users

USERS = 200
CHATS = 100


class Counter:
    def __init__(self, db: Database) -> None:
        self.statements = 0
        event.listen(db.writer.sync_engine, "before_cursor_execute", self.note)

    def note(self, *_args: Any) -> None:
        self.statements += 1


async def timed(
    db: Database, counter: Counter, repeat: int, work: Callable[[Any, int], Awaitable[Any]]
) -> tuple[float, float]:
    """Median milliseconds of ``work(conn, i)`` over ``repeat`` transactions, and the
    statements it sent per call."""
    times = []
    counter.statements = 0
    for i in range(repeat):
        async with db.write() as conn:
            t0 = time.perf_counter()
            await work(conn, i)
            times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2] * 1e3, counter.statements / repeat


async def main(args: argparse.Namespace) -> None:
    print("machine:", machine())
    print(f"storage code: {Path(store.__file__).parent}")
    with tempfile.TemporaryDirectory(prefix="payam-bench-") as tmp:
        db = Database(f"sqlite+aiosqlite:///{tmp}/payam.sqlite3", sqlite_synchronous="FULL")
        try:
            await migrate.upgrade(db)
            seqs = dict.fromkeys(range(1, CHATS + 1), 0)
            sent = 0

            def batch(size: int) -> list[dict[str, Any]]:
                nonlocal sent
                rows = []
                for _ in range(size):
                    chat = sent % CHATS + 1
                    seqs[chat] += 1
                    sent += 1
                    rows.append(
                        {
                            "chat_id": chat,
                            "seq": seqs[chat],
                            "sender_id": chat,
                            "client_id": f"c{sent}",
                            "text": "hello, are you there?",
                            "content_hash": None,
                            "reply_to": None,
                            "forward_of": None,
                            "forward_from_user_id": None,
                            "created_at": 0.0,
                        }
                    )
                return rows

            async with db.write() as conn:
                await conn.execute(
                    insert(users),
                    [
                        {
                            "id": i,
                            "phone": f"+98912{i:07d}",
                            "phone_hash": i.to_bytes(32, "big"),
                            "name": "bench",
                            "created_at": 0.0,
                            "updated_at": 0.0,
                        }
                        for i in range(1, USERS + 1)
                    ],
                )
                await conn.execute(
                    insert(chats),
                    [{"id": i, "type": "group", "created_at": 0.0} for i in range(1, CHATS + 1)],
                )
                for start in range(0, args.messages, 10_000):
                    await conn.execute(insert(messages), batch(min(10_000, args.messages - start)))
                for i in range(1, 21):
                    await blocks.add(conn, blocker=i, blocked=i + 1, now=0.0)
            print(f"{args.messages:,} messages in {CHATS} chats; batches of {args.batch}")
            counter = Counter(db)
            n = args.batch
            results = {
                "messages.insert_many": await timed(
                    db, counter, args.repeat, lambda conn, _i: store.insert_many(conn, batch(n))
                ),
                "messages.by_client_ids": await timed(
                    db,
                    counter,
                    args.repeat,
                    lambda conn, i: store.by_client_ids(
                        conn,
                        [(k % CHATS + 1, f"c{(i * 7919 + k * 104729) % sent}") for k in range(n)],
                    ),
                ),
                "messages.hidden_among": await timed(
                    db,
                    counter,
                    args.repeat,
                    lambda conn, i: store.hidden_among(
                        conn, [(k % USERS + 1, i * n + k) for k in range(n)]
                    ),
                ),
                "blocks.blocked_pairs": await timed(
                    db,
                    counter,
                    args.repeat,
                    lambda conn, i: blocks.blocked_pairs(
                        conn, [((i + k) % USERS + 1, k % USERS + 1) for k in range(n)]
                    ),
                ),
                "updates.allocate": await timed(
                    db,
                    counter,
                    args.repeat,
                    # 2 updates per message (both members); the number of users varies.
                    lambda conn, i: updates.allocate(
                        conn, dict.fromkeys(range(1, 1 + min(USERS, n - i % 7)), 2)
                    ),
                ),
            }
            for name, (millis, statements) in results.items():
                print(f"  {name:24} {millis:7.2f} ms median, {statements:5.1f} statements")
        finally:
            await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=50)
    asyncio.run(main(parser.parse_args()))
