"""Channel membership figures (P5.1): what the channel routes cost with many subscribers.

A channel with ``--subscribers`` subscribers (written through the storage layer, in bulk) and
one admin; then, at the service layer (no HTTP), the median of ``--rounds`` calls of: the
owner's view of the channel (with its admins), a subscriber's view, the lookup by handle, a
handle search and a handle-or-title search, a join and a leave by a new user; last, the owner
deletes the channel: the deletion's own transaction, and the total with every subscriber told
(in transactions of ``TELL_CHUNK``). Usage:

    python -m bench.channel_membership [--subscribers 100000] [--rounds 50]
                                       [--database-url URL] [--without-staff-index]
                                       [--tell-in-one-transaction]

``--without-staff-index`` drops the partial index of owners and admins (migration 0007) first,
to show what the owner's view and the hand-over cost without it. ``--tell-in-one-transaction``
records every subscriber's ``chat_removed`` inside the deletion's transaction instead, to show
how long that would hold the writer.

SQLite (the default, in a temporary directory, durable commits) or PostgreSQL with
``--database-url postgresql+asyncpg://...`` (tables are created in a fresh schema and dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import insert, text

from bench.inprocess import in_process_services
from payam.domain.clock import FakeClock
from payam.domain.events import CHAT_REMOVED, PendingUpdate
from payam.domain.models import Caller
from payam.services import channels
from payam.services.container import Services
from payam.storage.tables import chat_members, chats, users


async def populate(services: Services, subscribers: int, spare: int, now: float) -> int:
    """Users 1..subscribers+spare; user 1 owns the channel, user 2 is its admin, the rest up to
    ``subscribers`` subscribe; the ``spare`` last ones are left to join."""
    db = services.db
    batch = 5000
    total = subscribers + spare
    for start in range(1, total + 1, batch):
        async with db.write() as conn:
            await conn.execute(
                insert(users),
                [
                    {
                        "id": uid,
                        "phone": f"+1555{uid:09d}",
                        "phone_hash": uid.to_bytes(32, "big"),
                        "name": "bench",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for uid in range(start, min(total, start + batch - 1) + 1)
                ],
            )
    async with db.write() as conn:
        chat_id: int = (
            await conn.execute(
                insert(chats)
                .values(
                    type="channel",
                    title="Bench News",
                    handle="bench_news",
                    handle_key="bench_news",
                    created_by=1,
                    created_at=now,
                    last_seq=0,
                    member_count=subscribers,
                )
                .returning(chats.c.id)
            )
        ).scalar_one()
    for start in range(1, subscribers + 1, batch):
        async with db.write() as conn:
            await conn.execute(
                insert(chat_members),
                [
                    {
                        "chat_id": chat_id,
                        "user_id": uid,
                        "role": {1: "owner", 2: "admin"}.get(uid, "subscriber"),
                        "joined_at": now + uid,
                        "read_seq": 0,
                        "cleared_seq": 0,
                        "muted": False,
                    }
                    for uid in range(start, min(subscribers, start + batch - 1) + 1)
                ],
            )
    return chat_id


async def median_ms(rounds: int, call: Callable[[int], Awaitable[Any]]) -> float:
    times = []
    for i in range(rounds):
        started = time.perf_counter()
        await call(i)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


async def measure(
    services: Services, chat_id: int, subscribers: int, rounds: int, *, tell_at_once: bool
) -> None:
    owner, subscriber = Caller(1, 0), Caller(subscribers // 2, 0)
    chats_, found = services.chats, services.channels
    figures = {
        "owner's view (GET /v1/chats/{id}, with admins)": await median_ms(
            rounds, lambda _: chats_.get_chat(owner, chat_id)
        ),
        "subscriber's view (GET /v1/chats/{id})": await median_ms(
            rounds, lambda _: chats_.get_chat(subscriber, chat_id)
        ),
        "lookup by handle (GET /v1/channels/{handle})": await median_ms(
            rounds, lambda _: found.find(subscriber, "Bench_News")
        ),
        "search by handle (q=@bench)": await median_ms(
            rounds, lambda _: found.search(subscriber, "@bench")
        ),
        "search by handle or title (q=bench)": await median_ms(
            rounds, lambda _: found.search(subscriber, "bench")
        ),
        "join (a new subscriber)": await median_ms(
            rounds, lambda i: found.join(Caller(subscribers + 1 + i, 0), chat_id)
        ),
        "leave": await median_ms(
            rounds, lambda i: chats_.leave(Caller(subscribers + 1 + i, 0), chat_id)
        ),
    }
    for label, ms in figures.items():
        print(f"  {label}: {ms:.2f} ms")

    # The deletion, split as ChatService does it: one transaction, then the telling.
    started = time.perf_counter()
    async with services.db.write() as conn:
        told, _ = await channels.delete_channel(conn, chat_id)
        if tell_at_once:
            payload = {"by": 1, "deleted": True}
            await services.updates.record(
                conn, [PendingUpdate(u, CHAT_REMOVED, chat_id, None, payload) for u in told]
            )
    deleted = time.perf_counter() - started
    if tell_at_once:
        print(f"  delete, every subscriber told in its transaction: {deleted:.1f} s")
        return
    await channels.tell_deleted(services.db, services.updates, chat_id, told, by=1)
    total = time.perf_counter() - started
    print(
        f"  delete: {deleted * 1000:.0f} ms in its transaction, {total:.1f} s with "
        f"{len(told)} subscribers told in transactions of {channels.TELL_CHUNK}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--without-staff-index", action="store_true")
    parser.add_argument("--tell-in-one-transaction", action="store_true")
    args = parser.parse_args()

    clock = FakeClock(1_800_000_000.0)
    async with in_process_services(args.database_url, clock) as services:
        schema = services.settings.database_schema
        if args.without_staff_index:
            async with services.db.write() as conn:
                await conn.execute(text("DROP INDEX ix_chat_members_staff"))
        started = time.perf_counter()
        chat_id = await populate(services, args.subscribers, args.rounds, clock.now())
        if schema:
            async with services.db.write() as conn:
                await conn.execute(text("ANALYZE"))
        print(
            f"payam channel membership bench: {platform.python_version()}, "
            f"{'PostgreSQL' if schema else 'SQLite'}, {args.subscribers} subscribers "
            f"(made in {time.perf_counter() - started:.1f} s), median of {args.rounds}"
            + (", WITHOUT the staff index" if args.without_staff_index else "")
        )
        await measure(
            services,
            chat_id,
            args.subscribers,
            args.rounds,
            tell_at_once=args.tell_in_one_transaction,
        )


if __name__ == "__main__":
    asyncio.run(main())
