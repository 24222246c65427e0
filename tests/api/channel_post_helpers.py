"""Channels for the posting and delivery tests, made through the storage layer: the tests
are about what happens to posts, not about how a channel is created (tests/api/test_channels*.py
cover that), and a channel of hundreds of subscribers is made in one transaction."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, func, select

from payam.domain import events
from payam.domain.events import PendingUpdate
from payam.storage import chats as chat_store
from payam.storage import users as user_store
from payam.storage.tables import updates
from tests.conftest import Account, Harness

_numbers = itertools.count(1)
_handles = itertools.count(1)


async def make_channel(
    harness: Harness,
    owner: Account,
    *,
    admins: Sequence[Account] = (),
    subscribers: Sequence[Account] = (),
    extra_subscribers: int = 0,
    title: str = "News",
) -> int:
    """A channel owned by ``owner``; ``extra_subscribers`` more made-up users subscribe."""
    now = harness.clock.now()
    async with harness.services.db.write() as conn:
        chat_id = await chat_store.create(
            conn, type_="channel", title=title, direct=None, created_by=owner.user_id, now=now
        )
        handle = f"News{next(_handles)}"
        await chat_store.update_chat(conn, chat_id, handle=handle, handle_key=handle.lower())
        roles = [(owner.user_id, "owner")]
        roles += [(a.user_id, "admin") for a in admins]
        roles += [(s.user_id, "subscriber") for s in subscribers]
        for _ in range(extra_subscribers):
            phone = f"+98935{next(_numbers):07d}"
            user = await user_store.create(
                conn, phone=phone, phone_hash=phone.encode(), name="Reader", now=now
            )
            roles.append((user.id, "subscriber"))
        await chat_store.add_members(conn, chat_id, roles, now=now, start_seq=0)
    return chat_id


async def subscribe(harness: Harness, who: Account, chat_id: int) -> None:
    """What joining does for delivery: the membership, and ``chat_new`` (``chat_type:
    "channel"``) in the subscriber's own log, published after the commit."""
    async with harness.services.db.write() as conn:
        chat = await chat_store.get(conn, chat_id)
        assert chat is not None
        await chat_store.add_members(
            conn,
            chat_id,
            [(who.user_id, "subscriber")],
            now=harness.clock.now(),
            start_seq=chat.last_seq,
        )
        done = await harness.services.updates.record(
            conn,
            [PendingUpdate(who.user_id, events.CHAT_NEW, chat_id, None, {"chat_type": "channel"})],
        )
    await harness.services.updates.publish(done)


async def unsubscribe(harness: Harness, who: Account, chat_id: int) -> None:
    async with harness.services.db.write() as conn:
        assert await chat_store.remove_member(conn, chat_id, who.user_id)
        done = await harness.services.updates.record(
            conn, [PendingUpdate(who.user_id, events.CHAT_REMOVED, chat_id, None, {})]
        )
    await harness.services.updates.publish(done)


async def post(
    harness: Harness, who: Account, chat_id: int, text: str | None = "hello", **extra: Any
) -> Any:
    body: dict[str, Any] = {"client_id": f"p-{next(_numbers)}", **extra}
    if text is not None:
        body["text"] = text
    return await harness.http.post(f"/v1/chats/{chat_id}/messages", json=body, headers=who.headers)


async def history(harness: Harness, who: Account, chat_id: int, **params: Any) -> Any:
    return await harness.http.get(
        f"/v1/chats/{chat_id}/messages", params=params, headers=who.headers
    )


async def update_rows(harness: Harness) -> int:
    async with harness.services.db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(updates)) or 0)


@dataclass
class Statements:
    """Each statement sent, with how many parameter sets (rows) and values it carried."""

    sent: list[tuple[str, int, int]] = field(default_factory=list)

    def without(self, table: str) -> list[tuple[str, int, int]]:
        return [s for s in self.sent if table not in s[0]]


@contextmanager
def recording(harness: Harness) -> Iterator[Statements]:
    """Every SQL statement sent to the database meanwhile (an executemany counts once, with
    the number of its parameter sets)."""
    seen = Statements()

    def note(_conn: Any, _cursor: Any, sql: str, parameters: Any, *_rest: Any) -> None:
        sets = parameters if isinstance(parameters, list) else [parameters]
        values = sum(len(p) if isinstance(p, dict | tuple | list) else 1 for p in sets)
        seen.sent.append((sql, len(sets), values))

    db = harness.services.db
    engines = {db.writer.sync_engine, db.reader.sync_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", note)
