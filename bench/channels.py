"""Channel figures (issue #4, "Performance"): the time to accept a post in a channel of
100,000 subscribers against one of 10, how long a post takes to reach 5,000 subscribers
connected on WebSockets, and opening a channel's latest 50 posts with their view counts.

Drives a real ``payam serve`` (SQLite default, durable commits, rate limits off) on loopback.
Accounts, their devices and the channels' subscribers are written through the storage layer
(bulk inserts); the owner creates both channels over HTTP on a first server, which is then
stopped so the subscribers are added with nobody else writing, and the figures are taken on
a second, fresh server. Usage:

    python -m bench.channels [--subscribers 100000] [--small 10] [--posts 300]
                             [--live 5000] [--live-posts 20] [--reads 1000]
                             [--only post,live,read] [--profile DIR]

(1) post: the owner posts ``POST /v1/chats/{id}/messages`` one at a time, alternating
between the two channels, no subscriber connected; each post's latency and the server CPU it
took (nanoseconds from ``/proc/<pid>/task/*/schedstat``, every thread of the server).
(2) live: ``--live`` subscribers of the big channel each hold a WebSocket (resumed, past
``synced``); the owner posts, and each socket notes when the ``{"type": "channel"}`` frame
arrives; the figure is the last of them, counted from the ``POST`` being sent and from its
``201``. (3) read: ``GET /v1/chats/{id}/messages?limit=50`` on the big channel, one request
at a time, alternating a subscriber and a user who never subscribed.

The load generator is this one asyncio process (uvloop when installed). Its WebSocket
clients are a minimal protocol (handshake, masked client frames, a frame parser that only
timestamps text frames) so that 5,000 sockets take as little of the two cores as they can
from the server; each phase prints the load generator's CPU beside the server's.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import insert, select

from bench.messaging import CONTENT_LENGTH, Usage, bounded, machine, ms, percentile, profiled
from bench.server import Server, raise_open_files, running_server
from payam.config import Settings
from payam.domain.keys import Keys, new_token, token_hash
from payam.storage import chats, migrate
from payam.storage.database import Database
from payam.storage.tables import devices, users

PHASE_TIMEOUT = 300.0
INSERT_CHUNK = 5_000


@dataclass(frozen=True, slots=True)
class Setup:
    owner: str  # tokens
    subscribers: list[str]  # of the big channel: max(--live, 20) of them
    outsider: str  # signed in, subscribed to nothing
    big: int = 0  # chat ids
    small: int = 0


# -- setup ----------------------------------------------------------------------------------------


def database(data_dir: Path) -> Database:
    settings = Settings(data_dir=data_dir)
    return Database(
        settings.resolved_database_url(),
        sqlite_synchronous=settings.sqlite_synchronous,
        schema=settings.database_schema,
    )


async def create_accounts(
    data_dir: Path, count: int, signed_in: list[int]
) -> tuple[list[int], dict[int, str]]:
    """``count`` users in bulk; those at the ``signed_in`` positions get a device and a
    token. Returns the user ids in order and the tokens by position."""
    settings = Settings(data_dir=data_dir)
    db = database(data_dir)
    try:
        await migrate.upgrade(db)
        keys = Keys(settings.secret())
        now = time.time()
        async with db.write() as conn:
            for start in range(0, count, INSERT_CHUNK):
                rows = []
                for i in range(start, min(count, start + INSERT_CHUNK)):
                    phone = f"+98912{i:07d}"
                    rows.append(
                        {
                            "phone": phone,
                            "phone_hash": keys.phone_hash(phone),
                            "name": f"bench {i}",
                            "created_at": now,
                            "updated_at": now,
                        }
                    )
                await conn.execute(insert(users), rows)
            ids = list((await conn.execute(select(users.c.id).order_by(users.c.id))).scalars())
            tokens = {i: new_token() for i in signed_in}
            await conn.execute(
                insert(devices),
                [
                    {
                        "user_id": ids[i],
                        "token_hash": token_hash(token),
                        "model": "bench",
                        "os": "Linux",
                        "app_version": "0",
                        "created_at": now,
                        "last_active_at": now,
                        "last_ip": "127.0.0.1",
                    }
                    for i, token in tokens.items()
                ],
            )
        return ids, tokens
    finally:
        await db.dispose()


async def create_channels(server: Server, owner: str) -> tuple[int, int]:
    """The owner creates both channels over HTTP, as a client would."""
    made = []
    for handle in ("bench_big", "bench_small"):
        status, body = await one_request(
            server,
            "POST",
            "/v1/chats",
            owner,
            {"type": "channel", "title": handle.replace("_", " "), "handle": handle},
        )
        if status != 201:
            raise RuntimeError(f"creating a channel: {status} {body!r}")
        made.append(int(json.loads(body)["id"]))
    return made[0], made[1]


async def subscribe(data_dir: Path, chat_id: int, user_ids: list[int]) -> None:
    """Subscribers in bulk, through storage/chats.add_members (which counts them)."""
    db = database(data_dir)
    try:
        now = time.time()
        for start in range(0, len(user_ids), INSERT_CHUNK):
            async with db.write() as conn:
                await chats.add_members(
                    conn,
                    chat_id,
                    [(u, "subscriber") for u in user_ids[start : start + INSERT_CHUNK]],
                    now=now,
                    start_seq=0,
                )
    finally:
        await db.dispose()


# -- a minimal HTTP/1.1 client --------------------------------------------------------------------


class Http:
    """One keep-alive connection, one request at a time."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, token: str, body: dict[str, Any] | None = None
    ) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.server.port)
        assert self.reader is not None
        data = json.dumps(body).encode() if body is not None else b""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: payam-bench/0\r\n"
            f"Authorization: Bearer {token}\r\n"
        )
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        self.writer.write((head + "\r\n").encode() + data)
        headers = await self.reader.readuntil(b"\r\n\r\n")
        found = CONTENT_LENGTH.search(headers)
        answer = await self.reader.readexactly(int(found.group(1)) if found else 0)
        return int(headers[9:12]), answer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def one_request(
    server: Server, method: str, path: str, token: str, body: dict[str, Any] | None = None
) -> tuple[int, bytes]:
    http = Http(server)
    try:
        return await http.request(method, path, token, body)
    finally:
        http.close()


