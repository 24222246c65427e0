"""Web Push: telling a device that is not connected that something is new (docs/push.md).

A push service (the browser vendor's) is a third party, so no content leaves the server
(P8.1): a payload is ``{"type": "message", "unread": N}`` or ``{"type": "call", "call_id"}``
and nothing else: no name, no number, no chat, no text. The client fetches the rest itself.

- One subscription per signed-in device; it goes with the device (sign-out, erasure) and when
  the push service answers 404 or 410.
- An endpoint is a URL the server will call, so endpoints whose host resolves to a loopback,
  private, link-local or otherwise non-global address are refused (server-side request
  forgery), at subscription and again before each push, unless the operator lists the host in
  ``PAYAM_PUSH_ALLOW_HOSTS`` (then plain http is accepted too).
- A push goes only to devices with no socket open (the call relay knows them), never for a
  muted chat, at most one message push per device per ``push_message_interval_seconds`` (a
  later one carries the newest count); calls go at once with high urgency.
- Pushes wait in a bounded queue worked by one task, so a send never waits for a push
  service; a failed push is retried with growing pauses (by the clock), at most
  ``MAX_ATTEMPTS`` times.
- What a message costs when (as for most recipients) nobody has a subscription: the pushes
  of a commit are queued as one batch, and the worker takes every batch waiting, reads the
  subscriptions of all their users in one query and drops the pushes of users who have none,
  so a message into a group of N costs one indexed lookup, not N rounds of three queries.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from payam.adapters.push import PushSender, Subscription
from payam.config import Settings
from payam.domain import events
from payam.domain.background import raise_if_cancelling
from payam.domain.clock import Clock
from payam.domain.errors import InvalidInput, NotFound
from payam.domain.events import Update
from payam.domain.models import Caller
from payam.storage import push as store
from payam.storage.database import Database

log = logging.getLogger(__name__)

ENDPOINT_MAX_CHARS = 2048
QUEUE_MAX = 10_000
# Batches the worker takes at once (their subscriptions are read in one query).
BATCHES_PER_ROUND = 64
MAX_ATTEMPTS = 5
# Seconds before the 2nd, 3rd, ... attempt of a push that failed.
BACKOFF = (2.0, 10.0, 60.0, 300.0)

Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


@dataclass
class _Push:
    user_id: int
    kind: str  # "message" or "call"
    device_id: int | None = None  # None: every device of the user not connected
    chat_id: int | None = None
    call_id: str | None = None
    attempt: int = 0
    not_before: float = 0.0


# What waits in the queue: a push, or a message push as (user, chat).
_Queued = _Push | tuple[int, int | None]


@dataclass
class _DeviceState:
    last_message_at: float = float("-inf")
    deferred: bool = False  # a message push is owed once the interval has passed


@dataclass
class PushService:
    db: Database
    settings: Settings
    clock: Clock
    sender: PushSender | None
    vapid_public_key: str
    resolver: Resolver = resolve
    # The user's devices with a socket open (set by the composition root from the relay).
    presence: Callable[[int], set[int]] = field(default=lambda _user_id: set())
    # Batches of pushes (one per commit; a message push as (user, chat)); ``_queued`` counts
    # the pushes in them (QUEUE_MAX).
    _queue: asyncio.Queue[Sequence[_Queued]] = field(default_factory=asyncio.Queue)
    _queued: int = 0
    _retry: list[_Push] = field(default_factory=list)
    _devices: dict[int, _DeviceState] = field(default_factory=dict)
    _owed: dict[int, int] = field(default_factory=dict)  # device id -> user id
    _task: asyncio.Task[None] | None = None
    _ticker: asyncio.Task[None] | None = None

    # -- subscriptions ----------------------------------------------------------------------------

    async def subscribe(self, caller: Caller, endpoint: str, p256dh: str, auth: str) -> None:
        """The caller's device's subscription (replacing the one it had)."""
        await self.check_endpoint(endpoint)
        async with self.db.write() as conn:
            await store.put(
                conn,
                user_id=caller.user_id,
                device_id=caller.device_id,
                endpoint=endpoint,
                p256dh=p256dh,
                auth=auth,
                now=self.clock.now(),
            )

    async def unsubscribe(self, caller: Caller) -> None:
        async with self.db.write() as conn:
            removed = await store.remove(conn, user_id=caller.user_id, device_id=caller.device_id)
        if not removed:
            raise NotFound("This device has no push subscription.", code="subscription_not_found")

    async def check_endpoint(self, endpoint: str) -> None:
        """Refuse an endpoint the server must not call (SSRF): not https, or a host that
        resolves to a non-global address, unless the operator allowed the host."""
        refused = InvalidInput(
            "The endpoint must be an https URL of a public push service.",
            code="invalid_endpoint",
        )
        if len(endpoint) > ENDPOINT_MAX_CHARS:
            raise refused
        try:
            parts = urlsplit(endpoint)
            host, port = parts.hostname, parts.port
        except ValueError:
            raise refused from None
        if not host or parts.username or parts.password:
            raise refused
        allowed = host.lower() in {h.lower() for h in self.settings.push_allow_hosts}
        if parts.scheme != "https" and not (allowed and parts.scheme == "http"):
            raise refused
        if allowed:
            return
        try:
            addresses = await self.resolver(host, port or 443)
        except OSError:
            raise refused from None
        if not addresses or not all(_public(a) for a in addresses):
            raise refused

    # -- what to push ---------------------------------------------------------------------------

    def on_updates(self, updates: Sequence[Update]) -> None:
        """New messages (committed in this process): a push for each recipient."""
        if self.sender is None:
            return
        # Plain tuples: most recipients of a group message have no subscription, and their
        # pushes end at the worker's one lookup (a _Push is made only for those who do).
        batch = [
            (update.user_id, update.chat_id)
            for update in updates
            if update.kind == events.MESSAGE_NEW
            and update.chat_id is not None
            # Not for one's own message; channel posts are not pushed.
            and (message := update.message or {}).get("sender_id") != update.user_id
            and "views" not in message
        ]
        self._enqueue(batch)

    def on_ring(self, user_id: int, call_id: str) -> None:
        self._enqueue([_Push(user_id, "call", call_id=call_id)])

    def _enqueue(self, batch: Sequence[_Queued]) -> None:
        if self.sender is None or not batch:
            return
        if self._queued + len(batch) > QUEUE_MAX:
            # Once per batch, not per push: a flood must not become a flood of log lines.
            log.warning("the push queue is full; %d pushes were dropped", len(batch))
            return
        self._queued += len(batch)
        self._queue.put_nowait(batch)
        if self._task is None:
            self.start()

    # -- the worker -----------------------------------------------------------------------------

    def start(self, interval: float = 1.0) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="push")
        if self._ticker is None and interval > 0:
            self._ticker = asyncio.get_running_loop().create_task(
                self._tick_forever(interval), name="push-timer"
            )

    async def stop(self) -> None:
        for task in (self._task, self._ticker):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._ticker = None
        if self.sender is not None:
            await self.sender.aclose()

    async def _tick_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.tick()
            except Exception:
                raise_if_cancelling()
                log.exception("the push timer failed")

    async def _run(self) -> None:
        while True:
            batches = [await self._queue.get()]
            while not self._queue.empty() and len(batches) < BATCHES_PER_ROUND:
                batches.append(self._queue.get_nowait())
            pushes = [push for batch in batches for push in batch]
            self._queued -= len(pushes)
            try:
                await self._deliver_all(pushes)
            except Exception:
                raise_if_cancelling()
                log.exception("a push failed")
            finally:
                for _ in batches:
                    self._queue.task_done()

    async def drain(self) -> None:
        """Wait until every queued push was handled (tests)."""
        await self._queue.join()

    async def tick(self) -> None:
        """Send what waited for its time (by the clock): message pushes held back by the
        interval, and retries whose pause is over."""
        now = self.clock.now()
        due = [p for p in self._retry if p.not_before <= now]
        self._retry = [p for p in self._retry if p.not_before > now]
        for push in due:
            await self._deliver(push)
        interval = self.settings.push_message_interval_seconds
        for device_id, user_id in list(self._owed.items()):
            state = self._devices.get(device_id)
            if state is not None and now - state.last_message_at >= interval:
                del self._owed[device_id]
                state.deferred = False
                await self._deliver(_Push(user_id, "message", device_id=device_id))

    async def _deliver_all(self, pushes: Sequence[_Queued]) -> None:
        """The pushes of every batch that waited: one read of their users' subscriptions, then
        only the pushes of users who have one go on."""
        async with self.db.read(quick=True) as conn:  # one lookup on an index
            subscribed = await store.of_users(
                conn, {push.user_id if isinstance(push, _Push) else push[0] for push in pushes}
            )
        # Several messages of one chat for one user: the first push already carries the count
        # that includes them all (they are committed), so the rest would only be coalesced.
        seen: set[tuple[int, int | None]] = set()
        for item in pushes:
            if isinstance(item, _Push):
                push = item
            elif item[0] in subscribed:
                push = _Push(item[0], "message", chat_id=item[1])
            else:
                continue
            if push.kind == "message" and push.device_id is None and push.attempt == 0:
                if (push.user_id, push.chat_id) in seen:
                    continue
                seen.add((push.user_id, push.chat_id))
            subscriptions = subscribed.get(push.user_id)
            if subscriptions:
                await self._deliver(push, subscriptions)

    async def _deliver(
        self, push: _Push, subscriptions: Sequence[store.SubscriptionRow] | None = None
    ) -> None:
        if subscriptions is None:
            async with self.db.read() as conn:
                subscriptions = (await store.of_users(conn, [push.user_id])).get(push.user_id, [])
        connected = self.presence(push.user_id)
        targets = [
            sub
            for sub in subscriptions
            if (push.device_id is None or sub.device_id == push.device_id)
            and sub.device_id not in connected
        ]
        if not targets:
            return
        unread = 0
        if push.kind == "message":
            async with self.db.read() as conn:
                if push.chat_id is not None and await store.muted(conn, push.user_id, push.chat_id):
                    return
                unread = await store.unread_total(conn, push.user_id)
        now = self.clock.now()
        for sub in targets:
            if push.kind == "message":
                state = self._devices.setdefault(sub.device_id, _DeviceState())
                if push.attempt == 0 and (
                    now - state.last_message_at < self.settings.push_message_interval_seconds
                ):
                    self._owed[sub.device_id] = push.user_id  # coalesced: one later
                    continue
                state.last_message_at = now
                payload: dict[str, Any] = {"type": "message", "unread": unread}
                urgency, ttl = "normal", self.settings.push_ttl_seconds
            else:
                payload = {"type": "call", "call_id": push.call_id}
                urgency, ttl = "high", self.settings.call_ring_seconds
            await self._post(push, sub, payload, urgency, ttl)

    async def _post(
        self,
        push: _Push,
        sub: store.SubscriptionRow,
        payload: dict[str, Any],
        urgency: str,
        ttl: int,
    ) -> None:
        assert self.sender is not None
        status = 0
        try:
            await self.check_endpoint(sub.endpoint)  # the host may resolve elsewhere now
            status = await self.sender.send(
                Subscription(sub.endpoint, sub.p256dh, sub.auth), payload, urgency=urgency, ttl=ttl
            )
        except InvalidInput:
            status = 410  # no longer acceptable: dropped like an expired one
        except Exception as exc:  # the network: retried
            log.info("a push failed (%s); it will be retried", type(exc).__name__)
        if status in (404, 410):
            async with self.db.write() as conn:
                await store.remove_if_same(conn, sub.device_id, sub.endpoint)
            return
        if 200 <= status < 300 or (400 <= status < 500 and status != 429):
            return  # delivered, or refused for good
        if push.attempt + 1 < MAX_ATTEMPTS:
            pause = BACKOFF[min(push.attempt, len(BACKOFF) - 1)]
            self._retry.append(
                _Push(
                    push.user_id,
                    push.kind,
                    device_id=sub.device_id,
                    chat_id=push.chat_id,
                    call_id=push.call_id,
                    attempt=push.attempt + 1,
                    not_before=self.clock.now() + pause,
                )
            )


def _public(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast
