"""The event bus: how committed updates reach the processes holding the users' connections.

The database is the source of truth; the bus is only a wake-up. ``InProcessBus`` (the default)
hands updates to this process's gateway. ``RedisBus`` does that too and also publishes them on
a Redis channel so other server processes sharing one PostgreSQL deliver them to their own
connections; a lost wake-up is caught up from the updates log, since every connection checks
seqs for gaps.

Channel events (``publish_channel``) are the one thing not in any user's log: a post to a
channel writes no row per subscriber, so the bus carries one event per post and each process
hands it to the connections of that channel's subscribers it holds. A lost one is caught up by
the client from the channel's history (a gap in the channel's ``seq``).

Session ends (``publish_session_end``: a device signed out or removed, an account suspended or
erased) travel the same way, so that every process closes that device's sockets and forgets
the session in its cache. A lost one is covered by the resync after a reconnect (which clears
the session cache and checks the open sockets' sessions), by the cache's short lifetime
(``services/session_cache.py``) and by the periodic check (``realtime/session_sweep.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from payam.domain.events import Update

log = logging.getLogger(__name__)

UpdatesHandler = Callable[[Sequence[Update]], None]
EphemeralHandler = Callable[[Sequence[int], dict[str, Any]], None]
ResyncHandler = Callable[[], None]
ChannelHandler = Callable[[int, dict[str, Any]], None]
# (user_id, device_id or None for every device of the user, reason)
SessionEndHandler = Callable[[int, int | None, str], None]


class EventBus(Protocol):
    def subscribe(
        self,
        on_updates: UpdatesHandler,
        on_ephemeral: EphemeralHandler,
        on_resync: ResyncHandler,
        on_channel: ChannelHandler | None = None,
        on_session_end: SessionEndHandler | None = None,
    ) -> None:
        """``on_resync`` is called when wake-ups may have been lost (a bus reconnect)."""
        ...

    async def publish(self, updates: Sequence[Update]) -> None:
        """Deliver committed updates (call only after the commit)."""
        ...

    async def publish_ephemeral(self, user_ids: Sequence[int], event: dict[str, Any]) -> None:
        """Deliver an event that is never stored (typing)."""
        ...

    async def publish_channel(self, chat_id: int, event: dict[str, Any]) -> None:
        """Deliver a committed change of a channel (a post, an edit, a deletion) to whoever
        holds a connection of one of its subscribers (call only after the commit)."""
        ...

    async def publish_session_end(self, user_id: int, device_id: int | None, reason: str) -> None:
        """A session ended (call only after the commit): every process closes its sockets
        (``device_id`` None: every device of the user) and forgets it in its session cache."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class InProcessBus:
    def __init__(self) -> None:
        self._on_updates: list[UpdatesHandler] = []
        self._on_ephemeral: list[EphemeralHandler] = []
        self._on_resync: list[ResyncHandler] = []
        self._on_channel: list[ChannelHandler] = []
        self._on_session_end: list[SessionEndHandler] = []

    def subscribe(
        self,
        on_updates: UpdatesHandler,
        on_ephemeral: EphemeralHandler,
        on_resync: ResyncHandler,
        on_channel: ChannelHandler | None = None,
        on_session_end: SessionEndHandler | None = None,
    ) -> None:
        self._on_updates.append(on_updates)
        self._on_ephemeral.append(on_ephemeral)
        self._on_resync.append(on_resync)
        if on_channel is not None:
            self._on_channel.append(on_channel)
        if on_session_end is not None:
            self._on_session_end.append(on_session_end)

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

    def _deliver_channel(self, chat_id: int, event: dict[str, Any]) -> None:
        for handler in self._on_channel:
            try:
                handler(chat_id, event)
            except Exception:
                log.exception("channel handler failed")

    def _deliver_session_end(self, user_id: int, device_id: int | None, reason: str) -> None:
        for handler in self._on_session_end:
            try:
                handler(user_id, device_id, reason)
            except Exception:
                log.exception("session end handler failed")

    async def publish(self, updates: Sequence[Update]) -> None:
        if updates:
            self._deliver(updates)

    async def publish_ephemeral(self, user_ids: Sequence[int], event: dict[str, Any]) -> None:
        self._deliver_ephemeral(user_ids, event)

    async def publish_channel(self, chat_id: int, event: dict[str, Any]) -> None:
        self._deliver_channel(chat_id, event)

    async def publish_session_end(self, user_id: int, device_id: int | None, reason: str) -> None:
        self._deliver_session_end(user_id, device_id, reason)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


# Updates per Redis message: a group commit to a big group is many thousands of updates, and
# one huge message would stall every subscriber's connection while it is parsed.
PUBLISH_CHUNK = 1000


def encode(updates: Sequence[Update], origin: str) -> list[str]:
    """Redis messages for ``updates``, at most ``PUBLISH_CHUNK`` each. A message rendered once
    for all members (the usual case) is written once per Redis message, not once per member."""
    bodies = []
    for start in range(0, len(updates), PUBLISH_CHUNK):
        messages: list[dict[str, Any]] = []
        index: dict[int, int] = {}
        rows = []
        for update in updates[start : start + PUBLISH_CHUNK]:
            ref = None
            if update.message is not None:
                ref = index.get(id(update.message))
                if ref is None:
                    ref = index[id(update.message)] = len(messages)
                    messages.append(update.message)
            rows.append(
                [
                    update.user_id,
                    update.seq,
                    update.kind,
                    update.chat_id,
                    update.message_id,
                    update.payload,
                    update.created_at,
                    ref,
                ]
            )
        bodies.append(
            json.dumps(
                {"o": origin, "u": rows, "m": messages},
                ensure_ascii=False,
                separators=(",", ":"),
            )
        )
    return bodies


