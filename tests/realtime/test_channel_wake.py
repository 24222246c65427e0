"""A channel frame is queued for every subscriber's connection at once, and their writers are
woken a slice at a time, so the event loop runs other work (the poster's own answer among it)
between slices instead of after thousands of socket writes (docs/benchmarks.md)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from payam.domain.models import Caller
from payam.realtime.gateway import WAKE_SLICE, Connection, Gateway, State
from tests.realtime.conftest import eventually

FRAME = {"type": "channel", "chat_id": 7, "kind": "message_new", "message": {"id": 1, "seq": 1}}


def subscribed_gateway(count: int, buffer_limit: int = 100) -> tuple[Gateway, list[Connection]]:
    none: Any = None
    gateway = Gateway(none, none, none, none, buffer_limit=buffer_limit)
    connections = []
    for n in range(count):
        connection = Connection(gateway, none, Caller(n + 1, n + 1))
        connection.state = State.LIVE
        gateway.channel_index.open(connection)
        gateway.channel_index.loaded(connection, [7], as_of=0)
        connections.append(connection)
    return gateway, connections


async def test_every_subscriber_gets_the_frame_and_other_work_runs_between_wake_ups() -> None:
    gateway, connections = subscribed_gateway(3 * WAKE_SLICE + 5)
    gateway.on_channel(7, FRAME)
    # Queued everywhere at once, encoded once: the very same string on every outbox.
    (first,) = connections[0].outbox
    assert json.loads(first) == FRAME
    assert all(c.outbox[0] is first for c in connections)
    # Work that became ready right after the post (the poster's answer) runs before the
    # last writers are woken.
    seen_waiting = asyncio.get_running_loop().create_future()

    def look() -> None:
        seen_waiting.set_result(sum(not c.wake.is_set() for c in connections))

    asyncio.get_running_loop().call_soon(look)
    assert await seen_waiting > 0
    await eventually(lambda: all(c.wake.is_set() for c in connections))
    await gateway.stop()


async def test_a_connection_whose_outbox_is_full_is_woken_at_once_to_be_closed() -> None:
    gateway, (full, fine) = subscribed_gateway(2, buffer_limit=1)
    full.outbox.append('{"type":"pong"}')
    gateway.on_channel(7, FRAME)
    assert full.lagging
    assert full.wake.is_set()  # it must say resume_required and close
    assert not fine.wake.is_set()  # woken with its slice
    await eventually(fine.wake.is_set)
    assert list(fine.outbox) == [json.dumps(FRAME, separators=(",", ":"))]
    await gateway.stop()


async def test_frames_of_several_posts_keep_their_order() -> None:
    gateway, connections = subscribed_gateway(WAKE_SLICE + 1)
    for seq in (1, 2, 3):
        gateway.on_channel(7, {**FRAME, "message": {"id": seq, "seq": seq}})
    await eventually(lambda: all(c.wake.is_set() for c in connections))
    for connection in connections:
        assert [json.loads(f)["message"]["seq"] for f in connection.outbox] == [1, 2, 3]
    await gateway.stop()
