"""The event bus: in-process delivery, the Redis wire format, and Redis pub/sub between
processes (origin filtering, malformed messages, resync after a lost subscription).

The Redis tests need a server at ``PAYAM_TEST_REDIS_URL`` (default: local); they skip with
the reason when none answers, and fail instead with ``PAYAM_REQUIRE_REDIS=1``. Each test uses
a channel of its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.asyncio as aioredis

from payam.adapters.bus import PUBLISH_CHUNK, InProcessBus, RedisBus, decode, encode
from payam.domain.events import Update
from tests.conftest import REDIS_URL, skip_without_redis

TIMEOUT = 5.0


@dataclass
class Heard:
    """What a bus handed to its subscriber."""

    updates: list[Update] = field(default_factory=list)
    ephemeral: list[tuple[list[int], dict[str, Any]]] = field(default_factory=list)
    resyncs: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def on_updates(self, updates: Sequence[Update]) -> None:
        self.updates.extend(updates)
        self.changed.set()

    def on_ephemeral(self, user_ids: Sequence[int], event: dict[str, Any]) -> None:
        self.ephemeral.append((list(user_ids), event))
        self.changed.set()

    def on_resync(self) -> None:
        self.resyncs += 1
        self.changed.set()

    def listen_to(self, bus: InProcessBus) -> Heard:
        bus.subscribe(self.on_updates, self.on_ephemeral, self.on_resync)
        return self

    async def until(self, check: Any) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not check():
                self.changed.clear()
                await self.changed.wait()


def update(seq: int, user_id: int = 1, message: dict[str, Any] | None = None) -> Update:
    return Update(user_id, seq, "message_new", 3, 40 + seq, None, 1_800_000_000.5, message)


def same(a: Sequence[Update], b: Sequence[Update]) -> bool:
    # Update equality leaves the rendered message out; the wire must carry it too.
    return list(a) == list(b) and [u.message for u in a] == [u.message for u in b]


# -- in process ----------------------------------------------------------------------------------


async def test_in_process_bus_hands_updates_and_ephemeral_events_to_every_subscriber() -> None:
    bus = InProcessBus()
    first, second = Heard().listen_to(bus), Heard().listen_to(bus)
    await bus.publish([update(1), update(2)])
    await bus.publish([])  # nothing committed: nobody is called
    await bus.publish_ephemeral([5, 6], {"type": "typing", "chat_id": 3, "user_id": 1})
    for heard in (first, second):
        assert [u.seq for u in heard.updates] == [1, 2]
        assert heard.ephemeral == [([5, 6], {"type": "typing", "chat_id": 3, "user_id": 1})]
    await bus.start()
    await bus.stop()


async def test_in_process_bus_survives_a_failing_subscriber(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = InProcessBus()

    def broken(updates: Sequence[Update]) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe(broken, lambda ids, event: None, lambda: None)
    heard = Heard().listen_to(bus)
    with caplog.at_level(logging.ERROR):
        await bus.publish([update(1)])
    assert [u.seq for u in heard.updates] == [1]
    assert "update handler failed" in caplog.text


# -- the wire format -----------------------------------------------------------------------------


def test_encode_and_decode_round_trip_every_field() -> None:
    shared = {"id": 41, "text": "salam", "deleted": False}
    updates = [
        update(1, user_id=1, message=shared),
        update(7, user_id=2, message=shared),
        Update(3, 9, "read", 3, None, {"user_id": 1, "read_seq": 4}, 1_800_000_001.0),
        Update(4, 2, "message_edited", 3, 41, None, 1_800_000_002.0, {"id": 41, "text": "é"}),
    ]
    (body,) = encode(updates, "origin")
    data = json.loads(body)
    assert data["o"] == "origin"
    assert len(data["m"]) == 2  # the message shared by the members is sent once
    assert same(decode(data["u"], data["m"]), updates)


def test_a_large_fan_out_is_published_in_bounded_messages() -> None:
    shared = {"id": 1, "text": "to a big group"}
    updates = [update(1, user_id=n, message=shared) for n in range(2 * PUBLISH_CHUNK + 5)]
    bodies = encode(updates, "o")
    assert len(bodies) == 3
    decoded = [u for body in bodies for u in decode(json.loads(body)["u"], json.loads(body)["m"])]
    assert same(decoded, updates)
    assert all(len(json.loads(body)["m"]) == 1 for body in bodies)


# -- Redis ---------------------------------------------------------------------------------------


@pytest.fixture
async def channel() -> str:
    await skip_without_redis()
    return f"payam-test:{secrets.token_hex(6)}"


@pytest.fixture
async def admin() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def buses(channel: str) -> AsyncIterator[Any]:
    """Factory: ``await buses()`` starts a RedisBus on this test's channel."""
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


async def test_redis_bus_delivers_locally_once_and_to_the_other_process(buses: Any) -> None:
    here, there = Heard(), Heard()
    one = await buses(here)
    await buses(there)
    message = {"id": 41, "text": "از اینجا"}
    sent = [update(1, message=message), update(2, user_id=2, message=message)]
    await one.publish(sent)
    await there.until(lambda: len(there.updates) == 2)
    assert same(there.updates, sent)
    # The publisher delivered to its own connections directly; its own echo is dropped.
    await one.publish_ephemeral([2], {"type": "typing", "chat_id": 3, "user_id": 1})
    await there.until(lambda: there.ephemeral)
    assert same(here.updates, sent)
    assert (
        here.ephemeral == there.ephemeral == [([2], {"type": "typing", "chat_id": 3, "user_id": 1})]
    )


async def test_redis_bus_ignores_a_malformed_message(
    buses: Any, admin: aioredis.Redis, channel: str
) -> None:
    there = Heard()
    await buses(there)
    for junk in ("not json", "[1]", '{"u": [[1]]}', '{"o": "x", "u": [["a"]], "m": []}'):
        await admin.publish(channel, junk)
    sender = await buses(Heard())
    await sender.publish([update(5)])
    await there.until(lambda: there.updates)
    assert [u.seq for u in there.updates] == [5]


async def test_redis_bus_resyncs_when_its_subscription_comes_back(
    buses: Any, admin: aioredis.Redis, channel: str
) -> None:
    here, there = Heard(), Heard()
    sender = await buses(here)
    receiver = await buses(there)
    assert there.resyncs == 1  # the first subscription: anything before it is in the log
    (subscription,) = [
        c
        for c in await admin.client_list()
        if c["name"] == receiver.client_name and c["sub"] != "0"
    ]
    await admin.client_kill_filter(_id=subscription["id"])
    # While it is away, a wake-up is lost; the resync when it is back says to read the log.
    await there.until(lambda: there.resyncs == 2)
    await sender.publish([update(9)])
    await there.until(lambda: there.updates)
    assert [u.seq for u in there.updates] == [9]


async def test_redis_bus_delivers_locally_when_redis_is_unreachable() -> None:
    bus = RedisBus("redis://127.0.0.1:1/0", "nowhere", retry_delay=0.05)
    heard = Heard().listen_to(bus)
    await bus.publish([update(1)])
    await bus.publish_ephemeral([1], {"type": "typing", "chat_id": 3, "user_id": 2})
    assert [u.seq for u in heard.updates] == [1]
    assert len(heard.ephemeral) == 1
    await bus.stop()
