"""Channel events on the event bus: in process, and over Redis to the other processes, beside
the updates and ephemeral events that keep their wire format (tests/adapters/test_bus.py).

The Redis tests skip without a server (``PAYAM_REQUIRE_REDIS=1`` makes them fail instead)."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.asyncio as aioredis

from payam.adapters.bus import InProcessBus, RedisBus
from payam.domain.events import Update
from tests.conftest import REDIS_URL, skip_without_redis

TIMEOUT = 5.0
FRAME = {
    "type": "channel",
    "chat_id": 7,
    "kind": "message_new",
    "message": {"id": 70, "chat_id": 7, "seq": 3, "text": "خبر", "views": 0, "forwards": 0},
}


@dataclass
class Heard:
    updates: list[Update] = field(default_factory=list)
    channel: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def on_updates(self, updates: Sequence[Update]) -> None:
        self.updates.extend(updates)
        self.changed.set()

    def on_channel(self, chat_id: int, event: dict[str, Any]) -> None:
        self.channel.append((chat_id, event))
        self.changed.set()

    def listen_to(self, bus: InProcessBus) -> Heard:
        bus.subscribe(self.on_updates, lambda ids, e: None, lambda: None, self.on_channel)
        return self

    async def until(self, check: Any) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not check():
                self.changed.clear()
                await self.changed.wait()


async def test_in_process_bus_hands_channel_events_to_subscribers_that_take_them() -> None:
    bus = InProcessBus()
    heard = Heard().listen_to(bus)
    # A subscriber without a channel handler (as before channels) is simply not called.
    bus.subscribe(lambda u: None, lambda ids, e: None, lambda: None)
    await bus.publish_channel(7, FRAME)
    assert heard.channel == [(7, FRAME)]


async def test_a_failing_channel_handler_does_not_stop_the_others() -> None:
    bus = InProcessBus()

    def broken(chat_id: int, event: dict[str, Any]) -> None:
        raise RuntimeError("handler bug")

    bus.subscribe(lambda u: None, lambda ids, e: None, lambda: None, broken)
    heard = Heard().listen_to(bus)
    await bus.publish_channel(7, FRAME)
    assert heard.channel == [(7, FRAME)]


@pytest.fixture
async def channel() -> str:
    await skip_without_redis()
    return f"payam-test:{secrets.token_hex(6)}"


@pytest.fixture
async def buses(channel: str) -> AsyncIterator[Any]:
    started: list[RedisBus] = []

    async def start(heard: Heard) -> RedisBus:
        bus = RedisBus(REDIS_URL, channel, retry_delay=0.05)
        heard.listen_to(bus)
        await bus.start()
        started.append(bus)
        return bus

    yield start
    for bus in started:
        await bus.stop()


async def test_redis_bus_carries_channel_events_to_the_other_process_once(buses: Any) -> None:
    here, there = Heard(), Heard()
    one = await buses(here)
    await buses(there)
    await one.publish_channel(7, FRAME)
    await there.until(lambda: there.channel)
    assert there.channel == [(7, FRAME)]
    assert there.updates == []  # a channel event is not mistaken for updates
    # The publisher delivered to its own connections directly; its echo is dropped. An update
    # published after it arrives after it, so the echo would have been seen by now.
    update = Update(1, 1, "message_new", 3, 4, None, 1_800_000_000.0)
    await one.publish([update])
    await there.until(lambda: there.updates)
    assert here.channel == [(7, FRAME)]


async def test_redis_bus_ignores_a_malformed_channel_event(buses: Any, channel: str) -> None:
    there = Heard()
    await buses(there)
    admin = aioredis.from_url(REDIS_URL)
    try:
        for junk in ({"o": "x", "c": "seven", "f": {}}, {"o": "x", "c": 7, "f": "text"}):
            await admin.publish(channel, json.dumps(junk))
    finally:
        await admin.aclose()
    sender = await buses(Heard())
    await sender.publish_channel(8, FRAME)
    await there.until(lambda: there.channel)
    assert there.channel == [(8, FRAME)]


async def test_redis_bus_delivers_channel_events_locally_when_redis_is_unreachable() -> None:
    bus = RedisBus("redis://127.0.0.1:1/0", "nowhere", retry_delay=0.05)
    heard = Heard().listen_to(bus)
    await bus.publish_channel(7, FRAME)
    assert heard.channel == [(7, FRAME)]
    await bus.stop()
