"""The scenarios of issue #12, each printing the server's CPU per message beside its rate.

Drives a real ``payam serve`` (SQLite default, durable commits, rate limits off) on loopback.
Users and their devices are bulk-written through the storage layer, and so is the 51-member
group (one owner, 50 members); the 20 direct chats are opened over HTTP. Usage:

    python -m bench.scenarios [--only sequential,group,direct,reads,latency] [--sends 500]
                              [--per-sender 100] [--rates 5,20,100,1000] [--seconds 10]
                              [--connected 51] [--profile DIR] [--server-env K=V ...]
                              [--workers N]

On PostgreSQL with the Redis bus (for ``--workers``), set ``PAYAM_DATABASE_URL``,
``PAYAM_DATABASE_SCHEMA`` (an existing, empty schema), ``PAYAM_EVENT_BUS=redis`` and
``PAYAM_REDIS_CHANNEL`` in the environment: the set-up and the server both read them. The
server's CPU is its own and its workers'.

sequential: one member sends ``--sends`` messages into the group over HTTP, one at a time.
group: 20 members send ``--per-sender`` each into the group over HTTP, concurrently, each on
its own keep-alive connection, one request at a time. reads: ``GET /v1/me``, a history page
of 50 and the chat list, one at a time (``--reads`` each). direct: 20 senders, each in its own
direct chat with a user of its own, the same way. latency: ``--connected`` members of the
group hold a WebSocket (resumed, live); 20 of them send over their socket, open loop, at each
of ``--rates`` msgs/s for ``--seconds`` (at most 5,000 messages per rate), and every other
connected member notes when the update arrives: send-to-receive over all deliveries.

Every phase prints server CPU per message: the user + system time of the server process from
``/proc/<pid>/stat`` over the phase, divided by the messages sent. Unlike a rate it does not
depend on who else uses the machine (it was shared when these were measured), so it is the
figure to compare across runs. The load generator's own CPU is printed beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.channels import Http, Live, LiveSocket, create_accounts, database, open_live_socket
from bench.messaging import bounded, machine, ms, percentile, profiled
from bench.server import Server, raise_open_files, running_server
from payam.storage import chats

GROUP_SIZE = 51
SENDERS = 20
PHASE_TIMEOUT = 300.0
MAX_PER_RATE = 5_000


@dataclass
class Setup:
    group: int
    members: list[str]  # tokens, the owner first
    pairs: list[tuple[str, int]] = field(default_factory=list)  # (sender token, direct chat)


# -- setup ----------------------------------------------------------------------------------------


async def create_group(data_dir: Path, user_ids: list[int]) -> int:
    db = database(data_dir)
    try:
        now = time.time()
        async with db.write() as conn:
            chat_id = await chats.create(
                conn,
                type_="group",
                title="bench group",
                direct=None,
                created_by=user_ids[0],
                now=now,
            )
            roles = [(user_ids[0], "owner")] + [(u, "member") for u in user_ids[1:]]
            await chats.add_members(conn, chat_id, roles, now=now, start_seq=0)
        return chat_id
    finally:
        await db.dispose()


async def open_direct_chats(server: Server, tokens: list[str], ids: list[int]) -> list[int]:
    """Sender k (token 2k) opens a direct chat with user 2k+1 over HTTP."""
    http = Http(server)
    made = []
    try:
        for k in range(0, len(tokens), 2):
            status, body = await http.request(
                "POST", "/v1/chats", tokens[k], {"type": "direct", "user_id": ids[k + 1]}
            )
            if status // 100 != 2:
                raise RuntimeError(f"opening a direct chat: {status} {body!r}")
            made.append(int(json.loads(body)["id"]))
    finally:
        http.close()
    return made


# -- measuring ------------------------------------------------------------------------------------


class Usage:
    """Server CPU (``/proc/<pid>/stat``) and this process's CPU over a phase."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.wall = time.perf_counter()
        self.server_cpu = sum(server.cpu_seconds())
        self.client_cpu = time.process_time()

    def report(self, count: int, what: str = "message") -> str:
        wall = time.perf_counter() - self.wall
        server = sum(self.server.cpu_seconds()) - self.server_cpu
        client = time.process_time() - self.client_cpu
        return (
            f"  server CPU {server / max(count, 1) * 1000:.3f} ms per {what} "
            f"({server / wall:.0%} of a core); load generator {client / wall:.0%} of a core; "
            f"load average {os.getloadavg()[0]:.1f}"
        )


def body(tag: str, n: int) -> dict[str, Any]:
    return {"client_id": f"{tag}-{n}", "text": f"bench message {n}: hello, how are you?"}


