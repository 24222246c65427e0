"""CPU per send of the group commit, in process (no HTTP, no sockets): ``--senders`` callers
send ``--sends`` messages each into one group of ``--members``, all senders at once, one
message each in flight (batches of ``--senders``). Prints user and system CPU per send and the
voluntary context switches per send (each trip to the SQLite thread is one or two).

    python -m bench.send_cpu [--members 51] [--senders 1] [--sends 300] [--repeat 3]

What the group commit costs without the doors in front of it; the fake clock, SQLite with
durable commits in a temporary directory. Compare runs of two commits interleaved, each from
its own ``src/`` on ``PYTHONPATH``: the machine was shared when these figures were taken.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics

from bench.inprocess import in_process_services
from payam.domain.clock import FakeClock
from payam.domain.models import Caller
from payam.storage import chats, users


async def one_run(members: int, senders: int, sends: int) -> tuple[float, float, float]:
    async with in_process_services(None, FakeClock(1000.0)) as services:
        async with services.db.write() as conn:
            ids = [
                (
                    await users.create(
                        conn,
                        phone=f"+98912{i:07d}",
                        phone_hash=i.to_bytes(32, "big"),
                        name=f"bench {i}",
                        now=1.0,
                    )
                ).id
                for i in range(max(members, senders + 1))
            ]
            chat_id = await chats.create(
                conn, type_="group", title="bench", direct=None, created_by=ids[0], now=1.0
            )
            roles = [(ids[0], "owner")] + [(u, "member") for u in ids[1:members]]
            await chats.add_members(conn, chat_id, roles, now=1.0, start_seq=0)
        services.messages.start()
        callers = [Caller(user_id=ids[k + 1], device_id=1) for k in range(senders)]

        async def round_(n: int) -> None:
            await asyncio.gather(
                *(
                    services.messages.send(
                        caller, chat_id, client_id=f"c{k}-{n}", text="hello, how are you?"
                    )
                    for k, caller in enumerate(callers)
                )
            )

        for n in range(-20, 0):  # warm: compiled statements, pools
            await round_(n)
        before = resource.getrusage(resource.RUSAGE_SELF)
        for n in range(sends):
            await round_(n)
        after = resource.getrusage(resource.RUSAGE_SELF)
        await services.messages.stop()
        count = sends * senders
        return (
            (after.ru_utime - before.ru_utime) / count * 1e3,
            (after.ru_stime - before.ru_stime) / count * 1e3,
            (after.ru_nvcsw - before.ru_nvcsw) / count,
        )


async def main(args: argparse.Namespace) -> None:
    runs = [await one_run(args.members, args.senders, args.sends) for _ in range(args.repeat)]
    for user, system, switches in runs:
        print(
            f"  {user + system:.3f} ms CPU per send (user {user:.3f}, system {system:.3f}); "
            f"{switches:.1f} context switches per send"
        )
    print(
        f"median over {args.repeat} runs: "
        f"{statistics.median(u + s for u, s, _ in runs):.3f} ms CPU per send "
        f"({args.members} members, {args.senders} senders at once)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=51)
    parser.add_argument("--senders", type=int, default=1)
    parser.add_argument("--sends", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(parser.parse_args()))
    else:
        uvloop.run(main(parser.parse_args()))