def decode(rows: list[list[Any]], messages: list[dict[str, Any]]) -> list[Update]:
    return [
        Update(
            user_id=user_id,
            seq=seq,
            kind=kind,
            chat_id=chat_id,
            message_id=message_id,
            payload=payload,
            created_at=created_at,
            message=messages[ref] if ref is not None else None,
        )
        for user_id, seq, kind, chat_id, message_id, payload, created_at, ref in rows
    ]


class RedisBus(InProcessBus):
    """Local delivery as ``InProcessBus``, plus Redis pub/sub to the other processes.

    Redis is only a wake-up. Every subscription confirmation (the first one, and the one
    redis-py sends by itself when it reconnects a dropped connection) calls ``on_resync``, so
    connections re-read the log for what was published while this process was not listening.
    """

    def __init__(
        self, url: str, channel: str = "payam:updates", *, retry_delay: float = 1.0
    ) -> None:
        super().__init__()
        import redis.asyncio as redis  # noqa: PLC0415

        self._origin = secrets.token_hex(8)
        # Lets an operator (and the two-process test) tell processes apart in CLIENT LIST.
        self.client_name = f"payam-{os.getpid()}-{self._origin}"
        self._redis = redis.from_url(url, client_name=self.client_name)
        self._channel = channel
        self._retry_delay = retry_delay
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    @property
    def channel(self) -> str:
        return self._channel

    async def publish(self, updates: Sequence[Update]) -> None:
        if not updates:
            return
        self._deliver(updates)
        try:
            for body in encode(updates, self._origin):
                await self._redis.publish(self._channel, body)
        except Exception as exc:
            # Other processes catch up from the updates log at their users' next update, or
            # at the resync after their own subscription comes back.
            log.warning("could not publish %d updates to Redis: %r", len(updates), exc)

    async def publish_ephemeral(self, user_ids: Sequence[int], event: dict[str, Any]) -> None:
        self._deliver_ephemeral(user_ids, event)
        body = json.dumps({"o": self._origin, "e": event, "to": list(user_ids)})
        try:
            await self._redis.publish(self._channel, body)
        except Exception as exc:  # typing is best effort
            log.debug("could not publish an ephemeral event to Redis: %r", exc)

    async def publish_channel(self, chat_id: int, event: dict[str, Any]) -> None:
        self._deliver_channel(chat_id, event)
        # "c" marks a channel event; the other message kinds ("u", "e") are unchanged.
        body = json.dumps(
            {"o": self._origin, "c": chat_id, "f": event},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        try:
            await self._redis.publish(self._channel, body)
        except Exception as exc:
            # Subscribers elsewhere see the gap in the channel's seq at its next post, or when
            # they open the channel, and read it from the history.
            log.warning("could not publish a channel event to Redis: %r", exc)

    async def publish_session_end(self, user_id: int, device_id: int | None, reason: str) -> None:
        self._deliver_session_end(user_id, device_id, reason)
        # "s" marks a session end: [user_id, device_id or null, reason].
        body = json.dumps({"o": self._origin, "s": [user_id, device_id, reason]})
        try:
            await self._redis.publish(self._channel, body)
        except Exception as exc:
            # The other processes stop honouring the session when their cache entry expires
            # (seconds); their sockets of it close at their next resubscription at the latest.
            log.warning("could not publish a session end to Redis: %r", exc)

    def _received(self, raw: bytes | str) -> None:
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or data.get("o") == self._origin:
                return
            if "u" in data:
                updates = decode(data["u"], data.get("m", []))
            elif "e" in data:
                to = [int(u) for u in data["to"]]
            elif "c" in data:
                chat_id, frame = int(data["c"]), dict(data["f"])
            elif "s" in data:
                user_id, device, reason = data["s"]
                ended = (int(user_id), None if device is None else int(device), str(reason))
            else:
                return
        except (ValueError, TypeError, KeyError, IndexError):
            log.warning("ignored a malformed message on Redis channel %s", self._channel)
            return
        if "u" in data:
            self._deliver(updates)
        elif "e" in data:
            self._deliver_ephemeral(to, data["e"])
        elif "c" in data:
            self._deliver_channel(chat_id, frame)
        else:
            self._deliver_session_end(*ended)

    def _resync(self) -> None:
        for handler in self._on_resync:
            try:
                handler()
            except Exception:
                log.exception("resync handler failed")

    async def _listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    async for message in pubsub.listen():
                        kind = message.get("type")
                        if kind == "subscribe":  # (re)subscribed: wake-ups may have been lost
                            self._resync()
                            self._ready.set()
                        elif kind == "message":
                            self._received(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("Redis subscription lost (%r); retrying", exc)
                await asyncio.sleep(self._retry_delay)

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
