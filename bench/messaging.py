"""Messaging figures: acknowledged sends/s over the WebSocket and over HTTP, send-to-receive
latency at a paced rate, and the server's memory with many idle WebSocket connections.

Drives a real ``payam serve`` (SQLite default, durable commits, rate limits off) on loopback.
Accounts and their devices are written through the storage layer before the server starts;
direct chats are opened over HTTP. Senders form a ring: sender k writes into its direct chat
with sender k+1, so every socket also receives, live, what its neighbour sends. Usage:

    python -m bench.messaging [--senders 100] [--seconds 10] [--window 1] [--rate 1000]
                              [--idle 10000] [--only ws,http,latency,idle,reads] [--profile DIR]

The load generator is this one asyncio process (uvloop when installed): raw ``websockets``
clients and a minimal HTTP/1.1 client writing pre-built requests, so it takes as little of the
two cores as it can from the server. Every loop is bounded by a count and a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench.server import Server, raise_open_files, running_server
from payam.config import Settings
from payam.domain.keys import Keys, new_token, token_hash
from payam.storage import devices, migrate, users
from payam.storage.database import Database

T = TypeVar("T")
CONTENT_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)
# A phase that has not finished by then is broken, not slow.
PHASE_TIMEOUT = 300.0


@dataclass(frozen=True, slots=True)
class Account:
    user_id: int
    token: str


@dataclass
class Sender:
    account: Account
    chat_id: int  # the direct chat with the next sender in the ring
    ws: ClientConnection | None = None
    sent: int = 0
    acked: int = 0
    latencies: list[float] = field(default_factory=list)


# -- setup ----------------------------------------------------------------------------------------


async def create_accounts(data_dir: Path, count: int) -> list[Account]:
    """``count`` users with one signed-in device each, through the storage layer."""
    settings = Settings(data_dir=data_dir)
    db = Database(settings.resolved_database_url(), sqlite_synchronous=settings.sqlite_synchronous)
    try:
        await migrate.upgrade(db)
        keys = Keys(settings.secret())
        now = time.time()
        accounts = []
        async with db.write() as conn:
            for i in range(count):
                phone = f"+98912{i:07d}"
                user = await users.create(
                    conn, phone=phone, phone_hash=keys.phone_hash(phone), name=f"bench {i}", now=now
                )
                token = new_token()
                await devices.create(
                    conn,
                    user_id=user.id,
                    token_hash=token_hash(token),
                    model="bench",
                    os="Linux",
                    app_version="0",
                    ip="127.0.0.1",
                    now=now,
                )
                accounts.append(Account(user.id, token))
        return accounts
    finally:
        await db.dispose()


async def open_ring(server: Server, accounts: list[Account]) -> list[Sender]:
    """Sender k gets the direct chat between accounts k and k+1 (mod n)."""
    senders = []
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        for k, account in enumerate(accounts):
            peer = accounts[(k + 1) % len(accounts)]
            response = await client.post(
                "/v1/chats",
                json={"type": "direct", "user_id": peer.user_id},
                headers={"Authorization": f"Bearer {account.token}"},
            )
            response.raise_for_status()
            senders.append(Sender(account, response.json()["id"]))
    return senders


async def open_socket(server: Server, account: Account) -> ClientConnection:
    """A live socket: connected, resumed from 0, and past its ``synced`` frame."""
    ws = await connect(
        server.ws_url,
        additional_headers={"Authorization": f"Bearer {account.token}"},
        ping_interval=None,
        max_queue=None,
        open_timeout=60,
    )
    await ws.send('{"type":"resume","after":0}')
    async with asyncio.timeout(60):
        while True:
            raw = await ws.recv()
            if isinstance(raw, str) and raw.startswith('{"type":"synced"'):
                return ws


async def bounded(items: list[T], limit: int, work: Callable[[T], Awaitable[Any]]) -> list[Any]:
    """``work`` on every item, at most ``limit`` at a time, results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(item: T) -> Any:
        async with gate:
            return await work(item)

    return await asyncio.gather(*(one(item) for item in items))


# -- measuring ------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


