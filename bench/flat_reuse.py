"""The chat list and the contact upload of ``bench/scale.py`` (issue 12), on a database that
is generated once and kept, so that a change to either can be measured again in seconds.

The first run with a directory generates into it (``bench.scale.generate``, the same database
as the full bench) and notes what it needs in ``state.json``; later runs with the same
directory upgrade it to the current migrations (timed: a new migration's cost shows here) and
measure. SQLite only; PostgreSQL is measured with ``bench/scale.py`` itself. Usage:

    python -m bench.flat_reuse DIR [--users 100000] [--messages 1000000] [--groups 10000]
                               [--repeat 200] [--profile]

``--profile`` prints cProfile's top functions of 50 chat lists and of 20 uploads instead of
the timings. CPU is this process's (``time.process_time``), which includes SQLite's thread.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench import scale
from payam.app import build_services
from payam.domain.clock import FakeClock
from payam.domain.models import Caller
from payam.services.container import Services
from payam.storage import migrate


def kept_state(directory: Path) -> dict[str, Any] | None:
    """What an earlier run noted of the database kept in ``directory``, if there is one."""
    state_file = directory / "state.json"
    if not state_file.exists():
        directory.mkdir(parents=True, exist_ok=True)
        return None
    state: dict[str, Any] = json.loads(state_file.read_text())
    return state


async def prepare(directory: Path, args: argparse.Namespace) -> dict[str, Any]:
    services = build_services(scale.settings_for(directory, None, None), clock=FakeClock(scale.NOW))
    try:
        await migrate.upgrade(services.db)
        await scale.generate(services, args.users, args.messages, args.groups)
    finally:
        await services.db.dispose()
    return dict(scale.BENCH_STATE)


async def profile(label: str, work: Callable[[int], Awaitable[Any]], repeat: int) -> None:
    await work(0)
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(repeat):
        await work(i + 1)
    profiler.disable()
    print(f"--- {label}: {repeat} calls")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


async def main(args: argparse.Namespace, state: dict[str, Any] | None) -> None:
    directory = Path(args.dir)
    if state is None:
        state = await prepare(directory, args)
        (directory / "state.json").write_text(json.dumps(state))
    print("load before:", scale.loadavg())
    clock = FakeClock(scale.NOW + 86400)
    t0 = time.perf_counter()
    services: Services = build_services(scale.settings_for(directory, None, None), clock=clock)
    await migrate.upgrade(services.db)
    print(f"start-up + migrations: {(time.perf_counter() - t0) * 1e3:.0f} ms")
    hero = Caller(scale.HERO, 1)
    rng = random.Random(7)
    n_users = state["n_users"]
    books = [
        [scale.phone(rng.randint(2, n_users)) for _ in range(500)]
        + [scale.stranger(rng.randrange(10**7)) for _ in range(500)]
        for _ in range(2)
    ]
    # A re-upload that keeps 900 numbers of the book and changes 100 (the common case).
    edited = books[0][:450] + books[1][:50] + books[0][500:950] + books[1][500:550]

    async def chat_list(_i: int) -> None:
        await services.chats.list_chats(hero, 100)

    async def upload(i: int) -> None:
        clock.advance(30 * 86400)
        await services.contacts.replace(hero, books[i % 2])

    async def upload_edited(i: int) -> None:
        clock.advance(30 * 86400)
        await services.contacts.replace(hero, books[0] if i % 2 else edited)

    try:
        print("load while measuring:", scale.loadavg())
        if args.profile:
            await profile("chat list", chat_list, 50)
            await profile("contact upload (whole book replaced)", upload, 20)
            return
        rows = {
            "chat list (100 of 500)": await scale.latency(chat_list, args.repeat),
            "contacts, 1,000 numbers (whole book replaced)": await scale.latency(
                upload, max(10, args.repeat // 5)
            ),
            "contacts, 1,000 numbers (100 changed)": await scale.latency(
                upload_edited, max(10, args.repeat // 5)
            ),
        }
        print("load after:", scale.loadavg())
        print("\n| | wall p50 / p99 (CPU mean) ms |\n|---|---|")
        for name, value in rows.items():
            print(f"| {name} | {value} |")
    finally:
        await services.messages.stop()
        await services.db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dir", help="where the SQLite database is (or will be) kept")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--profile", action="store_true", help="cProfile instead of timings")
    arguments = parser.parse_args()
    asyncio.run(main(arguments, kept_state(Path(arguments.dir))))
