"""The updates log and fan-out (P5.1): record per-user updates inside a transaction, publish
them after it commits, and replay what a device missed, at once or by long polling.

A long poll (``wait``) registers a wake-up for its user before it reads the log, so an update
committed between the read and the wait still wakes it; whatever wakes it, it answers from
the log, the source of truth: the same no-gap, no-duplicate page as any other read. Woken by
the same bus as the WebSocket gateway (``on_updates``), including other processes' updates on
Redis; a bus that may have lost wake-ups (``on_resync``) wakes every poll to read again."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from payam.adapters.bus import EventBus
from payam.domain.clock import Clock
from payam.domain.events import Fanout, PendingUpdate, Update
from payam.domain.models import Caller
from payam.services.render import render_messages
from payam.storage import updates as store
from payam.storage.database import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UpdatePage:
    updates: list[Update]
    last_seq: int
    has_more: bool
    # Set when ``after`` is older than the oldest kept update: the client must resync chats.
    too_old: bool = False


# The longest a long poll waits (GET /v1/updates?timeout=S).
MAX_WAIT_SECONDS = 60


class UpdateLog:
    def __init__(self, db: Database, clock: Clock, bus: EventBus) -> None:
        self.listeners: list[Callable[[Sequence[Update]], None]] = []
        self.db = db
        self.clock = clock
        self.bus = bus
        # Long polls waiting, by user.
        self._waiting: dict[int, set[asyncio.Event]] = {}

    # Bus handlers: synchronous and cheap (app.py subscribes them).
    def on_updates(self, updates: Sequence[Update]) -> None:
        if not self._waiting:
            return
        for update in updates:
            for event in self._waiting.get(update.user_id, ()):
                event.set()

    def on_ephemeral(self, _user_ids: Sequence[int], _event: dict[str, Any]) -> None:
        """Typing and the like are for live sockets only: not in the log, no long poll."""

    def on_resync(self) -> None:
        for events in self._waiting.values():
            for event in events:
                event.set()

    async def wait(self, user_id: int, after: int, limit: int, seconds: float) -> UpdatePage:
        """``fetch``, but when nothing is new, wait up to ``seconds`` (at most
        ``MAX_WAIT_SECONDS``) for something to be; an empty page when nothing came."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, min(float(seconds), MAX_WAIT_SECONDS))
        while True:
            woken = asyncio.Event()
            waiting = self._waiting.setdefault(user_id, set())
            waiting.add(woken)
            try:
                page = await self.fetch(user_id, after, limit)
                remaining = deadline - loop.time()
                # ``after`` past the end of the log (a device restored from a backup) must
                # hear at once that it has to resync, not after the wait.
                ahead = after > page.last_seq
                if page.updates or page.too_old or ahead or remaining <= 0:
                    return page
                try:
                    await asyncio.wait_for(woken.wait(), remaining)
                except TimeoutError:
                    return page
            finally:
                waiting.discard(woken)
                if not waiting and self._waiting.get(user_id) is waiting:
                    del self._waiting[user_id]

    async def record(
        self, conn: AsyncConnection, pending: Sequence[PendingUpdate | Fanout]
    ) -> list[Update]:
        """Give each pending update the next seq of its user and store it (no message text).
        A ``Fanout`` is one pending update per user it names, in its order."""
        if not pending:
            return []
        counts: Counter[int] = Counter()
        for p in pending:
            if isinstance(p, Fanout):
                counts.update(p.user_ids)
            else:
                counts[p.user_id] += 1
        next_seq = await store.allocate(conn, counts)
        now = self.clock.now()
        out: list[Update] = []
        rows: list[tuple[Any, ...]] = []
        last: dict[str, Any] | None = None
        payload: str | None = None
        for p in pending:
            if p.payload is not last:  # one payload is shared by every member it goes to
                last = p.payload
                payload = json.dumps(last, separators=(",", ":")) if last else None
            kind, chat_id, message_id = p.kind, p.chat_id, p.message_id
            for user_id in p.user_ids if isinstance(p, Fanout) else (p.user_id,):
                seq = next_seq[user_id]
                next_seq[user_id] = seq + 1
                out.append(
                    Update(user_id, seq, kind, chat_id, message_id, p.payload, now, p.message)
                )
                # In store.COLUMNS order.
                rows.append((user_id, seq, kind, chat_id, message_id, payload, now))
        await store.insert_many(conn, rows)
        return out

    async def publish(self, updates: Sequence[Update]) -> None:
        await self.bus.publish(updates)
        # In the process that committed them only (the bus hands them to every process):
        # Web Push hears of each new message once (services/push.py).
        for listener in self.listeners:
            try:
                listener(updates)
            except Exception:
                log.exception("an update listener failed")

    async def publish_channel(self, chat_id: int, frame: dict[str, Any]) -> None:
        """A channel's change, to its connected subscribers: channels fan out on read, so this
        is not recorded in anyone's log (after the commit only)."""
        await self.bus.publish_channel(chat_id, frame)

    async def fetch(self, user_id: int, after: int, limit: int) -> UpdatePage:
        """Updates after ``after``, in order, with each message as it is now."""
        limit = max(1, min(limit, 1000))
        async with self.db.read(quick=True) as conn:  # a range of one user's log, bounded
            rows = await store.after(conn, user_id, max(0, after), limit + 1)
            last = await store.last_seq(conn, user_id)
            # Also from 0: a new device whose log start was pruned must resync, not get half.
            oldest = await store.first_kept_seq(conn, user_id)
            has_more = len(rows) > limit
            rows = rows[:limit]
            ids = [r.message_id for r in rows if r.message_id is not None]
            rendered = await render_messages(conn, user_id, ids, now=self.clock.now())
        # Updates after ``after`` existed but the oldest of them is no longer kept.
        first_needed = after + 1
        too_old = first_needed <= last and (oldest is None or first_needed < oldest)
        updates = [
            Update(
                r.user_id,
                r.seq,
                r.kind,
                r.chat_id,
                r.message_id,
                json.loads(r.payload) if r.payload else None,
                r.created_at,
                rendered.get(r.message_id) if r.message_id is not None else None,
            )
            for r in rows
        ]
        return UpdatePage(updates, last, has_more, too_old)

    async def last_seq(self, caller: Caller) -> int:
        async with self.db.read() as conn:
            return await store.last_seq(conn, caller.user_id)
