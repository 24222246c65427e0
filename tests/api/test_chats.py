"""Chats over HTTP (P5.1, P5.2, P9.1): direct chats, the chat list with last message and unread
count, one chat with its members, clearing history, reports, and the updates each member is
told of. Groups are in ``test_groups``, blocks in ``test_blocks``, invite links in
``test_invite_links``; the helpers here are shared with them."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from payam.storage.tables import chats, messages, reports
from tests.conftest import Account, Harness

SARA = "+989120000001"
BITA = "+989121110001"
CYRUS = "+989121110002"
DARA = "+989121110003"

_client_ids = itertools.count(1)


# --- helpers (also used by the other chat test modules) -------------------------------------


def code_of(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


async def start_direct(harness: Harness, caller: Account, other_id: int) -> httpx.Response:
    return await harness.http.post(
        "/v1/chats", json={"type": "direct", "user_id": other_id}, headers=caller.headers
    )


async def direct_chat(harness: Harness, caller: Account, other: Account) -> int:
    response = await start_direct(harness, caller, other.user_id)
    assert response.status_code in {200, 201}, response.text
    chat_id: int = response.json()["id"]
    return chat_id


async def create_group(
    harness: Harness, owner: Account, *members: Account, title: str = "Friends"
) -> int:
    response = await harness.http.post(
        "/v1/chats",
        json={"type": "group", "title": title, "member_ids": [m.user_id for m in members]},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text
    chat_id: int = response.json()["id"]
    return chat_id


async def send(
    harness: Harness, sender: Account, chat_id: int, text: str, *, expect: int = 201
) -> dict[str, Any]:
    response = await harness.http.post(
        f"/v1/chats/{chat_id}/messages",
        json={"client_id": f"c{next(_client_ids)}", "text": text},
        headers=sender.headers,
    )
    assert response.status_code == expect, response.text
    body: dict[str, Any] = response.json()
    return body


async def get_chat(harness: Harness, viewer: Account, chat_id: int) -> dict[str, Any]:
    response = await harness.http.get(f"/v1/chats/{chat_id}", headers=viewer.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def chat_list(harness: Harness, viewer: Account) -> list[dict[str, Any]]:
    response = await harness.http.get("/v1/chats", headers=viewer.headers)
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


async def history(harness: Harness, viewer: Account, chat_id: int) -> list[dict[str, Any]]:
    response = await harness.http.get(f"/v1/chats/{chat_id}/messages", headers=viewer.headers)
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()["messages"]
    return body


async def updates_of(harness: Harness, account: Account, after: int = 0) -> list[dict[str, Any]]:
    response = await harness.http.get(
        "/v1/updates", params={"after": after, "limit": 1000}, headers=account.headers
    )
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()["updates"]
    return body


async def last_update_seq(harness: Harness, account: Account) -> int:
    response = await harness.http.get(
        "/v1/updates", params={"after": 0, "limit": 1}, headers=account.headers
    )
    seq: int = response.json()["last_seq"]
    return seq


async def kinds_since(harness: Harness, account: Account, chat_id: int, after: int) -> list[str]:
    return [u["kind"] for u in await updates_of(harness, account, after) if u["chat_id"] == chat_id]


def member_ids(chat: dict[str, Any]) -> set[int]:
    return {m["user_id"] for m in chat["members"]}


# --- direct chats ---------------------------------------------------------------------------


async def test_direct_chat_is_created_once_per_pair_whoever_asks(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    first = await start_direct(harness, sara, bita.user_id)
    assert first.status_code == 201, first.text
    chat = first.json()
    assert chat["type"] == "direct"
    assert chat["peer_id"] == bita.user_id
    assert chat["member_count"] == 2
    again = await start_direct(harness, sara, bita.user_id)
    assert again.status_code == 200
    assert again.json()["id"] == chat["id"]
    other_side = await start_direct(harness, bita, sara.user_id)
    assert other_side.status_code == 200
    assert other_side.json()["id"] == chat["id"]
    assert other_side.json()["peer_id"] == sara.user_id
    assert [c["id"] for c in await chat_list(harness, sara)] == [chat["id"]]
    assert [c["id"] for c in await chat_list(harness, bita)] == [chat["id"]]


async def test_direct_chat_with_yourself_is_422(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    response = await start_direct(harness, sara, sara.user_id)
    assert response.status_code == 422
    assert code_of(response) == "invalid_user"
    assert await chat_list(harness, sara) == []


async def test_direct_chat_with_an_unknown_user_is_404(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    response = await start_direct(harness, sara, sara.user_id + 1000)
    assert response.status_code == 404
    assert code_of(response) == "user_not_found"
    assert await chat_list(harness, sara) == []


async def test_direct_chat_tells_both_sides_with_chat_new(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    chat_id = await direct_chat(harness, sara, bita)
    for account in (sara, bita):
        assert await kinds_since(harness, account, chat_id, 0) == ["chat_new"]


@pytest.mark.parametrize("rounds", [3])
async def test_concurrent_direct_chat_requests_make_one_chat_and_no_500(
    harness: Harness, rounds: int
) -> None:
    """Both sides (and retries) asking at the same moment: one chat, every answer 200/201."""
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    responses = await asyncio.gather(
        *(
            start_direct(harness, a, b.user_id)
            for _ in range(rounds)
            for a, b in ((sara, bita), (bita, sara))
        )
    )
    assert {r.status_code for r in responses} <= {200, 201}, [r.text for r in responses]
    assert [r.status_code for r in responses].count(201) == 1
    assert len({r.json()["id"] for r in responses}) == 1
    async with harness.services.db.read() as conn:
        rows = (await conn.execute(select(chats.c.id))).all()
    assert len(rows) == 1


async def test_leaving_a_direct_chat_and_coming_back_does_not_bring_back_its_history(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    chat_id = await direct_chat(harness, sara, bita)
    await send(harness, bita, chat_id, "before you left")
    response = await harness.http.delete(f"/v1/chats/{chat_id}", headers=sara.headers)
    assert response.status_code == 204
    assert await chat_list(harness, sara) == []
    back = await start_direct(harness, sara, bita.user_id)
    assert back.status_code == 200
    assert back.json()["id"] == chat_id
    assert await history(harness, sara, chat_id) == []
    [listed] = await chat_list(harness, sara)
    assert listed["unread_count"] == 0
    assert listed["last_message"] is None
    # Bita still has the history she never deleted.
    assert [m["text"] for m in await history(harness, bita, chat_id)] == ["before you left"]
    await send(harness, bita, chat_id, "welcome back")
    assert [m["text"] for m in await history(harness, sara, chat_id)] == ["welcome back"]


async def test_direct_chat_goes_for_good_when_both_sides_left(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    chat_id = await direct_chat(harness, sara, bita)
    await send(harness, sara, chat_id, "soon gone")
    for account in (sara, bita):
        response = await harness.http.delete(f"/v1/chats/{chat_id}", headers=account.headers)
        assert response.status_code == 204
    async with harness.services.db.read() as conn:
        assert (await conn.execute(select(chats.c.id))).all() == []
        assert (await conn.execute(select(messages.c.id))).all() == []


# --- the chat list and one chat ---------------------------------------------------------------


async def test_chat_list_shows_last_message_and_unread_count_until_read(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    direct = await direct_chat(harness, sara, bita)
    group = await create_group(harness, sara, bita, cyrus, title="Trip")
    await send(harness, bita, direct, "hi Sara")
    await send(harness, bita, direct, "are you there?")
    await send(harness, cyrus, group, "tickets booked")
    harness.clock.advance(5)
    await send(harness, sara, direct, "yes!")
    await send(harness, bita, direct, "great")

    listed = await chat_list(harness, sara)
    # Newest activity first.
    assert [c["id"] for c in listed] == [direct, group]
    by_id = {c["id"]: c for c in listed}
    assert by_id[direct]["last_message"]["text"] == "great"
    assert by_id[direct]["last_message"]["sender_id"] == bita.user_id
    # Sending "yes!" read everything before it; "great" came after.
    assert by_id[direct]["unread_count"] == 1
    assert by_id[group]["unread_count"] == 1
    assert by_id[group]["title"] == "Trip"
    assert by_id[group]["last_message"]["text"] == "tickets booked"

    bita_list = {c["id"]: c for c in await chat_list(harness, bita)}
    assert bita_list[direct]["unread_count"] == 0  # her own messages are not unread
    assert bita_list[group]["unread_count"] == 1

    last_seq = by_id[direct]["last_seq"]
    response = await harness.http.post(
        f"/v1/chats/{direct}/read", json={"seq": last_seq}, headers=sara.headers
    )
    assert response.status_code in {200, 204}, response.text
    by_id = {c["id"]: c for c in await chat_list(harness, sara)}
    assert by_id[direct]["unread_count"] == 0
    assert by_id[direct]["read_seq"] == last_seq
    assert by_id[group]["unread_count"] == 1
    assert (await get_chat(harness, sara, direct))["unread_count"] == 0


async def listed_ids(harness: Harness, viewer: Account, limit: int | None = None) -> list[int]:
    params = {} if limit is None else {"limit": limit}
    response = await harness.http.get("/v1/chats", params=params, headers=viewer.headers)
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()]


async def test_a_chat_with_a_newer_message_moves_to_the_top_and_limit_keeps_the_newest(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    dara = await harness.sign_in(DARA, "Dara")
    with_bita = await direct_chat(harness, sara, bita)
    with_cyrus = await direct_chat(harness, sara, cyrus)
    trip = await create_group(harness, sara, bita, cyrus, title="Trip")
    quiet = await create_group(harness, sara, dara, title="Quiet")  # never a message
    with_dara = await direct_chat(harness, sara, dara)  # never a message
    await send(harness, bita, with_bita, "one")
    await send(harness, cyrus, with_cyrus, "two")
    await send(harness, sara, trip, "three")
    # Chats without a message come last, the newest chat first.
    silent = sorted([quiet, with_dara], reverse=True)
    assert await listed_ids(harness, sara) == [trip, with_cyrus, with_bita, *silent]

    await send(harness, bita, with_bita, "four")
    assert await listed_ids(harness, sara) == [with_bita, trip, with_cyrus, *silent]
    await send(harness, dara, quiet, "five")
    everything = [quiet, with_bita, trip, with_cyrus, with_dara]
    assert await listed_ids(harness, sara) == everything
    # A smaller page is the start of the same order, whatever its size.
    for limit in range(1, 6):
        assert await listed_ids(harness, sara, limit) == everything[:limit]
    assert await listed_ids(harness, sara, 500) == everything
    # Others see only their own chats, in the same order among them.
    assert await listed_ids(harness, dara) == [quiet, with_dara]
    assert await listed_ids(harness, bita) == [with_bita, trip]
    last = {c["id"]: c["last_message"] for c in await chat_list(harness, sara)}
    assert last[with_bita]["text"] == "four"
    assert last[quiet]["text"] == "five"
    assert last[with_dara] is None


async def test_unread_counts_follow_sends_reads_deletions_and_clearing(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    direct = await direct_chat(harness, sara, bita)
    group = await create_group(harness, sara, bita, cyrus, title="Trip")

    async def unread() -> dict[int, int]:
        return {c["id"]: c["unread_count"] for c in await chat_list(harness, sara)}

    assert await unread() == {direct: 0, group: 0}
    sent = [await send(harness, bita, direct, f"d{i}") for i in range(4)]
    await send(harness, cyrus, group, "g0")
    await send(harness, bita, group, "g1")
    assert await unread() == {direct: 4, group: 2}
    # Reading up to the second message leaves two.
    response = await harness.http.post(
        f"/v1/chats/{direct}/read", json={"seq": sent[1]["seq"]}, headers=sara.headers
    )
    assert response.status_code == 200, response.text
    assert await unread() == {direct: 2, group: 2}
    # A message deleted for everyone is no longer waiting.
    response = await harness.http.delete(
        f"/v1/chats/{direct}/messages/{sent[3]['id']}",
        params={"for": "everyone"},
        headers=bita.headers,
    )
    assert response.status_code == 204
    assert await unread() == {direct: 1, group: 2}
    # Sending reads the chat for the sender; her message waits for the others (Bita's own
    # "g1" read the group for her up to it).
    await send(harness, sara, group, "mine")
    assert await unread() == {direct: 1, group: 0}
    bita_unread = {c["id"]: c["unread_count"] for c in await chat_list(harness, bita)}
    assert bita_unread == {direct: 0, group: 1}
    # Clearing the history for herself leaves nothing unread and no last message...
    response = await harness.http.post(f"/v1/chats/{direct}/clear", headers=sara.headers)
    assert response.status_code == 204
    assert await unread() == {direct: 0, group: 0}
    assert {c["id"]: c["last_message"] for c in await chat_list(harness, sara)}[direct] is None
    # ...until the next message, which is both unread and shown.
    await send(harness, bita, direct, "after the clear")
    assert await unread() == {direct: 1, group: 0}
    listed = {c["id"]: c for c in await chat_list(harness, sara)}
    assert listed[direct]["last_message"]["text"] == "after the clear"
    assert [c["id"] for c in await chat_list(harness, sara)] == [direct, group]


async def test_a_chat_left_or_deleted_drops_out_of_the_list(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    direct = await direct_chat(harness, sara, bita)
    left = await create_group(harness, bita, sara, cyrus, title="Left")
    deleted = await create_group(harness, cyrus, sara, bita, title="Deleted")
    for chat_id in (direct, left, deleted):
        await send(harness, bita, chat_id, "hello")
    assert await listed_ids(harness, sara) == [deleted, left, direct]

    response = await harness.http.delete(f"/v1/chats/{left}", headers=sara.headers)
    assert response.status_code == 204
    assert await listed_ids(harness, sara) == [deleted, direct]
    # Messages sent after she left do not bring the chat back.
    await send(harness, bita, left, "still here?")
    assert await listed_ids(harness, sara) == [deleted, direct]
    assert await listed_ids(harness, bita) == [left, deleted, direct]

    response = await harness.http.delete(
        f"/v1/chats/{deleted}", params={"delete": "true"}, headers=cyrus.headers
    )
    assert response.status_code == 204
    assert await listed_ids(harness, sara) == [direct]
    assert await listed_ids(harness, bita) == [left, direct]
    assert await listed_ids(harness, cyrus) == [left]


async def test_one_chat_shows_its_members_and_roles(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    group = await create_group(harness, sara, bita, cyrus, title="Trip")
    chat = await get_chat(harness, bita, group)
    assert chat["title"] == "Trip"
    assert chat["type"] == "group"
    assert chat["role"] == "member"
    assert chat["member_count"] == 3
    roles = {m["user_id"]: m["role"] for m in chat["members"]}
    assert roles == {sara.user_id: "owner", bita.user_id: "member", cyrus.user_id: "member"}
    # Members are ids and roles: no numbers, whatever the viewer holds.
    assert all("phone" not in m for m in chat["members"])


async def test_non_member_gets_404_on_every_chat_door_and_learns_nothing(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    eve = await harness.sign_in(DARA, "Eve")
    group = await create_group(harness, sara, bita, title="Secret plans")
    message = await send(harness, sara, group, "the secret is 42")
    missing = group + 1000
    requests: list[tuple[str, str, Any]] = [
        ("GET", "/v1/chats/{id}", None),
        ("PATCH", "/v1/chats/{id}", {"title": "mine now"}),
        ("PATCH", "/v1/chats/{id}", {"muted": True}),
        ("DELETE", "/v1/chats/{id}", None),
        ("DELETE", "/v1/chats/{id}?delete=true", None),
        ("POST", "/v1/chats/{id}/members", {"user_ids": [eve.user_id]}),
        ("DELETE", f"/v1/chats/{{id}}/members/{bita.user_id}", None),
        ("PUT", f"/v1/chats/{{id}}/members/{eve.user_id}/role", {"role": "admin"}),
        ("POST", "/v1/chats/{id}/invites", None),
        ("GET", "/v1/chats/{id}/invites", None),
        ("DELETE", "/v1/chats/{id}/invites/sometoken", None),
        ("POST", "/v1/chats/{id}/clear?for=everyone", None),
        ("POST", "/v1/chats/{id}/clear", None),
        ("GET", "/v1/chats/{id}/messages", None),
        ("POST", "/v1/chats/{id}/read", {"seq": 1}),
        ("POST", f"/v1/chats/{{id}}/messages/{message['id']}/report", {"reason": "spam"}),
        ("GET", "/v1/chats/{id}/photo", None),
        ("DELETE", "/v1/chats/{id}/photo", None),
    ]
    for method, template, body in requests:
        answers = []
        for chat_id in (group, missing):
            response = await harness.http.request(
                method, template.format(id=chat_id), json=body, headers=eve.headers
            )
            assert response.status_code == 404, (method, template, response.text)
            answers.append(response.json())
            assert "secret" not in response.text.lower()
        # A chat that exists and one that does not look the same (ids leak nothing).
        assert answers[0] == answers[1], (method, template)
    chat = await get_chat(harness, sara, group)
    assert chat["title"] == "Secret plans"
    assert member_ids(chat) == {sara.user_id, bita.user_id}
    assert [m["text"] for m in await history(harness, sara, group)] == ["the secret is 42"]
    assert await chat_list(harness, eve) == []


async def test_chat_doors_need_a_session(harness: Harness) -> None:
    for method, path in (("GET", "/v1/chats"), ("GET", "/v1/chats/1"), ("GET", "/v1/blocks")):
        response = await harness.http.request(method, path)
        assert response.status_code == 401


async def test_mute_is_per_member(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    group = await create_group(harness, sara, bita)
    response = await harness.http.patch(
        f"/v1/chats/{group}", json={"muted": True}, headers=bita.headers
    )
    assert response.status_code == 204
    assert (await get_chat(harness, bita, group))["muted"] is True
    assert (await get_chat(harness, sara, group))["muted"] is False
    direct = await direct_chat(harness, sara, bita)
    response = await harness.http.patch(
        f"/v1/chats/{direct}", json={"muted": True}, headers=sara.headers
    )
    assert response.status_code == 204
    assert {c["id"]: c["muted"] for c in await chat_list(harness, sara)} == {
        group: False,
        direct: True,
    }
    response = await harness.http.patch(
        f"/v1/chats/{group}", json={"muted": False}, headers=bita.headers
    )
    assert (await get_chat(harness, bita, group))["muted"] is False


# --- clearing history (P5.2) ------------------------------------------------------------------


async def test_clearing_for_me_hides_older_messages_from_the_caller_only(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    chat_id = await direct_chat(harness, sara, bita)
    await send(harness, bita, chat_id, "old one")
    await send(harness, bita, chat_id, "old two")
    before = await last_update_seq(harness, bita)
    response = await harness.http.post(f"/v1/chats/{chat_id}/clear", headers=sara.headers)
    assert response.status_code == 204
    assert await history(harness, sara, chat_id) == []
    [listed] = await chat_list(harness, sara)
    assert listed["unread_count"] == 0
    assert listed["last_message"] is None
    assert [m["text"] for m in await history(harness, bita, chat_id)] == ["old one", "old two"]
    assert (await chat_list(harness, bita))[0]["last_message"]["text"] == "old two"
    assert await kinds_since(harness, bita, chat_id, before) == []
    sara_updates = await updates_of(harness, sara)
    assert sara_updates[-1]["kind"] == "chat_cleared"
    assert sara_updates[-1]["for_everyone"] is False
    # Replayed updates no longer carry the cleared text either.
    shown = [u["message"] for u in sara_updates if u["kind"] == "message_new"]
    assert shown and all(m["text"] is None and m["deleted"] for m in shown)
    await send(harness, bita, chat_id, "new one")
    assert [m["text"] for m in await history(harness, sara, chat_id)] == ["new one"]


async def test_clearing_for_everyone_in_a_direct_chat_deletes_the_text_for_both(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    chat_id = await direct_chat(harness, sara, bita)
    await send(harness, bita, chat_id, "clearme-canary one")
    await send(harness, sara, chat_id, "clearme-canary two")
    response = await harness.http.post(
        f"/v1/chats/{chat_id}/clear", params={"for": "everyone"}, headers=bita.headers
    )
    assert response.status_code == 204
    for account in (sara, bita):
        assert await history(harness, account, chat_id) == []
        kinds = await kinds_since(harness, account, chat_id, 0)
        assert kinds[-1] == "chat_cleared"
        for update in await updates_of(harness, account):
            assert "clearme-canary" not in str(update)
    async with harness.services.db.read() as conn:
        rows = (await conn.execute(select(messages.c.seq, messages.c.text))).all()
    # The rows stay as tombstones, so seqs have no gaps, but the text is gone.
    assert sorted(rows) == [(1, None), (2, None)]


async def test_group_members_cannot_clear_for_everyone_but_admins_can(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    group = await create_group(harness, sara, bita, cyrus)
    await send(harness, bita, group, "keep me")
    response = await harness.http.post(
        f"/v1/chats/{group}/clear", params={"for": "everyone"}, headers=bita.headers
    )
    assert response.status_code == 403
    assert code_of(response) == "not_admin"
    assert [m["text"] for m in await history(harness, cyrus, group)] == ["keep me"]
    await harness.http.put(
        f"/v1/chats/{group}/members/{cyrus.user_id}/role",
        json={"role": "admin"},
        headers=sara.headers,
    )
    response = await harness.http.post(
        f"/v1/chats/{group}/clear", params={"for": "everyone"}, headers=cyrus.headers
    )
    assert response.status_code == 204
    for account in (sara, bita, cyrus):
        assert await history(harness, account, group) == []
        update = (await updates_of(harness, account))[-1]
        assert update["kind"] == "chat_cleared"
        assert update["for_everyone"] is True
    await send(harness, bita, group, "after the clear")
    assert [m["text"] for m in await history(harness, sara, group)] == ["after the clear"]


# --- reports -------------------------------------------------------------------------------


async def test_a_member_reports_a_message_and_it_is_kept_for_moderators(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    group = await create_group(harness, sara, bita, cyrus)
    message = await send(harness, bita, group, "buy cheap pills")
    response = await harness.http.post(
        f"/v1/chats/{group}/messages/{message['id']}/report",
        json={"reason": "spam"},
        headers=cyrus.headers,
    )
    assert response.status_code == 201, response.text
    report_id = response.json()["report_id"]
    async with harness.services.db.read() as conn:
        row = (await conn.execute(select(reports).where(reports.c.id == report_id))).one()
    assert row.reporter_id == cyrus.user_id
    assert row.reported_user_id == bita.user_id
    assert row.message_id == message["id"]
    assert row.chat_id == group
    assert row.reason == "spam"
    assert row.status == "open"
    # The author is not told who reported them.
    assert "report" not in str(await updates_of(harness, bita))


async def test_reports_need_membership_a_message_of_that_chat_and_a_reason(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    eve = await harness.sign_in(DARA, "Eve")
    group = await create_group(harness, sara, bita)
    other = await direct_chat(harness, sara, eve)
    message = await send(harness, bita, group, "hello")
    elsewhere = await send(harness, eve, other, "elsewhere")

    async def report(account: Account, chat_id: int, message_id: int, reason: str) -> Any:
        return await harness.http.post(
            f"/v1/chats/{chat_id}/messages/{message_id}/report",
            json={"reason": reason},
            headers=account.headers,
        )

    outsider = await report(eve, group, message["id"], "spam")
    assert outsider.status_code == 404
    assert code_of(outsider) == "chat_not_found"
    wrong_chat = await report(sara, group, elsewhere["id"], "spam")
    assert wrong_chat.status_code == 404
    assert code_of(wrong_chat) == "message_not_found"
    no_message = await report(sara, group, message["id"] + 1000, "spam")
    assert no_message.status_code == 404
    assert no_message.json() == wrong_chat.json()
    for reason in ("", "   ", "x" * 501):
        response = await report(sara, group, message["id"], reason)
        assert response.status_code == 422
    async with harness.services.db.read() as conn:
        assert (await conn.execute(select(reports.c.id))).all() == []


# --- updates and removed members ---------------------------------------------------------------


async def test_a_removed_member_gets_no_more_updates_and_cannot_read_the_chat(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    group = await create_group(harness, sara, bita, cyrus)
    first = await send(harness, sara, group, "while you were here")
    response = await harness.http.delete(
        f"/v1/chats/{group}/members/{cyrus.user_id}", headers=sara.headers
    )
    assert response.status_code == 204
    after_removal = await last_update_seq(harness, cyrus)
    assert (await updates_of(harness, cyrus))[-1]["kind"] == "chat_removed"

    await send(harness, sara, group, "removed-canary after you left")
    await harness.http.patch(f"/v1/chats/{group}", json={"title": "New"}, headers=sara.headers)
    await harness.http.patch(
        f"/v1/chats/{group}/messages/{first['id']}",
        json={"text": "edited-canary"},
        headers=sara.headers,
    )
    assert await updates_of(harness, cyrus, after_removal) == []
    replay = str(await updates_of(harness, cyrus))
    assert "removed-canary" not in replay
    assert "edited-canary" not in replay
    response = await harness.http.get(f"/v1/chats/{group}/messages", headers=cyrus.headers)
    assert response.status_code == 404
    assert "canary" not in response.text
    assert (await harness.http.get(f"/v1/chats/{group}", headers=cyrus.headers)).status_code == 404
    assert await chat_list(harness, cyrus) == []
    await send(harness, cyrus, group, "let me in", expect=404)
