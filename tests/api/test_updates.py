"""Missed updates over HTTP (issue 3 "Real time and sync"; P5.1, P5.3): ``GET /v1/updates``
returns what a device missed in order of the per-user seq, pages with ``limit`` and
``has_more``, shows each message as it is now, and the log itself holds no message text."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sqlalchemy import select

from payam.storage.tables import updates as updates_table
from tests.api.message_helpers import delete, direct_chat, group_chat, people, sent, updates
from tests.conftest import Harness


async def test_updates_come_in_order_of_a_strictly_increasing_seq(harness: Harness) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    texts = [f"n{i}" for i in range(5)]
    for text in texts:
        await sent(harness, ali, chat, text)
    page = await updates(harness, bita)
    seqs = [u["seq"] for u in page["updates"]]
    assert seqs == list(range(1, len(seqs) + 1))
    assert page["last_seq"] == seqs[-1]
    assert page["has_more"] is False
    assert page["resync_required"] is False
    kinds = [u["kind"] for u in page["updates"]]
    assert kinds == ["chat_new"] + ["message_new"] * 5
    assert [u["message"]["text"] for u in page["updates"][1:]] == texts
    assert all(u["chat_id"] == chat for u in page["updates"])


async def test_updates_page_with_after_limit_and_has_more(harness: Harness) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    for i in range(6):
        await sent(harness, ali, chat, f"n{i}")
    everything = (await updates(harness, bita))["updates"]
    assert len(everything) == 7
    seen: list[Any] = []
    after = 0
    while True:
        page = await updates(harness, bita, after=after, limit=3)
        assert len(page["updates"]) <= 3
        seen += page["updates"]
        if not page["has_more"]:
            break
        after = page["updates"][-1]["seq"]
    assert seen == everything
    tail = await updates(harness, bita, after=7)
    assert tail["updates"] == []
    assert tail["has_more"] is False
    assert tail["last_seq"] == 7
    middle = await updates(harness, bita, after=2, limit=2)
    assert [u["seq"] for u in middle["updates"]] == [3, 4]
    assert middle["has_more"] is True
    for bad in ({"after": -1}, {"limit": 0}, {"limit": 1001}):
        response = await harness.http.get("/v1/updates", params=bad, headers=bita.headers)
        assert response.status_code == 422, bad


async def test_updates_are_per_user(harness: Harness) -> None:
    ali, bita, cyrus = await people(harness, "Ali", "Bita", "Cyrus")
    chat = await direct_chat(harness, ali, bita)
    await sent(harness, ali, chat, "not for cyrus")
    page = await updates(harness, cyrus)
    assert page["updates"] == []
    assert page["last_seq"] == 0


async def test_missed_messages_are_shown_as_they_are_now(harness: Harness) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    edited = await sent(harness, ali, chat, "first version")
    response = await harness.http.patch(
        f"/v1/chats/{chat}/messages/{edited['id']}",
        json={"text": "second version"},
        headers=ali.headers,
    )
    assert response.status_code == 200
    deleted = await sent(harness, ali, chat, "soon deleted")
    assert (await delete(harness, ali, chat, deleted["id"], "everyone")).status_code == 204

    page = (await updates(harness, bita))["updates"]
    kinds = [(u["kind"], u.get("message", {}).get("id")) for u in page]
    assert kinds == [
        ("chat_new", None),
        ("message_new", edited["id"]),
        ("message_edited", edited["id"]),
        ("message_new", deleted["id"]),
        ("message_deleted", deleted["id"]),
    ]
    for update in page[1:3]:
        assert update["message"]["text"] == "second version"
        assert update["message"]["edited"] is True
    for update in page[3:]:
        assert update["message"]["deleted"] is True
        assert update["message"]["text"] is None
    assert "first version" not in str(page)
    assert "soon deleted" not in str(page)


async def test_a_message_hidden_for_me_shows_as_gone_on_my_devices_only(
    harness: Harness,
) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    message = await sent(harness, ali, chat, "hide me")
    assert (await delete(harness, bita, chat, message["id"], "me")).status_code == 204
    mine = (await updates(harness, bita))["updates"]
    assert [u["kind"] for u in mine][-2:] == ["message_new", "message_hidden"]
    assert all(u["message"]["text"] is None for u in mine[-2:])
    assert "hide me" not in str(mine)
    theirs = (await updates(harness, ali))["updates"]
    assert theirs[-1]["kind"] == "message_new"
    assert theirs[-1]["message"]["text"] == "hide me"


async def test_after_leaving_updates_show_nothing_of_the_chats_messages(
    harness: Harness,
) -> None:
    owner, member = await people(harness, "Owner", "Member")
    chat = await group_chat(harness, owner, [member])
    message = await sent(harness, owner, chat, "said before leaving")
    leave = await harness.http.delete(f"/v1/chats/{chat}", headers=member.headers)
    assert leave.status_code == 204
    page = (await updates(harness, member))["updates"]
    assert page[-1]["kind"] == "chat_removed"
    new = next(u for u in page if u["kind"] == "message_new")
    assert "message" not in new
    assert new["message_id"] == message["id"]
    assert "said before leaving" not in str(page)


async def test_the_updates_log_holds_no_message_text(harness: Harness) -> None:
    ali, bita, cyrus = await people(harness, "Ali", "Bita", "Cyrus")
    chat = await direct_chat(harness, ali, bita)
    group = await group_chat(harness, ali, [bita, cyrus])
    words = ["zanjabil-first", "zanjabil-second", "zanjabil-group"]
    first = await sent(harness, ali, chat, words[0])
    await harness.http.patch(
        f"/v1/chats/{chat}/messages/{first['id']}", json={"text": words[1]}, headers=ali.headers
    )
    reply = await sent(harness, bita, group, words[2])
    await harness.http.post(f"/v1/chats/{group}/read", json={"seq": 1}, headers=cyrus.headers)
    await delete(harness, ali, group, reply["id"], "me")
    async with harness.services.db.read() as conn:
        rows = (await conn.execute(select(updates_table))).all()
    assert rows
    dump = repr([tuple(row) for row in rows])
    for word in words:
        assert word not in dump
    assert "zanjabil" not in dump


async def test_updates_after_the_end_of_the_log_ask_for_a_resync(harness: Harness) -> None:
    """Issue 9.4: a device restored from a backup asks for more than the log holds."""
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    await sent(harness, ali, chat, "hello")
    page = await updates(harness, bita, after=5000)
    assert page["updates"] == []
    assert page["last_seq"] == 2
    assert page["resync_required"] is True
    assert (await updates(harness, bita, after=2))["resync_required"] is False


# -- long polling (GET /v1/updates?timeout=S, issue #12) -----------------------------------------

# Bounds the tests' own waits: a long poll that is never woken fails the test instead of
# hanging it (no timing is asserted).
BOUND = 20


async def test_a_long_poll_answers_as_soon_as_a_message_arrives(harness: Harness) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    after = (await updates(harness, bita))["last_seq"]
    poll = asyncio.create_task(updates(harness, bita, after=after, timeout=60))
    for _ in range(20):  # let the poll reach its wait
        await asyncio.sleep(0)
    assert not poll.done()
    message = await sent(harness, ali, chat, "are you there?")
    async with asyncio.timeout(BOUND):
        page = await poll
    assert [(u["seq"], u["kind"]) for u in page["updates"]] == [(after + 1, "message_new")]
    assert page["updates"][0]["message"]["id"] == message["id"]
    assert page["last_seq"] == after + 1


async def test_a_long_poll_with_something_new_answers_at_once_without_gap_or_duplicate(
    harness: Harness,
) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    for i in range(3):
        await sent(harness, ali, chat, f"n{i}")
    async with asyncio.timeout(BOUND):
        page = await updates(harness, bita, after=1, limit=1, timeout=60)
        rest = await updates(harness, bita, after=2, timeout=60)
    assert [u["seq"] for u in page["updates"]] == [2]
    assert page["has_more"] is True
    assert [u["seq"] for u in rest["updates"]] == [3, 4]


async def test_a_long_poll_is_not_woken_by_someone_elses_update(harness: Harness) -> None:
    ali, bita, cyrus = await people(harness, "Ali", "Bita", "Cyrus")
    chat = await direct_chat(harness, ali, bita)
    after = (await updates(harness, cyrus))["last_seq"]
    poll = asyncio.create_task(updates(harness, cyrus, after=after, timeout=60))
    for _ in range(20):
        await asyncio.sleep(0)
    await sent(harness, ali, chat, "not for cyrus")
    for _ in range(20):
        await asyncio.sleep(0)
    assert not poll.done()
    poll.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await poll
    assert harness.services.updates._waiting == {}


async def test_long_poll_timeout_is_at_most_sixty_seconds(harness: Harness) -> None:
    (ali,) = await people(harness, "Ali")
    for bad in ({"timeout": 61}, {"timeout": -1}, {"timeout": "soon"}):
        response = await harness.http.get("/v1/updates", params=bad, headers=ali.headers)
        assert response.status_code == 422, bad
    async with asyncio.timeout(BOUND):
        page = await updates(harness, ali, timeout=0)  # the same as no timeout: at once
    assert page["updates"] == []


async def test_a_long_poll_with_nothing_new_ends_empty_when_its_time_is_up(
    harness: Harness,
) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    await direct_chat(harness, ali, bita)
    last = (await updates(harness, bita))["last_seq"]
    async with asyncio.timeout(BOUND):
        page = await harness.services.updates.wait(bita.user_id, last, 100, 0.05)
    assert page.updates == []
    assert page.last_seq == last
    assert harness.services.updates._waiting == {}


async def test_a_bus_that_may_have_lost_wake_ups_makes_long_polls_read_again(
    harness: Harness,
) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    log = harness.services.updates
    after = (await updates(harness, bita))["last_seq"]
    poll = asyncio.create_task(log.wait(bita.user_id, after, 100, 60))
    for _ in range(20):
        await asyncio.sleep(0)
    # A message committed whose wake-up was lost (another process, a Redis reconnect).
    publish = log.bus.publish
    log.bus.publish = _nothing  # type: ignore[method-assign]
    try:
        await sent(harness, ali, chat, "lost wake-up")
    finally:
        log.bus.publish = publish  # type: ignore[method-assign]
    for _ in range(20):
        await asyncio.sleep(0)
    assert not poll.done()
    log.on_resync()
    async with asyncio.timeout(BOUND):
        page = await poll
    assert [u.kind for u in page.updates] == ["message_new"]


async def _nothing(_updates: Any) -> None:
    return None


async def test_a_long_poll_past_the_end_of_the_log_answers_resync_at_once(
    harness: Harness,
) -> None:
    """A device restored from a backup asks with ``after`` past the end: waiting would only
    delay the news that it must reload (issue 9.4 with issue 12's long poll)."""
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    await sent(harness, ali, chat, "hello")
    async with asyncio.timeout(BOUND):
        page = await harness.services.updates.wait(bita.user_id, 5000, 100, 60)
    assert page.updates == []
    assert page.last_seq == 2
    assert harness.services.updates._waiting == {}
