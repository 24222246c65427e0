"""Blocking (P9.1) and the shared-chat relation of the profile rule (P3.2): a blocked user
cannot start a direct chat with, message, add to a group, or see the photo of the user who
blocked them, until unblocked; sharing a chat shows name, status and photo but never the
number."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import httpx
import pytest
from PIL import Image

from payam.storage import blocks as block_store
from tests.api.test_chats import (
    BITA,
    CYRUS,
    SARA,
    chat_list,
    code_of,
    create_group,
    direct_chat,
    get_chat,
    member_ids,
    send,
    start_direct,
    updates_of,
)
from tests.conftest import Account, Harness


async def block(harness: Harness, blocker: Account, user_id: int) -> httpx.Response:
    return await harness.http.post("/v1/blocks", json={"user_id": user_id}, headers=blocker.headers)


async def unblock(harness: Harness, blocker: Account, user_id: int) -> httpx.Response:
    return await harness.http.delete(f"/v1/blocks/{user_id}", headers=blocker.headers)


async def blocked_ids(harness: Harness, blocker: Account) -> list[int]:
    response = await harness.http.get("/v1/blocks", headers=blocker.headers)
    assert response.status_code == 200, response.text
    return [b["user_id"] for b in response.json()]


async def profile(harness: Harness, viewer: Account, user_id: int) -> dict[str, Any]:
    response = await harness.http.get(f"/v1/users/{user_id}", headers=viewer.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def photo_status(harness: Harness, viewer: Account, user_id: int) -> int:
    response = await harness.http.get(f"/v1/users/{user_id}/photo", headers=viewer.headers)
    return response.status_code


async def with_photo_and_status(harness: Harness, account: Account) -> None:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (120, 30, 60)).save(out, "PNG")
    response = await harness.http.put(
        "/v1/me/photo",
        files={"file": ("me.png", out.getvalue(), "image/png")},
        headers=account.headers,
    )
    assert response.status_code == 200, response.text
    response = await harness.http.patch(
        "/v1/me", json={"status": "at the beach"}, headers=account.headers
    )
    assert response.status_code == 200, response.text


# --- the block list ---------------------------------------------------------------------------


async def test_block_list_is_kept_and_private(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    assert (await block(harness, sara, bita.user_id)).status_code == 204
    harness.clock.advance(5)
    assert (await block(harness, sara, cyrus.user_id)).status_code == 204
    assert (await block(harness, sara, bita.user_id)).status_code == 204  # again: harmless
    response = await harness.http.get("/v1/blocks", headers=sara.headers)
    listed = response.json()
    assert [b["user_id"] for b in listed] == [bita.user_id, cyrus.user_id]
    assert all(b["blocked_at"].endswith("Z") for b in listed)
    # The blocked are not told, and cannot see who blocked them.
    assert await blocked_ids(harness, bita) == []
    assert await updates_of(harness, bita) == []
    assert (await unblock(harness, sara, bita.user_id)).status_code == 204
    assert await blocked_ids(harness, sara) == [cyrus.user_id]
    response = await unblock(harness, sara, bita.user_id)
    assert response.status_code == 404
    assert code_of(response) == "not_blocked"


async def test_blocking_twice_at_once_is_harmless(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    read = block_store.is_blocked

    async def slow(*args: Any, **kwargs: Any) -> bool:
        found = await read(*args, **kwargs)
        await asyncio.sleep(0.05)  # every request checks before any of them writes
        return found

    monkeypatch.setattr(block_store, "is_blocked", slow)
    responses = await asyncio.gather(*(block(harness, sara, bita.user_id) for _ in range(4)))
    assert [r.status_code for r in responses] == [204] * 4, [r.text for r in responses]
    assert await blocked_ids(harness, sara) == [bita.user_id]


async def test_blocking_yourself_or_nobody_is_refused(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    response = await block(harness, sara, sara.user_id)
    assert response.status_code == 422
    assert code_of(response) == "invalid_user"
    response = await block(harness, sara, sara.user_id + 1000)
    assert response.status_code == 404
    assert code_of(response) == "user_not_found"
    assert await blocked_ids(harness, sara) == []


# --- what a block stops -------------------------------------------------------------------------


async def test_a_blocked_user_cannot_start_a_direct_chat_until_unblocked(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    await block(harness, sara, bita.user_id)
    response = await start_direct(harness, bita, sara.user_id)
    assert response.status_code == 403
    assert code_of(response) == "blocked"
    assert await chat_list(harness, bita) == []
    assert await chat_list(harness, sara) == []
    await unblock(harness, sara, bita.user_id)
    response = await start_direct(harness, bita, sara.user_id)
    assert response.status_code == 201


async def test_a_blocked_user_cannot_message_until_unblocked(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    chat_id = await direct_chat(harness, bita, sara)
    await send(harness, bita, chat_id, "hello")
    await block(harness, sara, bita.user_id)
    response = await harness.http.post(
        f"/v1/chats/{chat_id}/messages",
        json={"client_id": "after-block", "text": "why won't you answer"},
        headers=bita.headers,
    )
    assert response.status_code == 403
    assert code_of(response) == "blocked"
    assert "why won't you answer" not in str(await updates_of(harness, sara))
    # Asking for the chat again does not get round the block either.
    again = await start_direct(harness, bita, sara.user_id)
    assert again.status_code == 200
    await send(harness, bita, chat_id, "still blocked", expect=403)
    await unblock(harness, sara, bita.user_id)
    await send(harness, bita, chat_id, "unblocked now")


async def test_a_blocked_user_cannot_add_the_blocker_to_a_group(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    await block(harness, sara, bita.user_id)
    response = await harness.http.post(
        "/v1/chats",
        json={"type": "group", "title": "Surprise", "member_ids": [sara.user_id, cyrus.user_id]},
        headers=bita.headers,
    )
    assert response.status_code == 403
    assert code_of(response) == "blocked"
    assert await chat_list(harness, bita) == []
    assert await chat_list(harness, cyrus) == []
    group = await create_group(harness, bita, cyrus)
    response = await harness.http.post(
        f"/v1/chats/{group}/members", json={"user_ids": [sara.user_id]}, headers=bita.headers
    )
    assert response.status_code == 403
    assert code_of(response) == "blocked"
    assert member_ids(await get_chat(harness, bita, group)) == {bita.user_id, cyrus.user_id}
    assert await chat_list(harness, sara) == []
    # Someone else may still add her.
    await harness.http.put(
        f"/v1/chats/{group}/members/{cyrus.user_id}/role",
        json={"role": "admin"},
        headers=bita.headers,
    )
    response = await harness.http.post(
        f"/v1/chats/{group}/members", json={"user_ids": [sara.user_id]}, headers=cyrus.headers
    )
    assert response.status_code == 204
    await unblock(harness, sara, bita.user_id)
    other = await create_group(harness, bita, sara)
    assert sara.user_id in member_ids(await get_chat(harness, bita, other))


async def test_a_blocked_user_cannot_see_the_photo_even_in_a_shared_group(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    await with_photo_and_status(harness, sara)
    await create_group(harness, sara, bita)
    assert (await profile(harness, bita, sara.user_id))["has_photo"] is True
    assert await photo_status(harness, bita, sara.user_id) == 200
    await block(harness, sara, bita.user_id)
    seen = await profile(harness, bita, sara.user_id)
    assert seen["name"] == "Sara"
    assert seen["has_photo"] is False
    assert seen["photo_url"] is None
    assert await photo_status(harness, bita, sara.user_id) == 404
    response = await harness.http.get(
        f"/v1/users/{sara.user_id}/photo", params={"size": "thumb"}, headers=bita.headers
    )
    assert response.status_code == 404
    # The block is one way: Sara still sees Bita, and her own photo.
    assert await photo_status(harness, sara, sara.user_id) == 200
    await unblock(harness, sara, bita.user_id)
    assert (await profile(harness, bita, sara.user_id))["has_photo"] is True
    assert await photo_status(harness, bita, sara.user_id) == 200


async def test_a_blocked_holder_of_the_number_cannot_see_the_photo(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    await with_photo_and_status(harness, sara)
    await harness.http.put("/v1/contacts", json={"phones": [SARA]}, headers=bita.headers)
    assert await photo_status(harness, bita, sara.user_id) == 200
    await block(harness, sara, bita.user_id)
    seen = await profile(harness, bita, sara.user_id)
    assert seen["has_photo"] is False
    assert await photo_status(harness, bita, sara.user_id) == 404
    # Nor does the contact list point at it, however it is asked.
    response = await harness.http.get("/v1/contacts", headers=bita.headers)
    assert response.status_code == 200
    [listed] = response.json()["registered"]
    assert (listed["profile"]["name"], listed["profile"]["has_photo"]) == ("Sara", False)
    assert "/photo" not in response.text
    response = await harness.http.put("/v1/contacts", json={"phones": [SARA]}, headers=bita.headers)
    [found] = response.json()["registered"]
    assert (found["profile"]["has_photo"], found["profile"]["photo_url"]) == (False, None)
    await unblock(harness, sara, bita.user_id)
    response = await harness.http.get("/v1/contacts", headers=bita.headers)
    assert response.json()["registered"][0]["profile"]["has_photo"] is True


# --- the shared-chat relation (P3.2) ------------------------------------------------------------


async def test_sharing_a_chat_shows_the_profile_but_never_the_number(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    await with_photo_and_status(harness, sara)
    stranger = await profile(harness, bita, sara.user_id)
    assert stranger == {"id": sara.user_id}
    assert await photo_status(harness, bita, sara.user_id) == 404

    group = await create_group(harness, cyrus, sara, bita)
    # Put in the group by Cyrus, who does not hold her number: not shown until she speaks.
    assert await profile(harness, bita, sara.user_id) == {"id": sara.user_id}
    await send(harness, sara, group, "hello all")
    seen = await profile(harness, bita, sara.user_id)
    assert seen["name"] == "Sara"
    assert seen["status"] == "at the beach"
    assert seen["has_photo"] is True
    assert "phone" not in seen
    assert SARA not in str(seen)
    assert await photo_status(harness, bita, sara.user_id) == 200
    assert SARA not in (await harness.http.get(f"/v1/chats/{group}", headers=bita.headers)).text

    # Leaving the only shared chat makes her a stranger again.
    response = await harness.http.delete(f"/v1/chats/{group}", headers=bita.headers)
    assert response.status_code == 204
    assert await profile(harness, bita, sara.user_id) == {"id": sara.user_id}
    assert await photo_status(harness, bita, sara.user_id) == 404


async def test_a_direct_chat_is_a_shared_chat_too(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    await with_photo_and_status(harness, bita)
    chat = await direct_chat(harness, sara, bita)
    # Sara opened it: Bita sees Sara, Sara sees Bita only once Bita answers (P3.2).
    assert (await profile(harness, bita, sara.user_id))["name"] == "Sara"
    assert await profile(harness, sara, bita.user_id) == {"id": bita.user_id}
    await send(harness, bita, chat, "hi Sara")
    seen = await profile(harness, sara, bita.user_id)
    assert (seen["name"], seen["has_photo"]) == ("Bita", True)
    assert "phone" not in seen
