"""Issue 9, defects 9, 10 and 11: a message brings a deleted direct chat back to the other side;
a message deleted for me is not unread; blocking silences read receipts."""

from __future__ import annotations

from tests.api.test_blocks import block, unblock
from tests.api.test_chats import (
    BITA,
    CYRUS,
    SARA,
    chat_list,
    direct_chat,
    get_chat,
    last_update_seq,
    send,
    updates_of,
)
from tests.conftest import Account, Harness


async def history(harness: Harness, viewer: Account, chat_id: int) -> list[str]:
    response = await harness.http.get(f"/v1/chats/{chat_id}/messages", headers=viewer.headers)
    assert response.status_code == 200, response.text
    return [m["text"] for m in response.json()["messages"]]


async def test_a_message_brings_a_deleted_direct_chat_back_with_that_message(
    harness: Harness,
) -> None:
    sara, bita = await harness.sign_in(SARA, "Sara"), await harness.sign_in(BITA, "Bita")
    chat = await direct_chat(harness, sara, bita)
    await send(harness, sara, chat, "before you left")
    assert (await harness.http.delete(f"/v1/chats/{chat}", headers=bita.headers)).status_code == 204
    after = await last_update_seq(harness, bita)
    await send(harness, sara, chat, "are you there?")
    listed = [c for c in await chat_list(harness, bita) if c["id"] == chat]
    assert len(listed) == 1
    assert listed[0]["last_message"]["text"] == "are you there?"
    assert listed[0]["unread_count"] == 1
    # Only what came after she left: the history she deleted stays deleted.
    assert await history(harness, bita, chat) == ["are you there?"]
    kinds = [(u["kind"], u["chat_id"]) for u in await updates_of(harness, bita, after)]
    assert kinds == [("chat_new", chat), ("message_new", chat)]
    # Both are members again; a second message changes nothing more than a message would.
    assert {m["user_id"] for m in (await get_chat(harness, sara, chat))["members"]} == {
        sara.user_id,
        bita.user_id,
    }
    await send(harness, sara, chat, "again")
    assert await history(harness, bita, chat) == ["are you there?", "again"]


async def test_a_blocked_sender_does_not_bring_the_chat_back(harness: Harness) -> None:
    sara, bita = await harness.sign_in(SARA, "Sara"), await harness.sign_in(BITA, "Bita")
    chat = await direct_chat(harness, sara, bita)
    assert (await block(harness, bita, sara.user_id)).status_code in {200, 201, 204}
    assert (await harness.http.delete(f"/v1/chats/{chat}", headers=bita.headers)).status_code == 204
    await send(harness, sara, chat, "let me in", expect=403)
    assert all(c["id"] != chat for c in await chat_list(harness, bita))


async def test_a_message_deleted_for_me_is_not_unread(harness: Harness) -> None:
    sara, bita = await harness.sign_in(SARA, "Sara"), await harness.sign_in(BITA, "Bita")
    chat = await direct_chat(harness, sara, bita)
    message = await send(harness, sara, chat, "delete me")
    assert [c["unread_count"] for c in await chat_list(harness, bita)] == [1]
    response = await harness.http.delete(
        f"/v1/chats/{chat}/messages/{message['id']}?for=me", headers=bita.headers
    )
    assert response.status_code == 204, response.text
    assert [c["unread_count"] for c in await chat_list(harness, bita)] == [0]
    assert (await get_chat(harness, bita, chat))["unread_count"] == 0
    await send(harness, sara, chat, "keep me")
    assert [c["unread_count"] for c in await chat_list(harness, bita)] == [1]


async def test_blocking_silences_read_receipts_both_ways(harness: Harness) -> None:
    sara, bita = await harness.sign_in(SARA, "Sara"), await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    response = await harness.http.post(
        "/v1/chats",
        json={"type": "group", "title": "G", "member_ids": [bita.user_id, cyrus.user_id]},
        headers=sara.headers,
    )
    chat = response.json()["id"]
    await send(harness, cyrus, chat, "one")
    await send(harness, cyrus, chat, "two")
    assert (await block(harness, bita, sara.user_id)).is_success
    marks = {who.user_id: await last_update_seq(harness, who) for who in (sara, bita, cyrus)}

    async def read(who: Account, seq: int) -> None:
        answer = await harness.http.post(
            f"/v1/chats/{chat}/read", json={"seq": seq}, headers=who.headers
        )
        assert answer.is_success, answer.text

    def receipts(updates: list[dict[str, object]], reader: int) -> list[object]:
        return [u["read_seq"] for u in updates if u["kind"] == "read" and u["user_id"] == reader]

    await read(bita, 1)  # the blocker reads: the blocked one is not told
    await read(sara, 2)  # the blocked one reads: the blocker is not told
    assert receipts(await updates_of(harness, sara, marks[sara.user_id]), bita.user_id) == []
    assert receipts(await updates_of(harness, bita, marks[bita.user_id]), sara.user_id) == []
    cyrus_sees = await updates_of(harness, cyrus, marks[cyrus.user_id])
    assert receipts(cyrus_sees, bita.user_id) == [1]
    assert receipts(cyrus_sees, sara.user_id) == [2]
    # Nor does the member list tell them each other's marker.
    seen_by_sara = {
        m["user_id"]: m["read_seq"] for m in (await get_chat(harness, sara, chat))["members"]
    }
    assert seen_by_sara[bita.user_id] is None and seen_by_sara[cyrus.user_id] == 2
    assert {m["user_id"]: m["read_seq"] for m in (await get_chat(harness, cyrus, chat))["members"]}[
        bita.user_id
    ] == 1
    assert (await unblock(harness, bita, sara.user_id)).is_success
    assert {m["user_id"]: m["read_seq"] for m in (await get_chat(harness, sara, chat))["members"]}[
        bita.user_id
    ] == 1
