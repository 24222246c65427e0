"""Search at scale (issue 12, docs/benchmarks.md "Flat at scale"): ``GET /v1/search`` walks the
word's matches newest first, a chunk at a time, and stops at the limit; past a budget of matches
it looks in the caller's own history instead. Here the index holds far more matches than one
chunk (and than the budget), the caller's few among many in chats they are not in, and the
answer must still be exactly the caller's visible matches, newest first, ``limit`` of them:
none from a chat they never joined or left, from before their history floor, hidden for them,
deleted or expired (P5.3)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select, update

from payam.storage import messages as store
from payam.storage.tables import chats
from tests.api.message_helpers import delete, direct_chat, group_chat, people, search
from tests.conftest import Account, Harness


@dataclass
class Ledger:
    """Which of the inserted messages the caller may find, the rest by why not."""

    visible: list[int] = field(default_factory=list)
    invisible: dict[int, str] = field(default_factory=dict)

    def expected(self, limit: int) -> list[int]:
        return sorted(self.visible, reverse=True)[:limit]


_client_ids = itertools.count(1)


async def fill(harness: Harness, rows: list[tuple[int, int, str, float | None]]) -> list[int]:
    """Store (chat, sender, text, expires_at) rows in this order, each chat's seqs continuing
    its ``last_seq``: one statement, where a send per row would take minutes."""
    now = harness.clock.now()
    async with harness.services.db.write() as conn:
        last = {
            row.id: row.last_seq for row in await conn.execute(select(chats.c.id, chats.c.last_seq))
        }
        values: list[dict[str, Any]] = []
        for chat, sender, text, expires_at in rows:
            last[chat] += 1
            values.append(
                {
                    "chat_id": chat,
                    "seq": last[chat],
                    "sender_id": sender,
                    "client_id": f"bulk-{next(_client_ids)}",
                    "text": text,
                    "content_hash": None,
                    "reply_to": None,
                    "forward_of": None,
                    "forward_from_user_id": None,
                    "created_at": now,
                    "expires_at": expires_at,
                }
            )
        ids = await store.insert_many(conn, values)
        for chat in {row[0] for row in rows}:
            await conn.execute(update(chats).where(chats.c.id == chat).values(last_seq=last[chat]))
    return ids


@dataclass
class World:
    ali: Account
    bita: Account
    ours: int  # Ali and Bita's direct chat
    floor: int  # a group Ali clears for himself half-way
    left: int  # a group Ali leaves at the end
    theirs: int  # Cyrus and Dara's direct chat: Ali was never in it


async def world(harness: Harness) -> World:
    ali, bita, cyrus, dara = await people(harness, "Ali", "Bita", "Cyrus", "Dara")
    return World(
        ali,
        bita,
        ours=await direct_chat(harness, ali, bita),
        floor=await group_chat(harness, bita, [ali], "floor"),
        left=await group_chat(harness, cyrus, [ali], "left"),
        theirs=await direct_chat(harness, cyrus, dara),
    )


async def callers_batch(
    harness: Harness, w: World, ledger: Ledger, pattern: list[str], *, before_floor: bool
) -> None:
    """One message per entry of ``pattern``: "theirs" in the chat Ali is not in, "ours" (found),
    "expired", "hidden", "deleted", "plum" (no match) in Ali's direct chat, "floor" and "left"
    in the two groups."""
    expired_at = harness.clock.now() - 1.0
    rows: list[tuple[int, int, str, float | None]] = []
    for i, kind in enumerate(pattern):
        chat = {"theirs": w.theirs, "floor": w.floor, "left": w.left}.get(kind, w.ours)
        text = f"plum {i}" if kind == "plum" else f"kumquat {kind} {i}"
        rows.append((chat, w.bita.user_id, text, expired_at if kind == "expired" else None))
    ids = await fill(harness, rows)
    for message_id, kind in zip(ids, pattern, strict=True):
        if kind == "theirs":
            continue
        if kind == "ours" or (kind == "floor" and not before_floor):
            ledger.visible.append(message_id)
        else:
            ledger.invisible[message_id] = "before the floor" if kind == "floor" else kind
        if kind == "hidden":
            assert (await delete(harness, w.ali, w.ours, message_id, "me")).status_code == 204
        if kind == "deleted":
            response = await delete(harness, w.bita, w.ours, message_id, "everyone")
            assert response.status_code == 204


async def clear_floor(harness: Harness, w: World) -> None:
    clear = await harness.http.post(
        f"/v1/chats/{w.floor}/clear", params={"for": "me"}, headers=w.ali.headers
    )
    assert clear.status_code == 204


async def assert_found(harness: Harness, w: World, ledger: Ledger, limit: int) -> None:
    found = await search(harness, w.ali, "kumquat", limit=limit)
    ids = [m["id"] for m in found]
    wrong = {i: ledger.invisible[i] for i in ids if i in ledger.invisible}
    assert wrong == {}, wrong
    assert ids == ledger.expected(limit), limit
    assert all(str(m["text"]).startswith("kumquat") for m in found)


def interleaved(total: int, every: int, kinds: list[str]) -> list[str]:
    """``total`` entries, every ``every``-th one of the caller's (cycling through ``kinds``),
    the others in the chat the caller is not in."""
    return [kinds[(i // every) % len(kinds)] if i % every == 0 else "theirs" for i in range(total)]


@pytest.fixture(params=["small history", "walk", "short walk"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which of search's ways answers: checking a small history message by message, or the
    walk newest first, with the real chunks and budgets or short ones (so that on both
    databases the walk takes many chunks and then the way past its budget)."""
    monkeypatch.setattr(store, "_SMALL_HISTORY", 10**9 if request.param == "small history" else -1)
    if request.param == "short walk":
        for name, value in [
            ("_FIRST_CHUNK", 16),
            ("_SCAN_BUDGET", 200),
            ("_FIRST_ROWS", 50),
            ("_ROW_BUDGET", 600),
        ]:
            monkeypatch.setattr(store, name, value)
    return str(request.param)


