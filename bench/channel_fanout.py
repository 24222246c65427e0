"""The gateway's side of a channel post, in process: how long until the poster's own request
can go on, and until every subscriber's writer has handed the frame to its socket.

``--connections`` connections (default 5,000) subscribed to one channel, each with a writer
task and a stub socket whose write yields once to the loop (as a real one does now and then).
A post is simulated as ``MessageService._run`` makes it: the request's future is completed and
then ``Gateway.on_channel`` is called in the same step. No database, no network: this measures
the order in which the event loop runs the poster and the writers, not the cost of real socket
writes (``python -m bench.channels`` measures those against a real server). Usage:

    python -m bench.channel_fanout [--connections 5000] [--posts 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from payam.domain.models import Caller
from payam.realtime.gateway import WAKE_SLICE, Connection, Gateway, State

FRAME = {
    "type": "channel",
    "chat_id": 7,
    "kind": "message_new",
    "message": {"id": 1, "chat_id": 7, "seq": 1, "text": "x" * 300, "views": 0, "forwards": 0},
}


class Sent:
    """Frames handed to the stub sockets, and an event when the last one of a post was."""

    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.all_sent = asyncio.Event()


class StubSocket:
    def __init__(self, sent: Sent) -> None:
        self.sent = sent

    async def send_text(self, text: str) -> None:
        await asyncio.sleep(0)
        self.sent.count += 1
        if self.sent.count >= self.sent.target and text:
            self.sent.all_sent.set()


async def one_post(gateway: Gateway, sent: Sent, connections: int) -> tuple[float, float]:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()

    async def poster() -> float:
        await asyncio.shield(future)  # as MessageService.send waits for its batch
        return time.perf_counter()

    waiting = asyncio.create_task(poster())
    await asyncio.sleep(0)
    sent.target = sent.count + connections
    sent.all_sent.clear()
    start = time.perf_counter()
    future.set_result(None)
    gateway.on_channel(7, FRAME)
    answered = await waiting
    await sent.all_sent.wait()
    return answered - start, time.perf_counter() - start


async def main(args: argparse.Namespace) -> None:
    none: Any = None
    gateway = Gateway(none, none, none, none, buffer_limit=2000)
    sent = Sent()
    connections = []
    for n in range(args.connections):
        socket: Any = StubSocket(sent)
        connection = Connection(gateway, socket, Caller(n + 1, n + 1))
        connection.state = State.LIVE
        gateway.channel_index.open(connection)
        gateway.channel_index.loaded(connection, [7], as_of=0)
        connections.append(connection)
    writers = [asyncio.create_task(c.writer()) for c in connections]
    poster, everyone = [], []
    for _ in range(args.posts):
        first, last = await one_post(gateway, sent, args.connections)
        poster.append(first * 1000)
        everyone.append(last * 1000)
    for writer in writers:
        writer.cancel()
    await asyncio.gather(*writers, return_exceptions=True)
    print(f"{args.connections} connections, {args.posts} posts, WAKE_SLICE {WAKE_SLICE}")
    print(
        f"  poster resumed after: p50 {statistics.median(poster):.1f} ms, max {max(poster):.1f} ms"
    )
    print(
        f"  every frame handed to its socket after: p50 {statistics.median(everyone):.1f} ms, "
        f"max {max(everyone):.1f} ms"
    )


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=5_000)
    parser.add_argument("--posts", type=int, default=20)
    asyncio.run(main(parser.parse_args()))


if __name__ == "__main__":
    run()
