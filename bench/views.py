"""View counting and channel statistics figures (P10.1), at the service layer.

A channel with ``--subscribers`` subscribers (written through the storage layer, in bulk) and
a few posts; then ``--viewers`` distinct subscribers report the latest posts as seen, with
``--concurrency`` reports in flight (phase "new": every report writes marks, counters and the
day's cells), then the same viewers report again (phase "repeat": every mark exists, so a
report is one read transaction). Last, on the next day, the retention job's subscriber snapshot
(over every subscriber) and the owner's statistics report are timed. Usage:

    python -m bench.views [--subscribers 100000] [--viewers 5000] [--concurrency 32]
                          [--posts 3] [--database-url URL]

SQLite (the default, in a temporary directory, durable commits) or PostgreSQL with
``--database-url postgresql+asyncpg://...`` (tables are created in a fresh schema and dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import secrets
import statistics
import time
from typing import Any

from sqlalchemy import insert, select, update

from bench.inprocess import in_process_services
from payam.domain.clock import FakeClock
from payam.domain.models import Caller
from payam.services.channel_stats import take_snapshots
from payam.services.container import Services
from payam.storage.tables import chat_members, chats, devices, messages, users

DAY = 86400
OSES = ("Android 14", "Android 15", "iOS 17", "Windows 11", "macOS 14", "Web", "Ubuntu")
PREFIXES = ("+98912", "+98935", "+4915", "+1202", "+90532", "+4477")


async def populate(services: Services, subscribers: int, posts: int, now: float) -> Any:
    """Users with one device each, a channel they all subscribe to, and ``posts`` posts."""
    db = services.db
    batch = 5000
    async with db.write() as conn:
        chat_id = (
            await conn.execute(
                insert(chats)
                .values(type="channel", title="bench", created_at=now, last_seq=0, member_count=0)
                .returning(chats.c.id)
            )
        ).scalar_one()
    for start in range(0, subscribers, batch):
        count = min(batch, subscribers - start)
        async with db.write() as conn:
            rows = [
                {
                    "phone": f"{PREFIXES[i % len(PREFIXES)]}{i:07d}",
                    "phone_hash": secrets.token_bytes(32),
                    "name": f"bench {i}",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(start, start + count)
            ]
            ids = [r.id for r in await conn.execute(insert(users).returning(users.c.id), rows)]
            await conn.execute(
                insert(devices),
                [
                    {
                        "user_id": uid,
                        "token_hash": secrets.token_bytes(32),
                        "model": "bench",
                        "os": OSES[uid % len(OSES)],
                        "app_version": "0",
                        "created_at": now,
                        "last_active_at": now,
                    }
                    for uid in ids
                ],
            )
            await conn.execute(
                insert(chat_members),
                [
                    {
                        "chat_id": chat_id,
                        "user_id": uid,
                        "role": "owner" if start == 0 and uid == ids[0] else "subscriber",
                        "joined_at": now,
                        "read_seq": 0,
                        "cleared_seq": 0,
                        "muted": False,
                    }
                    for uid in ids
                ],
            )
    async with db.write() as conn:
        owner = await conn.scalar(
            select(chat_members.c.user_id).where(
                chat_members.c.chat_id == chat_id, chat_members.c.role == "owner"
            )
        )
        post_ids = [
            r.id
            for r in await conn.execute(
                insert(messages).returning(messages.c.id),
                [
                    {
                        "chat_id": chat_id,
                        "seq": seq,
                        "sender_id": owner,
                        "client_id": f"bench-{seq}",
                        "text": f"post {seq}",
                        "created_at": now,
                        "views": 0,
                        "forwards": 0,
                    }
                    for seq in range(1, posts + 1)
                ],
            )
        ]
        await conn.execute(
            update(chats)
            .where(chats.c.id == chat_id)
            .values(last_seq=posts, member_count=subscribers)
        )
        callers = [
            Caller(r.user_id, r.id)
            for r in await conn.execute(
                select(devices.c.user_id, devices.c.id).order_by(devices.c.user_id)
            )
        ]
    return chat_id, post_ids, callers


async def run_reports(
    services: Services, chat_id: int, post_ids: list[int], callers: list[Caller], concurrency: int
) -> tuple[float, list[float]]:
    """Every caller reports the posts once; (seconds, per-report latencies)."""
    queue: asyncio.Queue[Caller] = asyncio.Queue()
    for caller in callers:
        queue.put_nowait(caller)
    latencies: list[float] = []

    async def worker() -> None:
        while not queue.empty():
            caller = queue.get_nowait()
            started = time.perf_counter()
            await services.channel_stats.report_views(caller, chat_id, post_ids)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    async with asyncio.timeout(600):
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


def describe(name: str, seconds: float, latencies: list[float]) -> None:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(
        f"  {name:<8} {len(latencies) / seconds:8.0f} reports/s   "
        f"median {statistics.median(ordered) * 1000:6.2f} ms   p99 {p99 * 1000:7.2f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--viewers", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--posts", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    clock = FakeClock(1_800_000_000.0)
    async with in_process_services(args.database_url, clock) as services:
        schema = services.settings.database_schema
        started = time.perf_counter()
        chat_id, post_ids, callers = await populate(
            services, args.subscribers, args.posts, clock.now()
        )
        print(
            f"payam views bench: {platform.python_version()}, "
            f"{'PostgreSQL' if schema else 'SQLite'}, {args.subscribers} subscribers "
            f"(made in {time.perf_counter() - started:.1f} s), {args.viewers} viewers "
            f"reporting {args.posts} posts, {args.concurrency} in flight"
        )
        viewers = callers[: args.viewers]
        seconds, latencies = await run_reports(
            services, chat_id, post_ids, viewers, args.concurrency
        )
        describe("new", seconds, latencies)
        seconds, latencies = await run_reports(
            services, chat_id, post_ids, viewers, args.concurrency
        )
        describe("repeat", seconds, latencies)
        async with services.db.read() as conn:
            counted = await conn.scalar(
                select(messages.c.views).where(messages.c.id == post_ids[0])
            )
        assert counted == len(viewers), (counted, len(viewers))

        clock.advance(DAY)
        started = time.perf_counter()
        assert await take_snapshots(services.db, clock.now()) == 1
        print(
            f"  subscriber snapshot (retention job): "
            f"{(time.perf_counter() - started) * 1000:.0f} ms"
        )
        started = time.perf_counter()
        report = await services.channel_stats.report(callers[0], chat_id, 30)
        print(f"  stats report: {(time.perf_counter() - started) * 1000:.0f} ms")
        assert report["subscribers"]["by_os"]["total"] == args.subscribers


if __name__ == "__main__":
    asyncio.run(main())