KINDS = ["ours", "floor", "expired", "ours", "left", "hidden", "ours", "deleted", "plum", "floor"]


async def test_search_walks_many_chunks_newest_first_and_keeps_only_the_callers(
    harness: Harness, way: str
) -> None:
    w = await world(harness)
    ledger = Ledger()
    # Five first chunks of matches; about one in twenty-five is Ali's and visible, so a limit
    # of 20 needs several chunks and a limit of 100 reads every match there is.
    half = 500
    await callers_batch(harness, w, ledger, interleaved(half, 9, KINDS), before_floor=True)
    await clear_floor(harness, w)
    await callers_batch(harness, w, ledger, interleaved(half, 11, KINDS), before_floor=False)
    leave = await harness.http.delete(f"/v1/chats/{w.left}", headers=w.ali.headers)
    assert leave.status_code == 204
    for kind in ("left", "before the floor", "expired", "hidden", "deleted", "plum"):
        assert kind in ledger.invisible.values(), kind

    for limit in (1, 7, 20, 100):
        await assert_found(harness, w, ledger, limit)
    assert len(ledger.visible) < 100  # so the last limit reads every match
    # Bita sees every match of their chat, the hidden one too; never Cyrus and Dara's.
    bitas = await search(harness, w.bita, "kumquat", limit=100)
    assert all(m["chat_id"] in {w.ours, w.floor} for m in bitas)


async def test_search_past_the_budget_finds_the_callers_older_matches_the_same(
    harness: Harness, way: str
) -> None:
    w = await world(harness)
    ledger = Ledger()
    # Oldest first: Ali's messages among others, his floor, more of his, then more matches than
    # the whole budget with only three of his, so the rest are found below the last one walked.
    await callers_batch(harness, w, ledger, interleaved(400, 7, KINDS), before_floor=True)
    await clear_floor(harness, w)
    await callers_batch(harness, w, ledger, interleaved(400, 11, KINDS), before_floor=False)
    newest = interleaved(3300, 1100, ["ours"])
    await callers_batch(harness, w, ledger, [*newest[1:], "ours"], before_floor=False)
    leave = await harness.http.delete(f"/v1/chats/{w.left}", headers=w.ali.headers)
    assert leave.status_code == 204

    assert len(ledger.visible) > 20
    for limit in (2, 3, 5, 20, 100):
        await assert_found(harness, w, ledger, limit)