async def http_senders(
    server: Server, work: list[tuple[str, int]], per_sender: int, tag: str
) -> tuple[int, float, list[float]]:
    """Each (token, chat) sends ``per_sender`` messages, one request at a time, all at once."""

    async def run(k: int, token: str, chat_id: int) -> list[float]:
        http = Http(server)
        latencies = []
        try:
            for n in range(per_sender):
                t0 = time.perf_counter()
                status, answer = await http.request(
                    "POST", f"/v1/chats/{chat_id}/messages", token, body(f"{tag}{k}", n)
                )
                if status != 201:
                    raise RuntimeError(f"send: {status} {answer!r}")
                latencies.append(time.perf_counter() - t0)
        finally:
            http.close()
        return latencies

    t0 = time.perf_counter()
    async with asyncio.timeout(PHASE_TIMEOUT):
        results = await asyncio.gather(*(run(k, t, c) for k, (t, c) in enumerate(work)))
    wall = time.perf_counter() - t0
    latencies = [x for r in results for x in r]
    return len(latencies), wall, latencies


def rate_line(count: int, wall: float, latencies: list[float]) -> str:
    return (
        f"  {count} sent in {wall:.1f} s: {count / wall:,.1f} msgs/s; request p50 "
        f"{ms(percentile(latencies, 50))}, p99 {ms(percentile(latencies, 99))}"
    )


# -- plain authenticated reads -------------------------------------------------------------------


async def reads_phase(server: Server, setup: Setup, count: int) -> None:
    """GET /v1/me, a history page of 50, and the chat list: ``count`` of each, one at a time
    on one keep-alive connection, by a member of the group (run after the sends, so the page
    is full)."""
    token = setup.members[2]
    for name, path in (
        ("GET /v1/me", "/v1/me"),
        ("history page of 50", f"/v1/chats/{setup.group}/messages?limit=50"),
        ("chat list", "/v1/chats"),
    ):
        http = Http(server)
        latencies = []
        try:
            status, answer = await http.request("GET", path, token)  # warm
            if status != 200:
                raise RuntimeError(f"{path}: {status} {answer!r}")
            usage = Usage(server)
            for _ in range(count):
                t0 = time.perf_counter()
                await http.request("GET", path, token)
                latencies.append(time.perf_counter() - t0)
        finally:
            http.close()
        print(
            f"reads: {name}, {count} requests: p50 {ms(percentile(latencies, 50))}, "
            f"p99 {ms(percentile(latencies, 99))}"
        )
        print(usage.report(count, "request"))


# -- send to receive ------------------------------------------------------------------------------


class TimingSocket(LiveSocket):
    """Notes when each update frame arrives, by the client_id of its message."""

    def __init__(self, live: Live) -> None:
        super().__init__(live)
        self.arrivals: dict[bytes, float] = {}
        self.acks = 0

    def text(self, now: float, payload: bytes) -> None:
        if payload.startswith(b'{"type":"update"'):
            at = payload.find(b'"client_id":"')
            if at >= 0:
                start = at + 13
                self.arrivals[payload[start : payload.index(b'"', start)]] = now
        elif payload.startswith(b'{"type":"ack"'):
            self.acks += 1
        else:
            super().text(now, payload)


async def latency_phase(
    server: Server,
    setup: Setup,
    rates: list[float],
    seconds: float,
    connected: int,
    profile: Path | None,
) -> None:
    live = Live()

    async def open_one(token: str) -> TimingSocket:
        sock = await open_live_socket(server, token, live, factory=TimingSocket)
        assert isinstance(sock, TimingSocket)
        return sock

    sockets = await bounded(setup.members[:connected], 50, open_one)
    senders = sockets[1 : 1 + SENDERS]
    try:
        for rate in rates:
            total = min(MAX_PER_RATE, int(rate * seconds))
            for sock in sockets:
                sock.arrivals.clear()
            sent_at: dict[bytes, tuple[float, int]] = {}
            print(
                f"latency: {rate:,.0f} msgs/s into the {GROUP_SIZE}-member group over "
                f"{SENDERS} sockets, {total} messages, {connected} members connected"
            )
            usage = Usage(server)
            lag = 0.0
            with profiled(server, profile, f"latency-{rate:.0f}"):
                t0 = time.perf_counter()
                for i in range(total):
                    due = t0 + i / rate
                    delay = due - time.perf_counter()
                    if delay > 0.0005:
                        await asyncio.sleep(delay)
                    lag = max(lag, time.perf_counter() - due)
                    k = i % len(senders)
                    key = f"r{rate:.0f}-{k}-{i}".encode()
                    sent_at[key] = (time.perf_counter(), k)
                    senders[k].send(
                        0x1,
                        b'{"type":"send","chat_id":%d,"client_id":"%s","text":"%s"}'
                        % (setup.group, key, b"hello, are you there?"),
                    )
                # Wait until every connected member (the sender's own socket too) has every
                # message, or 30 s.
                expected = total * connected
                deadline = time.perf_counter() + 30
                while time.perf_counter() < deadline:
                    got = sum(len(s.arrivals) for s in sockets)
                    if got >= expected:
                        break
                    await asyncio.sleep(0.05)
            latencies = []
            for index, sock in enumerate(sockets):
                for key, arrived in sock.arrivals.items():
                    sent, k = sent_at.get(key, (None, -1))
                    if sent is not None and index != k + 1:
                        latencies.append(arrived - sent)
            print(
                f"  worst pacing lag {ms(lag)}; {len(latencies)} deliveries to other members; "
                f"send-to-receive p50 {ms(percentile(latencies, 50))}, "
                f"p99 {ms(percentile(latencies, 99))}, "
                f"max {ms(max(latencies, default=float('nan')))}"
            )
            print(usage.report(total))
    finally:
        for sock in sockets:
            sock.close()


