"""Messages over HTTP (issue 3 "Messages"; P5.1, P5.2, P9.1): sending with idempotency, seqs,
history, edits, deletion, read markers, and every permission failure answering 403 or 404
without leaking content."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from payam.storage.tables import messages
from tests.api.message_helpers import (
    count_rows,
    delete,
    direct_chat,
    group_chat,
    history,
    people,
    send,
    sent,
    updates,
)
from tests.conftest import Harness

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def error_code(response: Any) -> str:
    code: str = response.json()["error"]["code"]
    return code


# -- sending -------------------------------------------------------------------------------------


async def test_send_answers_201_with_the_stored_message(harness: Harness) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    response = await send(harness, ali, chat, "salam", client_id="first-1")
    assert response.status_code == 201, response.text
    assert "Idempotent-Replayed" not in response.headers
    body = response.json()
    assert isinstance(body["id"], int)
    assert body["chat_id"] == chat
    assert body["sender_id"] == ali.user_id
    assert body["seq"] == 1
    assert ISO.match(body["created_at"]), body
    assert body["text"] == "salam"
    assert body["client_id"] == "first-1"
    assert body["edited"] is False
    assert body["deleted"] is False
    second = await sent(harness, bita, chat, "salam ali")
    assert second["seq"] == 2
    assert second["sender_id"] == bita.user_id
    assert [m["text"] for m in await history(harness, bita, chat)] == ["salam", "salam ali"]


async def test_a_sequential_retry_returns_the_same_message_and_stores_one_row(
    harness: Harness,
) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    first = await send(harness, ali, chat, "once", client_id="retry-me")
    again = await send(harness, ali, chat, "once", client_id="retry-me")
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert await count_rows(harness, messages, messages.c.client_id == "retry-me") == 1
    # The retry took no seq: the next message follows directly.
    assert (await sent(harness, ali, chat, "next"))["seq"] == 2


async def test_concurrent_retries_store_exactly_one_message(harness: Harness) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    responses = await asyncio.gather(
        *(send(harness, ali, chat, "only one", client_id="storm") for _ in range(20))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    fresh = [r for r in responses if "Idempotent-Replayed" not in r.headers]
    assert len(fresh) == 1
    assert await count_rows(harness, messages, messages.c.client_id == "storm") == 1
    assert [m["text"] for m in await history(harness, bita, chat)] == ["only one"]


async def test_the_same_client_id_with_other_content_is_409(harness: Harness) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    await sent(harness, ali, chat, "original", client_id="c1")
    response = await send(harness, ali, chat, "something else", client_id="c1")
    assert response.status_code == 409
    assert error_code(response) == "client_id_reused"
    # Concurrently, too: one of two different contents wins, the other is refused.
    racing = await asyncio.gather(
        send(harness, ali, chat, "left", client_id="c2"),
        send(harness, ali, chat, "right", client_id="c2"),
    )
    assert sorted(r.status_code for r in racing) == [201, 409]
    assert [m["text"] for m in await history(harness, ali, chat)] == [
        "original",
        *[r.json()["text"] for r in racing if r.status_code == 201],
    ]


async def test_the_same_client_id_in_another_chat_is_409_not_a_replay(harness: Harness) -> None:
    ali, bita, cyrus = await people(harness, "Ali", "Bita", "Cyrus")
    first = await direct_chat(harness, ali, bita)
    second = await direct_chat(harness, ali, cyrus)
    await sent(harness, ali, first, "same words", client_id="shared")
    response = await send(harness, ali, second, "same words", client_id="shared")
    assert response.status_code == 409
    assert error_code(response) == "client_id_reused"
    # Inside one batch as well.
    racing = await asyncio.gather(
        send(harness, ali, first, "twin", client_id="twin"),
        send(harness, ali, second, "twin", client_id="twin"),
    )
    assert sorted(r.status_code for r in racing) == [201, 409]
    assert "same words" not in [m["text"] for m in await history(harness, cyrus, second)]
    texts = [m["text"] for c in (first, second) for m in await history(harness, ali, c)]
    assert texts.count("twin") == 1


async def test_other_users_may_use_the_same_client_id(harness: Harness) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    a = await sent(harness, ali, chat, "from ali", client_id="1")
    b = await sent(harness, bita, chat, "from bita", client_id="1")
    assert a["id"] != b["id"]


async def test_an_invalid_client_id_is_422(harness: Harness) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    for client_id in ("has space", "slash/no", "سلام", "x" * 64 + "y", "emoji-\U0001f600"):
        response = await send(harness, ali, chat, "hi", client_id=client_id)
        assert response.status_code == 422, (client_id, response.text)
    response = await send(harness, ali, chat, "hi", client_id="has space")
    assert error_code(response) == "invalid_client_id"
    response = await harness.http.post(
        f"/v1/chats/{chat}/messages", json={"client_id": "", "text": "x"}, headers=ali.headers
    )
    assert response.status_code == 422
    assert await history(harness, ali, chat) == []


async def test_empty_or_blank_text_is_422_empty_message(harness: Harness) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    for text in ("", " ", "\n\t  \r\n", "\u3000", None):
        response = await send(harness, ali, chat, text)
        assert response.status_code == 422, (text, response.text)
        assert error_code(response) == "empty_message"
    assert await history(harness, ali, chat) == []


async def test_text_over_the_limit_is_422_message_too_long(make_harness: Any) -> None:
    harness: Harness = await make_harness(message_max_length=10)
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    response = await send(harness, ali, chat, "x" * 11)
    assert response.status_code == 422
    assert error_code(response) == "message_too_long"
    # The limit counts characters, not bytes: ten Persian letters are ten.
    assert (await send(harness, ali, chat, "ساسساسساسس")).status_code == 201
    assert (await send(harness, ali, chat, "x" * 10)).status_code == 201
    message = (await history(harness, ali, chat))[0]
    edit = await harness.http.patch(
        f"/v1/chats/{chat}/messages/{message['id']}", json={"text": "y" * 11}, headers=ali.headers
    )
    assert edit.status_code == 422
    assert error_code(edit) == "message_too_long"


async def test_reply_to_must_be_a_message_of_the_same_chat(harness: Harness) -> None:
    ali, bita, cyrus = await people(harness, "Ali", "Bita", "Cyrus")
    chat = await direct_chat(harness, ali, bita)
    elsewhere = await direct_chat(harness, ali, cyrus)
    other = await sent(harness, ali, elsewhere, "in another chat")
    response = await send(harness, ali, chat, "re", reply_to=other["id"])
    assert response.status_code == 422
    assert error_code(response) == "invalid_reply_to"
    response = await send(harness, ali, chat, "re", reply_to=10**12)
    assert response.status_code == 422
    original = await sent(harness, bita, chat, "question?")
    answer = await sent(harness, ali, chat, "answer", reply_to=original["id"])
    assert answer["reply_to"] == original["id"]


async def test_forward_copies_the_text_and_the_original_author(harness: Harness) -> None:
    ali, bita, cyrus = await people(harness, "Ali", "Bita", "Cyrus")
    first = await direct_chat(harness, ali, bita)
    second = await direct_chat(harness, bita, cyrus)
    original = await sent(harness, ali, first, "worth sharing")
    forwarded = await sent(harness, bita, second, None, forward_of=original["id"])
    assert forwarded["text"] == "worth sharing"
    assert forwarded["sender_id"] == bita.user_id
    assert forwarded["forward_of"] == original["id"]
    assert forwarded["forward_from_user_id"] == ali.user_id
    # Forwarding a forward keeps the original author.
    third = await direct_chat(harness, cyrus, ali)
    again = await sent(harness, cyrus, third, None, forward_of=forwarded["id"])
    assert again["forward_from_user_id"] == ali.user_id
    assert [m["text"] for m in await history(harness, cyrus, second)] == ["worth sharing"]


async def test_forwarding_a_message_the_sender_cannot_see_is_404(harness: Harness) -> None:
    ali, bita, cyrus = await people(harness, "Ali", "Bita", "Cyrus")
    private = await direct_chat(harness, ali, bita)
    mine = await direct_chat(harness, cyrus, ali)
    secret = await sent(harness, ali, private, "between ali and bita")

    # Not a member of the message's chat.
    response = await send(harness, cyrus, mine, None, forward_of=secret["id"])
    assert response.status_code == 404
    assert error_code(response) == "message_not_found"
    assert "between ali" not in response.text
    # A message that does not exist looks the same.
    response = await send(harness, cyrus, mine, None, forward_of=10**12)
    assert response.status_code == 404
    assert error_code(response) == "message_not_found"

    # Deleted for everyone, hidden for the sender, cleared by the sender: all gone for them.
    deleted = await sent(harness, ali, private, "deleted one")
    assert (await delete(harness, ali, private, deleted["id"], "everyone")).status_code == 204
    hidden = await sent(harness, ali, private, "hidden one")
    assert (await delete(harness, bita, private, hidden["id"], "me")).status_code == 204
    bita_cyrus = await direct_chat(harness, bita, cyrus)
    for gone in (deleted, hidden):
        response = await send(harness, bita, bita_cyrus, None, forward_of=gone["id"])
        assert response.status_code == 404, response.text
    cleared = await sent(harness, ali, private, "cleared one")
    clear = await harness.http.post(
        f"/v1/chats/{private}/clear", params={"for": "me"}, headers=bita.headers
    )
    assert clear.status_code == 204
    response = await send(harness, bita, bita_cyrus, None, forward_of=cleared["id"])
    assert response.status_code == 404
    # Ali, who did not clear nor hide, still may.
    ali_cyrus = mine
    assert (await send(harness, ali, ali_cyrus, None, forward_of=cleared["id"])).status_code == 201
    assert (await send(harness, ali, ali_cyrus, None, forward_of=hidden["id"])).status_code == 201
    assert await history(harness, cyrus, bita_cyrus) == []


async def test_seq_is_gapless_under_200_concurrent_sends_from_several_users(
    harness: Harness,
) -> None:
    owner, *others = await people(harness, "O", "P", "Q", "R", "S")
    members = [owner, *others]
    chat = await group_chat(harness, owner, others)
    texts = [f"m{i}" for i in range(200)]
    responses = await asyncio.gather(
        *(send(harness, members[i % 5], chat, text) for i, text in enumerate(texts))
    )
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses][:3]
    bodies = [r.json() for r in responses]
    assert sorted(b["seq"] for b in bodies) == list(range(1, 201))
    # Each answer is the row that was stored for it (ids and seqs returned in order).
    stored = {m["id"]: m for m in await history(harness, owner, chat, limit=200)}
    assert len(stored) == 200
    for i, body in enumerate(bodies):
        assert body["text"] == texts[i]
        assert stored[body["id"]] == body
        assert body["sender_id"] == members[i % 5].user_id
    chat_now = await harness.http.get(f"/v1/chats/{chat}", headers=owner.headers)
    assert chat_now.json()["last_seq"] == 200


# -- history -------------------------------------------------------------------------------------


async def test_history_pages_by_seq_in_ascending_order(harness: Harness) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    for i in range(1, 11):
        await sent(harness, ali if i % 2 else bita, chat, f"n{i}")

    async def seqs(**params: Any) -> list[int]:
        return [m["seq"] for m in await history(harness, bita, chat, **params)]

    assert await seqs() == list(range(1, 11))
    assert await seqs(limit=3) == [8, 9, 10]  # the newest page
    assert await seqs(before=8, limit=3) == [5, 6, 7]
    assert await seqs(before=2) == [1]
    assert await seqs(before=1) == []
    assert await seqs(after=2, limit=3) == [3, 4, 5]  # the oldest page after a point
    assert await seqs(after=2, before=5) == [3, 4]
    assert await seqs(after=10) == []
    for bad in ({"limit": 0}, {"limit": 201}, {"before": -1}, {"after": "x"}):
        response = await harness.http.get(
            f"/v1/chats/{chat}/messages", params=bad, headers=bita.headers
        )
        assert response.status_code == 422, bad


async def test_history_leaves_out_what_the_caller_cleared_or_hid(harness: Harness) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    await sent(harness, ali, chat, "old one")
    await sent(harness, bita, chat, "old two")
    clear = await harness.http.post(
        f"/v1/chats/{chat}/clear", params={"for": "me"}, headers=ali.headers
    )
    assert clear.status_code == 204
    assert await history(harness, ali, chat) == []
    assert [m["text"] for m in await history(harness, bita, chat)] == ["old one", "old two"]
    # Even asking from the start does not reach behind the cleared point.
    assert await history(harness, ali, chat, after=0) == []
    new = await sent(harness, bita, chat, "new one")
    assert [m["text"] for m in await history(harness, ali, chat)] == ["new one"]

    assert (await delete(harness, ali, chat, new["id"], "me")).status_code == 204
    assert await history(harness, ali, chat) == []
    assert [m["text"] for m in await history(harness, bita, chat)][-1] == "new one"


async def test_deleted_messages_stay_in_history_as_tombstones_without_text(
    harness: Harness,
) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    gone = await sent(harness, ali, chat, "regret")
    await sent(harness, ali, chat, "fine")
    assert (await delete(harness, ali, chat, gone["id"], "everyone")).status_code == 204
    first, second = await history(harness, bita, chat)
    assert first["id"] == gone["id"]
    assert first["seq"] == 1
    assert first["deleted"] is True
    assert first["text"] is None
    assert "regret" not in str(first)
    assert second["text"] == "fine"


# -- editing -------------------------------------------------------------------------------------


async def test_the_author_edits_and_the_other_member_sees_it_marked_edited(
    harness: Harness,
) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    message = await sent(harness, ali, chat, "typo hree")
    harness.clock.advance(60)
    response = await harness.http.patch(
        f"/v1/chats/{chat}/messages/{message['id']}",
        json={"text": "typo here"},
        headers=ali.headers,
    )
    assert response.status_code == 200, response.text
    edited = response.json()
    assert edited["text"] == "typo here"
    assert edited["edited"] is True
    assert ISO.match(edited["edited_at"])
    assert edited["seq"] == message["seq"]
    (seen,) = await history(harness, bita, chat)
    assert seen["text"] == "typo here"
    assert seen["edited"] is True
    kinds = [u["kind"] for u in (await updates(harness, bita))["updates"]]
    assert kinds[-1] == "message_edited"


async def test_only_the_author_may_edit(harness: Harness) -> None:
    ali, bita, cyrus = await people(harness, "Ali", "Bita", "Cyrus")
    chat = await group_chat(harness, ali, [bita, cyrus])
    message = await sent(harness, bita, chat, "bita's words")
    url = f"/v1/chats/{chat}/messages/{message['id']}"
    for other in (ali, cyrus):  # not even the owner
        response = await harness.http.patch(url, json={"text": "not yours"}, headers=other.headers)
        assert response.status_code == 403
        assert error_code(response) == "not_author"
    stranger = (await people(harness, "Dara"))[0]
    response = await harness.http.patch(url, json={"text": "x"}, headers=stranger.headers)
    assert response.status_code == 404
    assert "bita's words" not in response.text
    assert [m["text"] for m in await history(harness, ali, chat)] == ["bita's words"]


async def test_a_deleted_message_cannot_be_edited_back_to_life(harness: Harness) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    message = await sent(harness, ali, chat, "gone soon")
    assert (await delete(harness, ali, chat, message["id"], "everyone")).status_code == 204
    response = await harness.http.patch(
        f"/v1/chats/{chat}/messages/{message['id']}", json={"text": "back"}, headers=ali.headers
    )
    assert response.status_code == 404
    assert error_code(response) == "message_not_found"
    (tombstone,) = await history(harness, bita, chat)
    assert tombstone["text"] is None
    assert tombstone["deleted"] is True
    for text in ("", "   "):
        other = await sent(harness, ali, chat, "still here")
        response = await harness.http.patch(
            f"/v1/chats/{chat}/messages/{other['id']}", json={"text": text}, headers=ali.headers
        )
        assert response.status_code == 422
        assert error_code(response) == "empty_message"


async def test_a_retry_after_an_edit_replays_the_message_as_it_is_now(harness: Harness) -> None:
    """The content hash goes with the old text, so a late retry of the original send is
    recognised by its client_id and chat and answered with the edited message."""
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    message = await sent(harness, ali, chat, "first words", client_id="late")
    await harness.http.patch(
        f"/v1/chats/{chat}/messages/{message['id']}", json={"text": "second"}, headers=ali.headers
    )
    retry = await send(harness, ali, chat, "first words", client_id="late")
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["text"] == "second"
    assert await count_rows(harness, messages, messages.c.client_id == "late") == 1


# -- deleting ------------------------------------------------------------------------------------


async def test_delete_for_me_hides_the_message_from_the_caller_alone(harness: Harness) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    message = await sent(harness, bita, chat, "bita's message")
    # Anyone may hide anyone's message for themself.
    assert (await delete(harness, ali, chat, message["id"], "me")).status_code == 204
    assert (await delete(harness, ali, chat, message["id"], "me")).status_code == 204
    assert await history(harness, ali, chat) == []
    (seen,) = await history(harness, bita, chat)
    assert seen["text"] == "bita's message"
    ali_updates = [u["kind"] for u in (await updates(harness, ali))["updates"]]
    assert ali_updates.count("message_hidden") == 1  # the second delete changed nothing
    assert "message_hidden" not in [u["kind"] for u in (await updates(harness, bita))["updates"]]


async def test_delete_for_everyone_by_the_author(harness: Harness) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    message = await sent(harness, ali, chat, "take it back")
    assert (await delete(harness, ali, chat, message["id"], "everyone")).status_code == 204
    for who in (ali, bita):
        (tombstone,) = await history(harness, who, chat)
        assert tombstone["deleted"] is True
        assert tombstone["text"] is None
        last = (await updates(harness, who))["updates"][-1]
        assert last["kind"] == "message_deleted"
        assert last["message"]["text"] is None
    # Deleting it again answers the same and tells nobody anything new.
    before = (await updates(harness, bita))["last_seq"]
    assert (await delete(harness, ali, chat, message["id"], "everyone")).status_code == 204
    assert (await updates(harness, bita))["last_seq"] == before
    async with harness.services.db.read() as conn:
        row = (await conn.execute(messages.select().where(messages.c.id == message["id"]))).one()
    assert row.text is None
    assert row.content_hash is None


async def test_in_a_direct_chat_only_the_author_deletes_for_everyone(harness: Harness) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    message = await sent(harness, ali, chat, "mine")
    response = await delete(harness, bita, chat, message["id"], "everyone")
    assert response.status_code == 403
    assert error_code(response) == "not_allowed"
    assert (await history(harness, ali, chat))[0]["text"] == "mine"


async def test_group_admins_delete_anyones_message_plain_members_do_not(
    harness: Harness,
) -> None:
    owner, admin, member, other = await people(harness, "Owner", "Admin", "Member", "Other")
    chat = await group_chat(harness, owner, [admin, member, other])
    promote = await harness.http.put(
        f"/v1/chats/{chat}/members/{admin.user_id}/role",
        json={"role": "admin"},
        headers=owner.headers,
    )
    assert promote.status_code == 204, promote.text
    first = await sent(harness, other, chat, "first by other")
    second = await sent(harness, other, chat, "second by other")

    response = await delete(harness, member, chat, first["id"], "everyone")
    assert response.status_code == 403
    assert error_code(response) == "not_allowed"
    assert (await history(harness, member, chat))[0]["text"] == "first by other"

    assert (await delete(harness, admin, chat, first["id"], "everyone")).status_code == 204
    assert (await delete(harness, owner, chat, second["id"], "everyone")).status_code == 204
    assert [m["deleted"] for m in await history(harness, member, chat)] == [True, True]


async def test_non_members_get_404_with_nothing_leaked(harness: Harness) -> None:
    ali, bita, eve = await people(harness, "Ali", "Bita", "Eve")
    chat = await direct_chat(harness, ali, bita)
    message = await sent(harness, ali, chat, "private words")
    missing_chat = 10**12
    base = f"/v1/chats/{chat}"
    attempts = [
        ("GET", f"{base}/messages", None),
        ("POST", f"{base}/messages", {"client_id": "eve-1", "text": "hi"}),
        ("PATCH", f"{base}/messages/{message['id']}", {"text": "x"}),
        ("DELETE", f"{base}/messages/{message['id']}?for=everyone", None),
        ("DELETE", f"{base}/messages/{message['id']}?for=me", None),
        ("POST", f"{base}/read", {"seq": 1}),
    ]
    for method, url, body in attempts:
        response = await harness.http.request(method, url, json=body, headers=eve.headers)
        assert response.status_code == 404, (method, url, response.text)
        assert "private words" not in response.text
        # A chat that does not exist answers exactly the same.
        ghost = url.replace(f"/chats/{chat}/", f"/chats/{missing_chat}/")
        other = await harness.http.request(method, ghost, json=body, headers=eve.headers)
        assert other.status_code == 404
        assert other.json() == response.json()
    # A message id of another chat, through a chat the caller is in, is not found either.
    eve_chat = await direct_chat(harness, eve, ali)
    for method, url, body in (
        ("PATCH", f"/v1/chats/{eve_chat}/messages/{message['id']}", {"text": "x"}),
        ("DELETE", f"/v1/chats/{eve_chat}/messages/{message['id']}?for=everyone", None),
    ):
        response = await harness.http.request(method, url, json=body, headers=ali.headers)
        assert response.status_code == 404
        assert error_code(response) == "message_not_found"
    assert [m["text"] for m in await history(harness, bita, chat)] == ["private words"]
    assert await count_rows(harness, messages, messages.c.sender_id == eve.user_id) == 0


async def test_after_leaving_a_chat_its_messages_are_404(harness: Harness) -> None:
    owner, member = await people(harness, "Owner", "Member")
    chat = await group_chat(harness, owner, [member])
    message = await sent(harness, owner, chat, "before you left")
    leave = await harness.http.delete(f"/v1/chats/{chat}", headers=member.headers)
    assert leave.status_code == 204
    assert (await send(harness, member, chat, "still here?")).status_code == 404
    response = await harness.http.get(f"/v1/chats/{chat}/messages", headers=member.headers)
    assert response.status_code == 404
    assert (await delete(harness, member, chat, message["id"], "me")).status_code == 404


async def test_a_blocked_user_cannot_write(harness: Harness) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    await sent(harness, ali, chat, "before the block")
    block = await harness.http.post(
        "/v1/blocks", json={"user_id": ali.user_id}, headers=bita.headers
    )
    assert block.status_code == 204, block.text
    response = await send(harness, ali, chat, "let me explain")
    assert response.status_code == 403
    assert error_code(response) == "blocked"
    assert [m["text"] for m in await history(harness, bita, chat)] == ["before the block"]
    unblock = await harness.http.delete(f"/v1/blocks/{ali.user_id}", headers=bita.headers)
    assert unblock.status_code == 204
    assert (await send(harness, ali, chat, "thank you")).status_code == 201


# -- read markers --------------------------------------------------------------------------------


async def test_read_marker_moves_forward_only_and_others_get_a_receipt(harness: Harness) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    for i in range(5):
        await sent(harness, ali, chat, f"m{i}")

    async def read(seq: int) -> int:
        response = await harness.http.post(
            f"/v1/chats/{chat}/read", json={"seq": seq}, headers=bita.headers
        )
        assert response.status_code == 200, response.text
        value: int = response.json()["read_seq"]
        return value

    assert await read(3) == 3
    receipt = (await updates(harness, ali))["updates"][-1]
    assert receipt["kind"] == "read"
    assert receipt["user_id"] == bita.user_id
    assert receipt["read_seq"] == 3
    before = (await updates(harness, ali))["last_seq"]
    assert await read(1) == 3  # never back
    assert (await updates(harness, ali))["last_seq"] == before
    assert await read(99) == 5  # clamped to the last message
    chat_view = await harness.http.get(f"/v1/chats/{chat}", headers=bita.headers)
    assert chat_view.json()["read_seq"] == 5
    assert chat_view.json()["unread_count"] == 0
    response = await harness.http.post(
        f"/v1/chats/{chat}/read", json={"seq": -1}, headers=bita.headers
    )
    assert response.status_code == 422


async def test_sending_marks_ones_own_message_read(harness: Harness) -> None:
    ali, bita = await people(harness, "Ali", "Bita")
    chat = await direct_chat(harness, ali, bita)
    await sent(harness, ali, chat, "one")
    await sent(harness, ali, chat, "two")
    view = await harness.http.get(f"/v1/chats/{chat}", headers=ali.headers)
    assert view.json()["read_seq"] == 2
    other = await harness.http.get(f"/v1/chats/{chat}", headers=bita.headers)
    assert other.json()["unread_count"] == 2


async def test_an_edit_reaches_only_those_who_still_see_the_message(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whoever hid the message or cleared past it gets no update carrying the new text, live
    (published) or caught up."""
    owner, hider, clearer, reader = await people(harness, "Owner", "Hider", "Clearer", "Reader")
    chat = await group_chat(harness, owner, [hider, clearer, reader])
    message = await sent(harness, owner, chat, "first words")
    assert (await delete(harness, hider, chat, message["id"], "me")).status_code == 204
    clear = await harness.http.post(
        f"/v1/chats/{chat}/clear", params={"for": "me"}, headers=clearer.headers
    )
    assert clear.status_code == 204
    published: list[Any] = []
    bus = harness.services.updates
    real = bus.publish

    async def capture(batch: Any) -> None:
        published.extend(batch)
        await real(batch)

    monkeypatch.setattr(bus, "publish", capture)
    response = await harness.http.patch(
        f"/v1/chats/{chat}/messages/{message['id']}",
        json={"text": "changed words"},
        headers=owner.headers,
    )
    assert response.status_code == 200
    assert sorted(u.user_id for u in published) == sorted([owner.user_id, reader.user_id])
    for who in (hider, clearer):
        page = (await updates(harness, who))["updates"]
        assert "message_edited" not in [u["kind"] for u in page]
        assert "changed words" not in str(page)
    assert (await updates(harness, reader))["updates"][-1]["kind"] == "message_edited"


async def test_messages_of_a_deleted_group_are_404_for_everyone(harness: Harness) -> None:
    owner, member = await people(harness, "Owner", "Member")
    chat = await group_chat(harness, owner, [member])
    message = await sent(harness, member, chat, "in a group about to go")
    gone = await harness.http.delete(
        f"/v1/chats/{chat}", params={"delete": "true"}, headers=owner.headers
    )
    assert gone.status_code == 204
    for who in (owner, member):
        for for_ in ("me", "everyone"):
            response = await delete(harness, who, chat, message["id"], for_)
            assert response.status_code == 404
            assert error_code(response) == "message_not_found"
        edit = await harness.http.patch(
            f"/v1/chats/{chat}/messages/{message['id']}", json={"text": "x"}, headers=who.headers
        )
        assert edit.status_code == 404
        assert (await send(harness, who, chat, "anyone?")).status_code == 404
    assert await count_rows(harness, messages, messages.c.chat_id == chat) == 0