# -- a minimal WebSocket client -------------------------------------------------------------------


class Live:
    """What every socket of phase (2) shares: how many channel frames arrived in all, and an
    event set when that reaches ``target``."""

    def __init__(self) -> None:
        self.received = 0
        self.target = -1
        self.done = asyncio.Event()


class LiveSocket(asyncio.Protocol):
    """A WebSocket client that does just enough: the upgrade, masked frames out, pongs, and
    ``(arrival time, payload)`` of every channel frame in."""

    def __init__(self, live: Live) -> None:
        self.live = live
        self.transport: asyncio.WriteTransport | None = None
        self.buffer = bytearray()
        self.upgraded = False
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.synced: asyncio.Future[None] = loop.create_future()
        self.frames: list[tuple[float, bytes]] = []
        self.errors: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but write the same way.
        self.transport = cast(asyncio.WriteTransport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        for future in (self.opened, self.synced):
            if not future.done():
                future.set_exception(ConnectionError(f"socket closed: {exc!r}"))

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if b" 101 " not in self.buffer[:end]:
                self.opened.set_exception(ConnectionError(bytes(self.buffer[:end]).decode()))
                return
            del self.buffer[: end + 4]
            self.upgraded = True
            self.opened.set_result(None)
        buffer = self.buffer
        while len(buffer) >= 2:
            length, start = buffer[1] & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, start = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + length:
                return
            opcode = buffer[0] & 0x0F
            payload = bytes(buffer[start : start + length])
            del buffer[: start + length]
            if opcode == 0x1:
                self.text(now, payload)
            elif opcode == 0x9:
                self.send(0xA, payload)

    def text(self, now: float, payload: bytes) -> None:
        if payload.startswith(b'{"type":"channel"'):
            self.frames.append((now, payload))
            live = self.live
            live.received += 1
            if live.received == live.target:
                live.done.set()
        elif payload.startswith(b'{"type":"synced"'):
            if not self.synced.done():
                self.synced.set_result(None)
        elif payload.startswith(b'{"type":"error"'):
            self.errors.append(payload)

    def send(self, opcode: int, payload: bytes) -> None:
        assert self.transport is not None
        mask = os.urandom(4)
        size = len(payload)
        head = bytes([0x80 | opcode])
        if size < 126:
            head += bytes([0x80 | size])
        else:
            head += bytes([0x80 | 126]) + size.to_bytes(2, "big")
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(head + mask + masked)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_live_socket(
    server: Server,
    token: str,
    live: Live,
    factory: Callable[[Live], LiveSocket] = LiveSocket,
) -> LiveSocket:
    loop = asyncio.get_running_loop()
    transport, sock = await loop.create_connection(lambda: factory(live), "127.0.0.1", server.port)
    # uvloop may call connection_made only after this returns.
    sock.connection_made(transport)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.transport.write(
        (
            f"GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    async with asyncio.timeout(60):
        await sock.opened
        sock.send(0x1, b'{"type":"resume","after":0}')
        await sock.synced
    return sock


# -- server CPU per request -----------------------------------------------------------------------


def cpu_ns(server: Server) -> int:
    """CPU time every thread of the server has run so far, in nanoseconds (schedstat)."""
    total = 0
    for task in Path(f"/proc/{server.pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            total += int((task / "schedstat").read_text().split()[0])
    return total


@dataclass
class Samples:
    latencies: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def line(self, name: str) -> str:
        return (
            f"  {name}: {len(self.latencies)} requests; latency p50 "
            f"{ms(percentile(self.latencies, 50))}, p99 {ms(percentile(self.latencies, 99))}, "
            f"max {ms(max(self.latencies, default=float('nan')))}; server CPU p50 "
            f"{ms(percentile(self.cpu, 50))}, p99 {ms(percentile(self.cpu, 99))}"
        )


async def timed(
    server: Server,
    http: Http,
    samples: Samples,
    method: str,
    path: str,
    token: str,
    body: dict[str, Any] | None = None,
) -> bytes:
    before = cpu_ns(server)
    t0 = time.perf_counter()
    status, answer = await http.request(method, path, token, body)
    samples.latencies.append(time.perf_counter() - t0)
    samples.cpu.append((cpu_ns(server) - before) / 1e9)
    if status // 100 != 2:
        raise RuntimeError(f"{method} {path}: {status} {answer!r}")
    return answer


# -- (1) accepting a post -------------------------------------------------------------------------


def post_body(tag: str, n: int) -> dict[str, Any]:
    return {"client_id": f"{tag}-{n}", "text": f"bench post {n}: a channel post of a few words"}


async def post_phase(server: Server, setup: Setup, posts: int) -> None:
    http = Http(server)
    big, small = Samples(), Samples()
    try:
        for n in range(posts):
            # Alternate which channel goes first, so neither always follows the other.
            order = [(setup.big, big, "b"), (setup.small, small, "s")]
            for chat_id, samples, tag in order if n % 2 else order[::-1]:
                await timed(
                    server,
                    http,
                    samples,
                    "POST",
                    f"/v1/chats/{chat_id}/messages",
                    setup.owner,
                    post_body(f"p{tag}", n),
                )
    finally:
        http.close()
    print(big.line(f"big channel ({setup.big})"))
    print(small.line(f"small channel ({setup.small})"))
    ratio = percentile(big.latencies, 50) / percentile(small.latencies, 50)
    cpu_ratio = percentile(big.cpu, 50) / percentile(small.cpu, 50)
    print(f"  big / small: latency p50 {ratio:.2f}x, server CPU p50 {cpu_ratio:.2f}x")


# -- (2) live delivery ----------------------------------------------------------------------------


async def live_phase(
    server: Server, setup: Setup, count: int, posts: int, profile: Path | None
) -> None:
    live = Live()
    t0 = time.perf_counter()
    sockets = await bounded(
        setup.subscribers[:count], 100, lambda token: open_live_socket(server, token, live)
    )
    print(
        f"  {len(sockets)} sockets opened, resumed and synced in {time.perf_counter() - t0:.1f} s"
    )
    await asyncio.sleep(2)  # let the server settle after the connection storm
    http = Http(server)
    sent: list[tuple[int, float, float]] = []  # message id, request sent, 201 received
    missing = 0
    cpu: list[float] = []  # the server's, from the POST to the last frame delivered
    usage = Usage(server)
    try:
        with profiled(server, profile, "live"):
            for n in range(posts):
                live.target = live.received + len(sockets)
                live.done.clear()
                before = cpu_ns(server)
                t_sent = time.perf_counter()
                status, answer = await http.request(
                    "POST", f"/v1/chats/{setup.big}/messages", setup.owner, post_body("live", n)
                )
                t_accepted = time.perf_counter()
                if status != 201:
                    raise RuntimeError(f"post: {status} {answer!r}")
                sent.append((int(json.loads(answer)["id"]), t_sent, t_accepted))
                try:
                    async with asyncio.timeout(30):
                        await live.done.wait()
                except TimeoutError:
                    missing += live.target - live.received
                    live.received = live.target
                cpu.append((cpu_ns(server) - before) / 1e9)
                await asyncio.sleep(0.3)
        print("  " + usage.report(posts * len(sockets)).replace("per message", "per frame"))
    finally:
        http.close()
    arrivals: dict[int, list[float]] = {message_id: [] for message_id, _, _ in sent}
    for sock in sockets:
        for at, payload in sock.frames:
            frame = json.loads(payload)
            message_id = frame.get("message", {}).get("id")
            if frame.get("chat_id") == setup.big and message_id in arrivals:
                arrivals[message_id].append(at)
    errors = sum(len(sock.errors) for sock in sockets)
    answered, first, median, last = [], [], [], []
    before_201 = 0
    for message_id, t_sent, t_accepted in sent:
        times = sorted(arrivals[message_id])
        answered.append(t_accepted - t_sent)
        if not times:
            continue
        first.append(times[0] - t_sent)
        median.append(times[len(times) // 2] - t_sent)
        last.append(times[-1] - t_sent)
        before_201 += times[-1] < t_accepted
    got = sum(len(times) for times in arrivals.values())
    print(
        f"  {posts} posts, {got} of {posts * len(sockets)} frames received "
        f"({missing} missing, {errors} error frames)"
    )
    print(
        f"  the post's 201, with {len(sockets)} sockets connected: p50 "
        f"{ms(percentile(answered, 50))}, max {ms(max(answered))}; every socket had the frame "
        f"before the 201 came back for {before_201} of {len(last)} posts"
    )
    print(
        f"  from the POST sent to the frame on the last of {len(sockets)} sockets: p50 "
        f"{ms(percentile(last, 50))}, max {ms(max(last))} (first socket p50 "
        f"{ms(percentile(first, 50))}, median socket p50 {ms(percentile(median, 50))})"
    )
    print(
        f"  server CPU per post, to its 201 and the last frame: p50 {ms(percentile(cpu, 50))}, "
        f"max {ms(max(cpu))} ({percentile(cpu, 50) / len(sockets) * 1e6:.0f} µs per socket)"
    )
    print("  last socket, post by post: " + ", ".join(f"{x * 1000:.0f}" for x in last) + " ms")
    for sock in sockets:
        sock.close()


# -- (3) reading the latest posts -----------------------------------------------------------------


async def read_phase(server: Server, setup: Setup, reads: int) -> None:
    path = f"/v1/chats/{setup.big}/messages?limit=50"
    status, answer = await one_request(server, "GET", path, setup.outsider)
    if status != 200:
        raise RuntimeError(f"history: {status} {answer!r}")
    # A full page (when run without the post phase, the channel is empty).
    for n in range(50 - len(json.loads(answer)["messages"])):
        await one_request(
            server, "POST", f"/v1/chats/{setup.big}/messages", setup.owner, post_body("r", n)
        )
    status, answer = await one_request(server, "GET", path, setup.outsider)
    ids = [m["id"] for m in json.loads(answer)["messages"]]
    # View counts that are not all zero: a few subscribers report the latest posts.
    for token in setup.subscribers[:20]:
        status, answer = await one_request(
            server, "POST", f"/v1/chats/{setup.big}/views", token, {"message_ids": ids}
        )
        if status // 100 != 2:
            print(f"  (views not reported: {status} {answer[:200]!r})")
            break
    subscriber, outsider = Samples(), Samples()
    http = Http(server)
    usage = Usage(server)
    try:
        for n in range(reads):
            token, samples = (
                (setup.subscribers[0], subscriber) if n % 2 else (setup.outsider, outsider)
            )
            answer = await timed(server, http, samples, "GET", path, token)
        shown = json.loads(answer)["messages"]
    finally:
        http.close()
    print(f"  {len(shown)} posts per page, views {sum(m.get('views', 0) for m in shown)} in all")
    both = Samples(subscriber.latencies + outsider.latencies, subscriber.cpu + outsider.cpu)
    print(both.line("all reads"))
    print(subscriber.line("a subscriber"))
    print(outsider.line("a non-subscriber"))
    print("  " + usage.report(reads).replace("per message", "per request"))


# -- main -----------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> None:
    phases = set(args.only.split(","))
    profile = Path(args.profile) if args.profile else None
    print("command:", " ".join(["python -m bench.channels", *sys.argv[1:]]))
    print("machine:", machine())
    print(f"open files limit: {raise_open_files()}")
    live = args.live if "live" in phases else 0
    signed = max(live, 20)
    with tempfile.TemporaryDirectory(prefix="payam-bench-") as tmp:
        data_dir = Path(tmp)
        t0 = time.perf_counter()
        # Position 0 is the owner, 1 .. subscribers - 1 the big channel's other subscribers
        # (1 .. small - 1 the small one's), and the last an outsider who never subscribes.
        count = args.subscribers + 1
        ids, tokens = await create_accounts(data_dir, count, [*range(signed + 1), count - 1])
        with running_server(data_dir=data_dir) as server:
            big, small = await create_channels(server, tokens[0])
        await subscribe(data_dir, big, ids[1 : args.subscribers])
        await subscribe(data_dir, small, ids[1 : args.small])
        print(
            f"setup: channels of {args.subscribers:,} and {args.small} subscribers (owner "
            f"included), {len(tokens):,} signed-in devices, in {time.perf_counter() - t0:.1f} s"
        )
        setup = Setup(
            owner=tokens[0],
            subscribers=[tokens[i] for i in range(1, signed + 1)],
            outsider=tokens[count - 1],
            big=big,
            small=small,
        )
        with running_server(data_dir=data_dir) as server:
            await one_request(server, "GET", "/v1/me", setup.owner)  # first-request work
            if "post" in phases:
                print(
                    f"(1) accepting a post: {args.posts} posts to each channel, alternating, one "
                    f"at a time, no subscriber connected"
                )
                with profiled(server, profile, "post"):
                    await post_phase(server, setup, args.posts)
            if "live" in phases:
                print(
                    f"(2) live delivery: {args.live:,} subscribers of the big channel on "
                    f"WebSockets, {args.live_posts} posts"
                )
                await live_phase(server, setup, args.live, args.live_posts, profile)
            if "read" in phases:
                print(
                    f"(3) latest 50 posts: GET /v1/chats/{{id}}/messages?limit=50 on the big "
                    f"channel, {args.reads} requests one at a time"
                )
                with profiled(server, profile, "read"):
                    await read_phase(server, setup, args.reads)


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
    parser.add_argument("--subscribers", type=int, default=100_000, help="of the big channel")
    parser.add_argument("--small", type=int, default=10, help="subscribers of the small one")
    parser.add_argument("--posts", type=int, default=300, help="to each channel, for (1)")
    parser.add_argument("--live", type=int, default=5_000, help="connected subscribers, (2)")
    parser.add_argument("--live-posts", type=int, default=20)
    parser.add_argument("--reads", type=int, default=1_000)
    parser.add_argument("--only", default="post,live,read")
    parser.add_argument("--profile", help="write py-spy raw profiles of the server here")
    arguments = parser.parse_args()
    if (
        not 10 <= arguments.small <= arguments.subscribers
        or max(arguments.live if "live" in arguments.only else 0, 20) + 1 >= arguments.subscribers
    ):
        parser.error("need 10 <= --small <= --subscribers, max(--live, 20) + 1 < --subscribers")
    run(arguments)
