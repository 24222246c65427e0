"""Which open sockets hear a channel's live frames.

Channels fan out on read (P5.1): a post writes no row per subscriber, so the gateway cannot
find its listeners in the updates log. It keeps this index instead, chat id -> connections of
subscribers, in memory and only for the connections it holds:

- filled when a connection opens, from one query for the user's channels, taken in the same
  snapshot as the user's update seq ``as_of``;
- kept true by the user's own updates: ``chat_new`` with ``chat_type: "channel"`` (they joined
  or created one) adds it, ``chat_removed`` takes it out. Updates at or before ``as_of`` are
  already in the snapshot; those that come while the query runs wait for it; an update older
  than one already applied for the same chat (a replay read from the log after a live one)
  changes nothing;
- emptied when the connection closes.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

from payam.domain import events
from payam.domain.events import Update

C = TypeVar("C", bound=Hashable)


class _Subscriptions:
    __slots__ = ("as_of", "chat_ids", "early", "seq_of")

    def __init__(self) -> None:
        self.chat_ids: set[int] = set()
        self.as_of: int | None = None  # None until the first query answered
        self.seq_of: dict[int, int] = {}  # per chat: the update seq that last changed it
        self.early: list[Update] = []  # changes seen before the query answered


class ChannelIndex(Generic[C]):
    """Synchronous and cheap: the bus handlers call it for every update and every frame."""

    def __init__(self) -> None:
        self._by_chat: dict[int, set[C]] = {}
        self._subs: dict[C, _Subscriptions] = {}

    def open(self, conn: C) -> None:
        self._subs[conn] = _Subscriptions()

    def loaded(self, conn: C, chat_ids: Iterable[int], as_of: int) -> None:
        """The user's channels as of their update seq ``as_of``."""
        subs = self._subs.get(conn)
        if subs is None:  # closed meanwhile
            return
        subs.as_of = as_of
        for chat_id in chat_ids:
            self._add(conn, subs, chat_id)
        early, subs.early = subs.early, []
        for update in early:
            self.follow(conn, update)

    def follow(self, conn: C, update: Update) -> None:
        """One of the connection's user's updates (live or replayed, in any order)."""
        if update.kind not in (events.CHAT_NEW, events.CHAT_REMOVED) or update.chat_id is None:
            return
        subs = self._subs.get(conn)
        if subs is None:
            return
        if subs.as_of is None:
            subs.early.append(update)
            return
        chat_id = update.chat_id
        if update.seq <= max(subs.as_of, subs.seq_of.get(chat_id, 0)):
            return
        subs.seq_of[chat_id] = update.seq
        if update.kind == events.CHAT_REMOVED:
            self._remove(conn, subs, chat_id)
        elif (update.payload or {}).get("chat_type") == "channel":
            self._add(conn, subs, chat_id)

    def close(self, conn: C) -> None:
        subs = self._subs.pop(conn, None)
        if subs is not None:
            for chat_id in list(subs.chat_ids):
                self._remove(conn, subs, chat_id)

    def listeners(self, chat_id: int) -> set[C]:
        return self._by_chat.get(chat_id) or set()

    @property
    def channel_count(self) -> int:
        return len(self._by_chat)

    def _add(self, conn: C, subs: _Subscriptions, chat_id: int) -> None:
        subs.chat_ids.add(chat_id)
        self._by_chat.setdefault(chat_id, set()).add(conn)

    def _remove(self, conn: C, subs: _Subscriptions, chat_id: int) -> None:
        subs.chat_ids.discard(chat_id)
        listeners = self._by_chat.get(chat_id)
        if listeners is not None:
            listeners.discard(conn)
            if not listeners:
                del self._by_chat[chat_id]
