"""Delivery guarantees over real sockets: a client that stops reading is told to resume and the
server's memory stays bounded; wake-ups the bus lost are caught up from the log."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from payam.realtime.gateway import Gateway, State
from tests.realtime.conftest import (
    Chatters,
    Socket,
    close,
    eventually,
    make_chatters,
    open_socket,
    seqs,
    sqlite_only,
)

pytestmark = sqlite_only

LIMIT = 8
BIG = 60_000  # characters per message: fills the socket buffers in a few dozen updates


def connections(gateway: Gateway) -> list[Any]:
    return [c for conns in gateway.connections.values() for c in conns]


def assert_bounded(gateway: Gateway) -> None:
    for connection in connections(gateway):
        assert len(connection.buffer) <= LIMIT
        assert len(connection.outbox) <= LIMIT


async def test_a_client_that_stops_reading_is_told_to_resume_and_memory_stays_bounded(
    make_harness: Any, serve_live: Any
) -> None:
    harness = await make_harness(ws_buffer_limit=LIMIT, message_max_length=BIG, rate_limits="off")
    c = await make_chatters(harness, await serve_live(harness))
    gateway: Gateway = harness.app.state.gateway
    # A client with a small receive window that reads nothing: the kernel and the client
    # library stop taking data, so the server's writes block and its buffer fills.
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", c.server.port))
    ws = await connect(
        c.server.ws_url,
        sock=raw,
        additional_headers=c.ali.headers,
        max_queue=1,
        compression=None,
    )
    slow = Socket(ws)
    try:
        _, last = await slow.resume(await c.last_seq(c.ali))
        (connection,) = gateway.connections[c.ali.user_id]
        text = "x" * (BIG - 10)
        sent = 0
        while not connection.lagging and sent < 400:
            await c.send_http(c.bita, c.direct_id, f"{sent:05d}{text}")
            sent += 1
            assert_bounded(gateway)
        assert connection.lagging, f"{sent} updates did not fill the socket"
        assert connection.state is not State.CLOSED  # still waiting for the client to read
        # The client reads again: what was on the way, then why it is being closed.
        frames = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                frames.append(await slow.recv())
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4008
    finally:
        await close(ws)
    required = frames[-1]
    assert required["type"] == "resume_required"
    got = [f for f in frames if f["type"] == "update"]
    assert seqs(got) == list(range(last + 1, required["after"] + 1))
    assert required["after"] < last + sent  # it did fall behind
    await eventually(lambda: gateway.connection_count == 0)
    # Resuming from where it was told gets all the rest, from the log.
    async with open_socket(c.server, c.ali.token) as again:
        rest, end = await again.resume(required["after"])
    assert end == last + sent
    assert seqs(got + rest) == list(range(last + 1, end + 1))
    texts = [u["message"]["text"][:5] for u in got + rest]
    assert texts == [f"{n:05d}" for n in range(sent)]


async def test_a_burst_larger_than_the_buffer_is_caught_up_by_resuming(
    make_harness: Any, serve_live: Any
) -> None:
    """One group commit can hand a connection more than its buffer at once."""
    harness = await make_harness(ws_buffer_limit=LIMIT, rate_limits="off")
    c = await make_chatters(harness, await serve_live(harness))
    async with open_socket(c.server, c.ali.token) as sock:
        _, last = await sock.resume(await c.last_seq(c.ali))
        await asyncio.gather(*(c.send_http(c.bita, c.direct_id, f"b{n}") for n in range(40)))
        frames = await sock.until(lambda f: f["type"] == "resume_required")
        with pytest.raises(ConnectionClosed) as closed:
            await sock.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4008
    got = [f for f in frames if f["type"] == "update"]
    after = frames[-1]["after"]
    assert seqs(got) == list(range(last + 1, after + 1))
    async with open_socket(c.server, c.ali.token) as sock:
        rest, end = await sock.resume(after)
    assert end == last + 40
    assert seqs(got + rest) == list(range(last + 1, end + 1))


async def test_a_wake_up_the_bus_lost_is_delivered_with_the_next_update(
    chatters: Chatters, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = chatters
    bus = c.harness.services.bus
    async with open_socket(c.server, c.ali.token) as sock:
        _, last = await sock.resume(await c.last_seq(c.ali))

        async def lost(updates: Any) -> None:
            return None

        with monkeypatch.context() as patched:
            patched.setattr(bus, "publish", lost)
            await c.send_http(c.bita, c.direct_id, "never announced")
        await c.send_http(c.bita, c.direct_id, "announced")
        got = await sock.updates_until(last + 2)
    assert seqs(got) == [last + 1, last + 2]
    assert [u["message"]["text"] for u in got] == ["never announced", "announced"]


async def test_a_resync_delivers_what_the_bus_lost_without_a_later_update(
    chatters: Chatters, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = chatters
    bus = c.harness.services.bus
    async with open_socket(c.server, c.ali.token) as sock:
        _, last = await sock.resume(await c.last_seq(c.ali))

        async def lost(updates: Any) -> None:
            return None

        with monkeypatch.context() as patched:
            patched.setattr(bus, "publish", lost)
            await c.send_http(c.bita, c.direct_id, "only in the log")
        c.harness.app.state.gateway.on_resync()  # what a bus does after a reconnect
        (got,) = await sock.updates_until(last + 1)
    assert got["message"]["text"] == "only in the log"