@contextlib.contextmanager
def profiled(server: Server, profile_dir: Path | None, name: str) -> Iterator[None]:
    """Sample the server with ``py-spy record -f raw`` for the duration of the block."""
    if profile_dir is None:
        yield
        return
    profile_dir.mkdir(parents=True, exist_ok=True)
    out = profile_dir / f"{name}.txt"
    spy = subprocess.Popen(
        [
            *("py-spy", "record", "--format", "raw", "--rate", "250", "--nonblocking"),
            *("--pid", str(server.pid), "--output", str(out)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)  # let py-spy attach before the load starts
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(30)
        except subprocess.TimeoutExpired:
            spy.kill()
        print(f"  profile: {out}")


class Usage:
    """CPU used by the server and by this load generator over a phase. CPU time per message
    says more than a rate when other work shares the machine."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.wall = time.perf_counter()
        self.server_cpu = server.cpu_seconds()
        self.client_cpu = time.process_time()

    def report(self, messages: int) -> str:
        wall = time.perf_counter() - self.wall
        user, system = (
            now - before
            for now, before in zip(self.server.cpu_seconds(), self.server_cpu, strict=True)
        )
        client = time.process_time() - self.client_cpu
        server = user + system
        per = f", {server / messages * 1e6:.0f} µs per message" if messages else ""
        return (
            f"server CPU {server / wall:.0%} of a core (system {system / server:.0%}){per}; "
            f"load generator {client / wall:.0%}; load average {os.getloadavg()[0]:.1f}"
        )


# -- (a) WebSocket sends ----------------------------------------------------------------------


def send_frame(sender: Sender, tag: str, n: int, text: str) -> str:
    return (
        f'{{"type":"send","chat_id":{sender.chat_id},"client_id":"{tag}{sender.account.user_id}'
        f'-{n}","text":"{text}"}}'
    )


async def ws_sends(senders: list[Sender], seconds: float, window: int) -> int:
    """Each sender keeps ``window`` sends in flight and sends the next as an ack comes in."""
    stop_at = time.perf_counter() + seconds

    async def run(sender: Sender) -> None:
        ws = sender.ws
        assert ws is not None
        started: dict[int, float] = {}

        async def send_next() -> None:
            started[sender.sent] = time.perf_counter()
            await ws.send(send_frame(sender, "w", sender.sent, "hello over the socket"))
            sender.sent += 1

        for _ in range(window):
            await send_next()
        while sender.acked < sender.sent:
            raw = await ws.recv()
            assert isinstance(raw, str)
            if raw.startswith('{"type":"ack"'):
                now = time.perf_counter()
                # client_id is "w<user>-<n>": the ack says which send it answers.
                n = int(raw.split('"client_id":"', 1)[1].split('"', 1)[0].rsplit("-", 1)[1])
                sender.latencies.append(now - started.pop(n))
                sender.acked += 1
                if now < stop_at:
                    await send_next()
            elif raw.startswith('{"type":"error"'):
                raise RuntimeError(raw)

    t0 = time.perf_counter()
    async with asyncio.timeout(seconds + PHASE_TIMEOUT):
        await asyncio.gather(*(run(s) for s in senders))
    wall = time.perf_counter() - t0
    acked = sum(s.acked for s in senders)
    latencies = [x for s in senders for x in s.latencies]
    print(
        f"  {acked} acknowledged in {wall:.1f} s: {acked / wall:,.0f} sends/s; "
        f"send-to-ack p50 {ms(percentile(latencies, 50))}, p99 {ms(percentile(latencies, 99))}"
    )
    return acked


# -- (b) HTTP sends -------------------------------------------------------------------------------


async def http_requests(
    server: Server, senders: list[Sender], seconds: float, request: Callable[[Sender], bytes]
) -> list[float]:
    """Each sender on its own keep-alive connection, one request at a time, each answered 2xx;
    the latencies of all of them."""
    stop_at = time.perf_counter() + seconds

    async def run(sender: Sender) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                writer.write(request(sender))
                sender.sent += 1
                headers = await reader.readuntil(b"\r\n\r\n")
                found = CONTENT_LENGTH.search(headers)
                answer = await reader.readexactly(int(found.group(1)) if found else 0)
                if headers[9:10] != b"2":
                    raise RuntimeError((headers + answer).decode())
                sender.latencies.append(time.perf_counter() - t0)
                sender.acked += 1
        finally:
            writer.close()

    for sender in senders:
        sender.sent = sender.acked = 0
        sender.latencies = []
    async with asyncio.timeout(seconds + PHASE_TIMEOUT):
        await asyncio.gather(*(run(s) for s in senders))
    return [x for s in senders for x in s.latencies]


async def http_sends(server: Server, senders: list[Sender], seconds: float) -> int:
    """(b): POST /v1/chats/{id}/messages."""

    def request(sender: Sender) -> bytes:
        body = (
            f'{{"client_id":"h{sender.account.user_id}-{sender.sent}","text":"hello over HTTP"}}'
        ).encode()
        return (
            f"POST /v1/chats/{sender.chat_id}/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {sender.account.token}\r\nUser-Agent: payam-bench/0\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    t0 = time.perf_counter()
    latencies = await http_requests(server, senders, seconds, request)
    wall = time.perf_counter() - t0
    print(
        f"  {len(latencies)} created in {wall:.1f} s: {len(latencies) / wall:,.0f} sends/s; "
        f"request p50 {ms(percentile(latencies, 50))}, p99 {ms(percentile(latencies, 99))}"
    )
    return len(latencies)


async def http_reads(server: Server, senders: list[Sender], seconds: float) -> int:
    """(e): GET /v1/me, the cheapest authenticated request: what every request pays."""

    def request(sender: Sender) -> bytes:
        return (
            f"GET /v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: payam-bench/0\r\n"
            f"Authorization: Bearer {sender.account.token}\r\n\r\n"
        ).encode()

    t0 = time.perf_counter()
    latencies = await http_requests(server, senders, seconds, request)
    wall = time.perf_counter() - t0
    print(
        f"  {len(latencies)} answered in {wall:.1f} s: {len(latencies) / wall:,.0f} requests/s; "
        f"p50 {ms(percentile(latencies, 50))}, p99 {ms(percentile(latencies, 99))}"
    )
    return len(latencies)


# -- (c) latency at a paced rate ------------------------------------------------------------------


async def drain(senders: list[Sender], quiet: float = 0.5) -> None:
    """Read what earlier phases left on the sockets until each has been quiet for a while."""

    async def one(sender: Sender) -> None:
        assert sender.ws is not None
        with contextlib.suppress(TimeoutError):
            for _ in range(1_000_000):
                await asyncio.wait_for(sender.ws.recv(), quiet)

    await asyncio.gather(*(one(s) for s in senders))


async def paced_latency(senders: list[Sender], rate: float, seconds: float) -> int:
    """Open loop: ``rate`` sends/s spread over the senders, whatever the acks do; each
    recipient (the next socket in the ring) notes when the update reaches it."""
    total = int(rate * seconds)
    sent_at: dict[str, float] = {}
    received: list[float] = []
    acks: list[float] = []
    done = asyncio.Event()
    lag = 0.0

    async def listen(sender: Sender) -> None:
        ws = sender.ws
        assert ws is not None
        me = sender.account.user_id
        while True:
            raw = await ws.recv()
            now = time.perf_counter()
            assert isinstance(raw, str)
            if raw.startswith('{"type":"update"'):
                update = json.loads(raw)
                message = update.get("message") or {}
                key = message.get("client_id", "")
                if message.get("sender_id") != me and key.startswith("p"):
                    received.append(now - sent_at[key])
                    if len(received) == total:
                        done.set()
            elif raw.startswith('{"type":"ack"'):
                key = raw.split('"client_id":"', 1)[1].split('"', 1)[0]
                acks.append(now - sent_at[key])
            elif raw.startswith('{"type":"error"'):
                raise RuntimeError(raw)

    listeners = [asyncio.create_task(listen(s)) for s in senders]
    t0 = time.perf_counter()
    try:
        for i in range(total):
            due = t0 + i / rate
            delay = due - time.perf_counter()
            if delay > 0.0005:
                await asyncio.sleep(delay)
            lag = max(lag, time.perf_counter() - due)
            sender = senders[i % len(senders)]
            key = f"p{sender.account.user_id}-{sender.sent}"
            sender.sent += 1
            sent_at[key] = time.perf_counter()
            assert sender.ws is not None
            await sender.ws.send(
                f'{{"type":"send","chat_id":{sender.chat_id},"client_id":"{key}",'
                '"text":"hello, are you there?"}'
            )
        sending = time.perf_counter() - t0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 30)
    finally:
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
    print(
        f"  {total} sent in {sending:.1f} s ({total / sending:,.0f}/s, worst pacing lag "
        f"{ms(lag)}), {len(received)} received"
    )
    print(
        f"  send-to-receive p50 {ms(percentile(received, 50))}, "
        f"p99 {ms(percentile(received, 99))}, max {ms(max(received, default=float('nan')))}; "
        f"send-to-ack p50 {ms(percentile(acks, 50))}, p99 {ms(percentile(acks, 99))}"
    )
    return total


# -- (d) idle connections -------------------------------------------------------------------------


async def idle_connections(server: Server, accounts: list[Account]) -> None:
    await asyncio.sleep(1)
    before = server.rss_bytes()
    t0 = time.perf_counter()
    sockets = await bounded(accounts, 100, lambda a: open_socket(server, a))
    opened = time.perf_counter() - t0
    await asyncio.sleep(3)
    after = server.rss_bytes()
    # Still alive and answering: a ping frame on a sample of the sockets.
    sample = sockets[:: max(1, len(sockets) // 100)]
    for ws in sample:
        await ws.send('{"type":"ping"}')
    async with asyncio.timeout(30):
        for ws in sample:
            while await ws.recv() != '{"type":"pong"}':
                pass
    print(f"  {len(sockets)} sockets opened and synced in {opened:.1f} s; {len(sample)} pinged")
    print(
        f"  server RSS {before / 2**20:,.0f} MiB before, {after / 2**20:,.0f} MiB with "
        f"{len(sockets)} idle sockets ({(after - before) / len(sockets) / 1024:.1f} KiB each)"
    )
    await bounded(sockets, 500, lambda ws: ws.close())
    print_collections(server)


def print_collections(server: Server) -> None:
    """The full garbage collections the server logged as slow (realtime/collector.py)."""
    log = server.data_dir / "server.log"
    pauses = [
        float(line.split(" took ", 1)[1].split(" ms", 1)[0])
        for line in (log.read_text().splitlines() if log.exists() else [])
        if "full garbage collection took" in line
    ]
    print(
        f"  full collections over 50 ms: {len(pauses)}"
        + (f", longest {max(pauses):.0f} ms: {sorted(pauses)}" if pauses else "")
    )


# -- main -----------------------------------------------------------------------------------------


def machine() -> str:
    meminfo = Path("/proc/meminfo").read_text().split()
    ram = int(meminfo[meminfo.index("MemTotal:") + 1]) / 2**20
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return (
        f"{os.cpu_count()} cores, {ram:.0f} GiB RAM, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, payam {commit or '?'}"
    )


async def main(args: argparse.Namespace) -> None:
    phases = set(args.only.split(","))
    profile = Path(args.profile) if args.profile else None
    print("command:", " ".join(["python -m bench.messaging", *sys.argv[1:]]))
    print("machine:", machine())
    print(f"open files limit: {raise_open_files()}")

    if phases & {"ws", "http", "latency", "reads"}:
        with tempfile.TemporaryDirectory(prefix="payam-bench-") as tmp:
            accounts = await create_accounts(Path(tmp), args.senders)
            with running_server(data_dir=Path(tmp)) as server:
                senders = await open_ring(server, accounts)
                if "ws" in phases or "latency" in phases:
                    sockets = await bounded(senders, 50, lambda s: open_socket(server, s.account))
                    for sender, ws in zip(senders, sockets, strict=True):
                        sender.ws = ws
                if "ws" in phases:
                    print(
                        f"(a) WebSocket sends: {args.senders} senders, window {args.window}, "
                        f"{args.seconds:.0f} s, every socket live"
                    )
                    usage = Usage(server)
                    with profiled(server, profile, "ws"):
                        count = await ws_sends(senders, args.seconds, args.window)
                    print("  " + usage.report(count))
                if "http" in phases:
                    print(
                        f"(b) HTTP sends: {args.senders} senders, one request at a time each, "
                        f"{args.seconds:.0f} s"
                    )
                    usage = Usage(server)
                    with profiled(server, profile, "http"):
                        count = await http_sends(server, senders, args.seconds)
                    print("  " + usage.report(count))
                if "reads" in phases:
                    print(
                        f"(e) authenticated reads: GET /v1/me, {args.senders} clients, each "
                        f"its own account, one request at a time, {args.seconds:.0f} s"
                    )
                    usage = Usage(server)
                    with profiled(server, profile, "reads"):
                        count = await http_reads(server, senders, args.seconds)
                    print("  " + usage.report(count).replace("per message", "per request"))
                if "latency" in phases:
                    await drain(senders)
                    print(
                        f"(c) latency: {args.rate:,.0f} sends/s paced over {args.senders} "
                        f"sockets for {args.seconds:.0f} s, recipients live"
                    )
                    usage = Usage(server)
                    with profiled(server, profile, "latency"):
                        count = await paced_latency(senders, args.rate, args.seconds)
                    print("  " + usage.report(count))
                await asyncio.gather(*(s.ws.close() for s in senders if s.ws))

    if "idle" in phases:
        print(f"(d) memory: {args.idle:,} idle WebSocket connections (resumed, live)")
        with tempfile.TemporaryDirectory(prefix="payam-bench-") as tmp:
            accounts = await create_accounts(Path(tmp), args.idle)
            with (
                running_server(data_dir=Path(tmp)) as server,
                profiled(server, profile, "idle"),
            ):
                await idle_connections(server, accounts)


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
    parser.add_argument("--senders", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--window", type=int, default=1, help="sends in flight per socket")
    parser.add_argument("--rate", type=float, default=1000.0, help="paced sends/s for (c)")
    parser.add_argument("--idle", type=int, default=10_000, help="idle sockets for (d)")
    parser.add_argument("--only", default="ws,http,latency,idle,reads")
    parser.add_argument("--profile", help="write py-spy raw profiles of the server here")
    run(parser.parse_args())