# -- main -----------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> None:
    phases = set(args.only.split(","))
    profile = Path(args.profile) if args.profile else None
    extra_env = dict(item.split("=", 1) for item in args.server_env)
    print("command:", " ".join(["python -m bench.scenarios", *sys.argv[1:]]))
    print("machine:", machine())
    raise_open_files()
    with tempfile.TemporaryDirectory(prefix="payam-bench-") as tmp:
        data_dir = Path(tmp)
        count = GROUP_SIZE + 2 * SENDERS
        ids, tokens = await create_accounts(data_dir, count, list(range(count)))
        group = await create_group(data_dir, ids[:GROUP_SIZE])
        setup = Setup(group, [tokens[i] for i in range(GROUP_SIZE)])
        args_ = ["--workers", str(args.workers)] if args.workers > 1 else []
        with running_server(extra_env, data_dir=data_dir, args=args_) as server:
            direct_tokens = [tokens[i] for i in range(GROUP_SIZE, count)]
            direct = await open_direct_chats(server, direct_tokens, ids[GROUP_SIZE:count])
            setup.pairs = list(zip(direct_tokens[::2], direct, strict=True))
            if "sequential" in phases:
                print(f"sequential: {args.sends} sends into the {GROUP_SIZE}-member group, HTTP")
                usage = Usage(server)
                with profiled(server, profile, "sequential"):
                    sent = await http_senders(server, [(setup.members[1], group)], args.sends, "s")
                print(rate_line(*sent))
                print(usage.report(sent[0]))
            if "group" in phases:
                print(
                    f"group: {SENDERS} senders x {args.per_sender} into the "
                    f"{GROUP_SIZE}-member group, HTTP"
                )
                usage = Usage(server)
                work = [(t, group) for t in setup.members[1 : 1 + SENDERS]]
                with profiled(server, profile, "group"):
                    sent = await http_senders(server, work, args.per_sender, "g")
                print(rate_line(*sent))
                print(usage.report(sent[0]))
            if "direct" in phases:
                print(f"direct: {SENDERS} senders x {args.per_sender}, each its own direct chat")
                usage = Usage(server)
                with profiled(server, profile, "direct"):
                    sent = await http_senders(server, setup.pairs, args.per_sender, "d")
                print(rate_line(*sent))
                print(usage.report(sent[0]))
            if "reads" in phases:
                await reads_phase(server, setup, args.reads)
            if "latency" in phases:
                rates = [float(r) for r in args.rates.split(",")]
                await latency_phase(server, setup, rates, args.seconds, args.connected, profile)


def run(args: argparse.Namespace) -> None:
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        asyncio.run(main(args))
    else:
        uvloop.run(main(args))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="sequential,group,direct,reads,latency")
    parser.add_argument("--reads", type=int, default=500, help="requests of each read")
    parser.add_argument("--sends", type=int, default=500)
    parser.add_argument("--per-sender", type=int, default=100)
    parser.add_argument("--rates", default="5,20,100,1000")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connected", type=int, default=GROUP_SIZE)
    parser.add_argument("--profile", help="write py-spy raw profiles of the server here")
    parser.add_argument(
        "--workers", type=int, default=1, help="serve --workers N (PostgreSQL and Redis only)"
    )
    parser.add_argument(
        "--server-env", action="append", default=[], help="K=V for the server's environment"
    )
    with contextlib.suppress(KeyboardInterrupt):
        run(parser.parse_args())
