"""The event bus: how committed updates reach the processes holding the users' connections.

The database is the source of truth; the bus is only a wake-up. ``InProcessBus`` (the default)
hands updates to this process's gateway. ``RedisBus`` does that too and also publishes them on
a Redis channel so other server processes sharing one PostgreSQL deliver them to their own
connections; a lost wake-up is caught up from the updates log, since every connection checks
seqs for gaps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from payam.domain.events import Update

log = logging.getLogger(__name__)

UpdatesHandler = Callable[[Sequence[Update]], None]
EphemeralHandler = Callable[[Sequence[int], dict[str, Any]], None]
ResyncHandler = Callable[[], None]


class EventBus(Protocol):
    def subscribe(
        self,
        on_updates: UpdatesHandler,
        on_ephemeral: EphemeralHandler,
        on_resync: ResyncHandler,
    ) -> None:
        """``on_resync`` is called when wake-ups may have been lost (a bus reconnect)."""
        ...

    async def publish(self, updates: Sequence[Update]) -> None:
        """Deliver committed updates (call only after the commit)."""
        ...

    async def publish_ephemeral(self, user_ids: Sequence[int], event: dict[str, Any]) -> None:
        """Deliver an event that is never stored (typing)."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class InProcessBus:
    def __init__(self) -> None:
        self._on_updates: list[UpdatesHandler] = []
        self._on_ephemeral: list[EphemeralHandler] = []
        self._on_resync: list[ResyncHandler] = []

    def subscribe(
        self,
        on_updates: UpdatesHandler,
        on_ephemeral: EphemeralHandler,
        on_resync: ResyncHandler,
    ) -> None:
        self._on_updates.append(on_updates)
        self._on_ephemeral.append(on_ephemeral)
        self._on_resync.append(on_resync)

    def _deliver(self, updates: Sequence[Update]) -> None:
        for handler in self._on_updates:
            try:
                handler(updates)
            except Exception:
                log.exception("update handler failed")

    def _deliver_ephemeral(self, user_ids: Sequence[int], event: dict[str, Any]) -> None:
        for handler in self._on_ephemeral:
            try:
                handler(user_ids, event)
            except Exception:
                log.exception("ephemeral handler failed")

    async def publish(self, updates: Sequence[Update]) -> None:
        if updates:
            self._deliver(updates)

    async def publish_ephemeral(self, user_ids: Sequence[int], event: dict[str, Any]) -> None:
        self._deliver_ephemeral(user_ids, event)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def _encode(update: Update) -> dict[str, Any]:
    return {
        "u": update.user_id,
        "s": update.seq,
        "k": update.kind,
        "c": update.chat_id,
        "m": update.message_id,
        "p": update.payload,
        "t": update.created_at,
        "msg": update.message,
    }


def _decode(data: dict[str, Any]) -> Update:
    return Update(
        user_id=data["u"],
        seq=data["s"],
        kind=data["k"],
        chat_id=data["c"],
        message_id=data["m"],
        payload=data["p"],
        created_at=data["t"],
        message=data["msg"],
    )


class RedisBus(InProcessBus):
    """Local delivery as ``InProcessBus``, plus Redis pub/sub to the other processes."""

    def __init__(self, url: str, channel: str = "payam:updates") -> None:
        super().__init__()
        import redis.asyncio as redis  # noqa: PLC0415

        self._redis = redis.from_url(url)
        self._channel = channel
        self._origin = secrets.token_hex(8)
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def publish(self, updates: Sequence[Update]) -> None:
        if not updates:
            return
        self._deliver(updates)
        body = json.dumps({"o": self._origin, "u": [_encode(u) for u in updates]})
        try:
            await self._redis.publish(self._channel, body)
        except Exception:
            # Other processes catch up from the updates log on their clients' next resume.
            log.exception("could not publish %d updates to Redis", len(updates))

    async def publish_ephemeral(self, user_ids: Sequence[int], event: dict[str, Any]) -> None:
        self._deliver_ephemeral(user_ids, event)
        body = json.dumps({"o": self._origin, "e": event, "to": list(user_ids)})
        with contextlib.suppress(Exception):
            await self._redis.publish(self._channel, body)

    async def _listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    if self._ready.is_set():  # a reconnect: wake-ups may have been lost
                        for handler in self._on_resync:
                            handler()
                    self._ready.set()
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        data = json.loads(message["data"])
                        if data.get("o") == self._origin:
                            continue
                        if "u" in data:
                            self._deliver([_decode(u) for u in data["u"]])
                        elif "e" in data:
                            self._deliver_ephemeral(data["to"], data["e"])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Redis subscription lost; reconnecting")
                await asyncio.sleep(1)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="redis-bus")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), 5)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._redis.aclose()
