"""Groups over HTTP (P5.1, P5.2, P9.1): owner, admins and members; adding and removing; leaving
and handing over; roles; title; the member limit; deleting a group; the group photo (P3.3,
P5.3); and the updates every member is told of."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from payam.storage import chats as chat_store
from payam.storage.tables import chat_invites, chats, messages
from tests.api.test_chats import (
    BITA,
    CYRUS,
    DARA,
    SARA,
    chat_list,
    code_of,
    create_group,
    direct_chat,
    get_chat,
    history,
    kinds_since,
    last_update_seq,
    member_ids,
    send,
    updates_of,
)
from tests.conftest import Account, Harness

ERAN = "+989121110004"


def roles(chat: dict[str, Any]) -> dict[int, str]:
    return {m["user_id"]: m["role"] for m in chat["members"]}


async def add(harness: Harness, by: Account, chat_id: int, *users: Account) -> httpx.Response:
    return await harness.http.post(
        f"/v1/chats/{chat_id}/members",
        json={"user_ids": [u.user_id for u in users]},
        headers=by.headers,
    )


async def remove(harness: Harness, by: Account, chat_id: int, user: Account) -> httpx.Response:
    return await harness.http.delete(
        f"/v1/chats/{chat_id}/members/{user.user_id}", headers=by.headers
    )


async def set_role(
    harness: Harness, by: Account, chat_id: int, user: Account, role: str
) -> httpx.Response:
    return await harness.http.put(
        f"/v1/chats/{chat_id}/members/{user.user_id}/role", json={"role": role}, headers=by.headers
    )


async def leave(harness: Harness, who: Account, chat_id: int, **params: Any) -> httpx.Response:
    return await harness.http.delete(f"/v1/chats/{chat_id}", params=params, headers=who.headers)


# --- creating -----------------------------------------------------------------------------------


async def test_group_has_the_creator_as_owner_and_tells_every_member(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    response = await harness.http.post(
        "/v1/chats",
        json={
            "type": "group",
            "title": "  Trip\nto Shiraz ",
            "member_ids": [bita.user_id, cyrus.user_id, bita.user_id, sara.user_id],
        },
        headers=sara.headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["type"] == "group"
    assert body["title"] == "Trip to Shiraz"
    assert body["role"] == "owner"
    assert body["member_count"] == 3
    chat = await get_chat(harness, cyrus, body["id"])
    assert roles(chat) == {sara.user_id: "owner", bita.user_id: "member", cyrus.user_id: "member"}
    for account in (sara, bita, cyrus):
        [update] = await updates_of(harness, account)
        assert update["kind"] == "chat_new"
        assert update["chat_id"] == body["id"]
        assert update["by"] == sara.user_id


async def test_group_needs_a_title_and_known_members(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    for title in ("", "   ", "\u200d"):
        response = await harness.http.post(
            "/v1/chats", json={"type": "group", "title": title}, headers=sara.headers
        )
        assert response.status_code == 422, title
    response = await harness.http.post(
        "/v1/chats", json={"type": "group", "title": "x" * 129}, headers=sara.headers
    )
    assert response.status_code == 422
    response = await harness.http.post(
        "/v1/chats",
        json={"type": "group", "title": "Ghosts", "member_ids": [sara.user_id + 1000]},
        headers=sara.headers,
    )
    assert response.status_code == 404
    assert code_of(response) == "user_not_found"
    assert await chat_list(harness, sara) == []


async def test_member_limit_holds_on_create_add_and_join(make_harness: Any) -> None:
    harness: Harness = await make_harness(group_member_limit=3)
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    dara = await harness.sign_in(DARA, "Dara")
    response = await harness.http.post(
        "/v1/chats",
        json={
            "type": "group",
            "title": "Big",
            "member_ids": [bita.user_id, cyrus.user_id, dara.user_id],
        },
        headers=sara.headers,
    )
    assert response.status_code == 422
    assert code_of(response) == "member_limit"
    assert await chat_list(harness, bita) == []

    group = await create_group(harness, sara, bita)
    response = await add(harness, sara, group, cyrus, dara)
    assert response.status_code == 422
    assert code_of(response) == "member_limit"
    assert member_ids(await get_chat(harness, sara, group)) == {sara.user_id, bita.user_id}
    assert (await add(harness, sara, group, cyrus)).status_code == 204
    response = await add(harness, sara, group, dara)
    assert response.status_code == 422
    assert code_of(response) == "member_limit"
    assert (await get_chat(harness, sara, group))["member_count"] == 3


def widen_races(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every read of a chat's members take a while, so that concurrent requests all read
    before any of them writes: what a busy PostgreSQL does now and then, every time."""
    read = chat_store.member_ids_of

    async def slow(*args: Any, **kwargs: Any) -> dict[int, list[int]]:
        found = await read(*args, **kwargs)
        await asyncio.sleep(0.05)
        return found

    monkeypatch.setattr(chat_store, "member_ids_of", slow)


async def test_concurrent_adds_cannot_pass_the_member_limit(
    make_harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness: Harness = await make_harness(group_member_limit=3)
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    others = [await harness.sign_in(phone, "Other") for phone in (CYRUS, DARA, ERAN)]
    group = await create_group(harness, sara, bita)
    await set_role(harness, sara, group, bita, "admin")
    responses = await asyncio.gather(
        *(
            add(harness, by, group, other)
            for by, other in zip([sara, bita, sara], others, strict=True)
        )
    )
    assert sorted(r.status_code for r in responses) == [204, 422, 422], [r.text for r in responses]
    chat = await get_chat(harness, sara, group)
    assert chat["member_count"] == len(chat["members"]) == 3


async def test_concurrent_adds_of_the_same_user_add_them_once(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    group = await create_group(harness, sara, bita)
    await set_role(harness, sara, group, bita, "admin")
    widen_races(monkeypatch)
    responses = await asyncio.gather(
        add(harness, sara, group, cyrus), add(harness, bita, group, cyrus)
    )
    assert [r.status_code for r in responses] == [204, 204], [r.text for r in responses]
    chat = await get_chat(harness, sara, group)
    assert chat["member_count"] == len(chat["members"]) == 3
    assert [u["kind"] for u in await updates_of(harness, cyrus)] == ["chat_new"]


# --- adding and removing --------------------------------------------------------------------


async def test_admins_add_members_and_everyone_is_told(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    group = await create_group(harness, sara, bita)
    await send(harness, sara, group, "before cyrus")
    bita_seen = await last_update_seq(harness, bita)
    response = await add(harness, sara, group, cyrus)
    assert response.status_code == 204
    assert member_ids(await get_chat(harness, cyrus, group)) == {
        sara.user_id,
        bita.user_id,
        cyrus.user_id,
    }
    [added] = await updates_of(harness, bita, bita_seen)
    assert added["kind"] == "member_added"
    assert added["user_id"] == cyrus.user_id
    assert added["by"] == sara.user_id
    assert [u["kind"] for u in await updates_of(harness, cyrus)] == ["chat_new"]
    # Adding someone already in the group is harmless.
    assert (await add(harness, sara, group, cyrus, bita)).status_code == 204
    assert (await get_chat(harness, sara, group))["member_count"] == 3
    # New members start with nothing unread.
    [listed] = await chat_list(harness, cyrus)
    assert listed["unread_count"] == 0


async def test_members_cannot_add_or_remove(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    dara = await harness.sign_in(DARA, "Dara")
    group = await create_group(harness, sara, bita, cyrus)
    response = await add(harness, bita, group, dara)
    assert response.status_code == 403
    assert code_of(response) == "not_admin"
    response = await remove(harness, bita, group, cyrus)
    assert response.status_code == 403
    assert code_of(response) == "not_admin"
    assert member_ids(await get_chat(harness, sara, group)) == {
        sara.user_id,
        bita.user_id,
        cyrus.user_id,
    }


async def test_direct_chats_have_no_admin_actions(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    chat_id = await direct_chat(harness, sara, bita)
    for response in (
        await add(harness, sara, chat_id, cyrus),
        await remove(harness, sara, chat_id, bita),
        await set_role(harness, sara, chat_id, bita, "admin"),
        await harness.http.patch(f"/v1/chats/{chat_id}", json={"title": "x"}, headers=sara.headers),
        await harness.http.post(f"/v1/chats/{chat_id}/invites", headers=sara.headers),
    ):
        assert response.status_code == 403
        assert code_of(response) == "not_a_group"
    assert member_ids(await get_chat(harness, sara, chat_id)) == {sara.user_id, bita.user_id}


async def test_owner_cannot_be_removed_and_admins_only_by_the_owner(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    dara = await harness.sign_in(DARA, "Dara")
    group = await create_group(harness, sara, bita, cyrus, dara)
    for admin in (bita, cyrus):
        assert (await set_role(harness, sara, group, admin, "admin")).status_code == 204
    response = await remove(harness, bita, group, sara)
    assert response.status_code == 403
    assert code_of(response) == "not_allowed"
    response = await remove(harness, bita, group, cyrus)
    assert response.status_code == 403
    assert code_of(response) == "not_allowed"
    assert (await remove(harness, bita, group, dara)).status_code == 204
    assert (await remove(harness, sara, group, cyrus)).status_code == 204
    assert member_ids(await get_chat(harness, sara, group)) == {sara.user_id, bita.user_id}
    response = await remove(harness, sara, group, cyrus)
    assert response.status_code == 404
    assert code_of(response) == "member_not_found"


async def test_removing_a_member_tells_them_and_the_others(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    group = await create_group(harness, sara, bita, cyrus)
    bita_seen = await last_update_seq(harness, bita)
    assert (await remove(harness, sara, group, cyrus)).status_code == 204
    [removed] = await updates_of(harness, bita, bita_seen)
    assert removed["kind"] == "member_removed"
    assert removed["user_id"] == cyrus.user_id
    assert removed["by"] == sara.user_id
    last = (await updates_of(harness, cyrus))[-1]
    assert last["kind"] == "chat_removed"
    assert last["by"] == sara.user_id
    assert await chat_list(harness, cyrus) == []


# --- leaving and roles ----------------------------------------------------------------------


async def test_owner_leaving_hands_the_group_to_the_oldest_admin(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    dara = await harness.sign_in(DARA, "Dara")
    group = await create_group(harness, sara, bita)
    harness.clock.advance(10)
    await add(harness, sara, group, cyrus)
    harness.clock.advance(10)
    await add(harness, sara, group, dara)
    await set_role(harness, sara, group, dara, "admin")
    harness.clock.advance(10)
    await set_role(harness, sara, group, cyrus, "admin")
    bita_seen = await last_update_seq(harness, bita)
    assert (await leave(harness, sara, group)).status_code == 204
    chat = await get_chat(harness, bita, group)
    # Cyrus joined before Dara; Bita is older but not an admin.
    assert roles(chat) == {bita.user_id: "member", cyrus.user_id: "owner", dara.user_id: "admin"}
    got = [
        (u["kind"], u.get("user_id"), u.get("role"))
        for u in await updates_of(harness, bita, bita_seen)
    ]
    assert got == [("member_removed", sara.user_id, None), ("member_role", cyrus.user_id, "owner")]
    assert await chat_list(harness, sara) == []


async def test_owner_leaving_without_admins_hands_over_to_the_oldest_member(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    group = await create_group(harness, sara, cyrus)
    harness.clock.advance(10)
    await add(harness, sara, group, bita)
    assert (await leave(harness, sara, group)).status_code == 204
    assert roles(await get_chat(harness, bita, group)) == {
        bita.user_id: "member",
        cyrus.user_id: "owner",
    }
    # The new owner can do what owners do.
    assert (await set_role(harness, cyrus, group, bita, "admin")).status_code == 204


async def test_a_member_leaves_and_can_no_longer_read_or_write(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    group = await create_group(harness, sara, bita)
    await send(harness, sara, group, "hello")
    assert (await leave(harness, bita, group)).status_code == 204
    assert (await updates_of(harness, bita))[-1]["kind"] == "chat_removed"
    response = await harness.http.get(f"/v1/chats/{group}/messages", headers=bita.headers)
    assert response.status_code == 404
    await send(harness, bita, group, "still here?", expect=404)
    assert member_ids(await get_chat(harness, sara, group)) == {sara.user_id}
    # Removing oneself is leaving.
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    await add(harness, sara, group, cyrus)
    assert (await remove(harness, cyrus, group, cyrus)).status_code == 204
    assert member_ids(await get_chat(harness, sara, group)) == {sara.user_id}


async def test_only_the_owner_promotes_demotes_and_hands_over(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    group = await create_group(harness, sara, bita, cyrus)
    assert (await set_role(harness, sara, group, bita, "admin")).status_code == 204
    cyrus_seen = await last_update_seq(harness, cyrus)
    [told] = await updates_of(harness, cyrus, cyrus_seen - 1)
    assert (told["kind"], told["user_id"], told["role"]) == ("member_role", bita.user_id, "admin")
    # An admin is not the owner.
    response = await set_role(harness, bita, group, cyrus, "admin")
    assert response.status_code == 403
    assert code_of(response) == "not_owner"
    response = await set_role(harness, cyrus, group, cyrus, "admin")
    assert response.status_code == 403
    response = await set_role(harness, sara, group, sara, "member")
    assert response.status_code == 422
    response = await set_role(harness, sara, group, bita, "king")
    assert response.status_code == 422
    assert (await set_role(harness, sara, group, bita, "member")).status_code == 204
    assert roles(await get_chat(harness, sara, group))[bita.user_id] == "member"

    assert (await set_role(harness, sara, group, cyrus, "owner")).status_code == 204
    assert roles(await get_chat(harness, sara, group)) == {
        sara.user_id: "admin",
        bita.user_id: "member",
        cyrus.user_id: "owner",
    }
    told = [
        (u["user_id"], u["role"])
        for u in await updates_of(harness, bita, cyrus_seen)
        if u["kind"] == "member_role"
    ]
    assert told[-2:] == [(cyrus.user_id, "owner"), (sara.user_id, "admin")]
    response = await set_role(harness, sara, group, bita, "admin")
    assert response.status_code == 403
    assert code_of(response) == "not_owner"


async def test_admins_change_the_title_and_members_see_it(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    group = await create_group(harness, sara, bita, cyrus, title="Old")
    response = await harness.http.patch(
        f"/v1/chats/{group}", json={"title": "Member's idea"}, headers=bita.headers
    )
    assert response.status_code == 403
    assert code_of(response) == "not_admin"
    await set_role(harness, sara, group, bita, "admin")
    seen = await last_update_seq(harness, cyrus)
    response = await harness.http.patch(
        f"/v1/chats/{group}", json={"title": "New"}, headers=bita.headers
    )
    assert response.status_code == 204
    assert (await get_chat(harness, cyrus, group))["title"] == "New"
    [update] = await updates_of(harness, cyrus, seen)
    assert (update["kind"], update["title"]) == ("chat_updated", "New")


# --- deleting a group ---------------------------------------------------------------------


async def test_owner_deletes_the_group_for_everyone(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    group = await create_group(harness, sara, bita, cyrus)
    await send(harness, bita, group, "deleteme-canary")
    await harness.http.post(f"/v1/chats/{group}/invites", headers=sara.headers)
    await set_role(harness, sara, group, bita, "admin")
    response = await leave(harness, bita, group, delete="true")
    assert response.status_code == 403
    assert code_of(response) == "not_owner"
    assert member_ids(await get_chat(harness, sara, group)) == {
        sara.user_id,
        bita.user_id,
        cyrus.user_id,
    }
    assert (await leave(harness, sara, group, delete="true")).status_code == 204
    for account in (sara, bita, cyrus):
        assert await chat_list(harness, account) == []
        update = (await updates_of(harness, account))[-1]
        assert (update["kind"], update["deleted"]) == ("chat_removed", True)
        assert "deleteme-canary" not in str(await updates_of(harness, account))
        response = await harness.http.get(f"/v1/chats/{group}", headers=account.headers)
        assert response.status_code == 404
    async with harness.services.db.read() as conn:
        assert (await conn.execute(select(chats.c.id))).all() == []
        assert (await conn.execute(select(messages.c.id))).all() == []
        assert (await conn.execute(select(chat_invites.c.token))).all() == []


async def test_last_member_leaving_deletes_the_group(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    group = await create_group(harness, sara, bita)
    await send(harness, bita, group, "last words")
    assert (await leave(harness, sara, group)).status_code == 204
    assert roles(await get_chat(harness, bita, group)) == {bita.user_id: "owner"}
    assert (await leave(harness, bita, group)).status_code == 204
    async with harness.services.db.read() as conn:
        assert (await conn.execute(select(chats.c.id))).all() == []
        assert (await conn.execute(select(messages.c.id))).all() == []


async def test_concurrent_leaving_of_the_last_two_members_still_deletes_the_group(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    group = await create_group(harness, sara, bita)
    await send(harness, bita, group, "nobody will read this")
    widen_races(monkeypatch)
    responses = await asyncio.gather(leave(harness, sara, group), leave(harness, bita, group))
    assert [r.status_code for r in responses] == [204, 204], [r.text for r in responses]
    async with harness.services.db.read() as conn:
        assert (await conn.execute(select(chats.c.id))).all() == []
        assert (await conn.execute(select(messages.c.id))).all() == []


# --- the group photo (P3.3, P5.3) ---------------------------------------------------------------


def png(colour: tuple[int, int, int], size: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, "PNG")
    return out.getvalue()


def jpeg_with_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "GroupSpyCam"  # Make
    out = io.BytesIO()
    Image.new("RGB", (120, 90), (10, 200, 30)).save(out, "JPEG", exif=exif)
    data = out.getvalue()
    assert b"GroupSpyCam" in data
    return data


async def put_chat_photo(
    harness: Harness, by: Account, chat_id: int, data: bytes
) -> httpx.Response:
    return await harness.http.put(
        f"/v1/chats/{chat_id}/photo",
        files={"file": ("photo.png", data, "image/png")},
        headers=by.headers,
    )


async def chat_photo(
    harness: Harness, viewer: Account, chat_id: int, size: str = "full"
) -> httpx.Response:
    return await harness.http.get(
        f"/v1/chats/{chat_id}/photo", params={"size": size}, headers=viewer.headers
    )


def blob_files(harness: Harness) -> dict[Path, bytes]:
    root = harness.settings.data_dir / "blobs"
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


async def test_admins_set_the_group_photo_and_members_see_it_without_metadata(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    group = await create_group(harness, sara, bita)
    seen = await last_update_seq(harness, bita)
    response = await put_chat_photo(harness, sara, group, jpeg_with_exif())
    assert response.status_code == 200, response.text
    assert response.json()["photo_url"] == f"/v1/chats/{group}/photo"
    [update] = await updates_of(harness, bita, seen)
    assert (update["kind"], update["photo"]) == ("chat_updated", True)
    listed = (await chat_list(harness, bita))[0]
    assert listed["photo_url"] == f"/v1/chats/{group}/photo"
    for size in ("full", "thumb"):
        fetched = await chat_photo(harness, bita, group, size)
        assert fetched.status_code == 200
        assert fetched.headers["content-type"] == "image/webp"
        assert b"GroupSpyCam" not in fetched.content
        assert "private" in fetched.headers["cache-control"]
    etag = fetched.headers["etag"]
    again = await harness.http.get(
        f"/v1/chats/{group}/photo?size=thumb", headers={**bita.headers, "if-none-match": etag}
    )
    assert again.status_code == 304
    assert b"GroupSpyCam" not in b"".join(blob_files(harness).values())


async def test_members_cannot_set_or_remove_the_photo_and_outsiders_cannot_see_it(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    eve = await harness.sign_in(DARA, "Eve")
    group = await create_group(harness, sara, bita)
    assert (await put_chat_photo(harness, sara, group, png((1, 2, 3)))).status_code == 200
    files = blob_files(harness)
    response = await put_chat_photo(harness, bita, group, png((9, 9, 9)))
    assert response.status_code == 403
    assert code_of(response) == "not_admin"
    response = await harness.http.delete(f"/v1/chats/{group}/photo", headers=bita.headers)
    assert response.status_code == 403
    assert blob_files(harness) == files
    for size in ("full", "thumb"):
        response = await chat_photo(harness, eve, group, size)
        assert response.status_code == 404
        assert code_of(response) == "chat_not_found"
    response = await put_chat_photo(harness, eve, group, png((9, 9, 9)))
    assert response.status_code == 404
    assert blob_files(harness) == files
    direct = await direct_chat(harness, sara, bita)
    response = await put_chat_photo(harness, sara, direct, png((9, 9, 9)))
    assert response.status_code == 403
    assert code_of(response) == "not_a_group"
    response = await chat_photo(harness, sara, direct)
    assert response.status_code == 404
    assert code_of(response) == "photo_not_found"


async def test_a_refused_group_photo_changes_nothing(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    group = await create_group(harness, sara)
    await put_chat_photo(harness, sara, group, png((1, 2, 3)))
    before = (await chat_photo(harness, sara, group)).content
    files = blob_files(harness)
    for bad in (b"not an image", b"", png((1, 1, 1))[:40]):
        response = await put_chat_photo(harness, sara, group, bad)
        assert 400 <= response.status_code < 500, response.text
    assert (await chat_photo(harness, sara, group)).content == before
    assert blob_files(harness) == files


async def test_removed_or_replaced_group_photo_is_erased_from_disk(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    group = await create_group(harness, sara, bita)
    await put_chat_photo(harness, sara, group, png((200, 0, 0)))
    first = blob_files(harness)
    assert len(first) == 2
    await put_chat_photo(harness, sara, group, png((0, 0, 200)))
    second = blob_files(harness)
    assert not set(first) & set(second)
    assert len(second) == 2
    seen = await last_update_seq(harness, bita)
    response = await harness.http.delete(f"/v1/chats/{group}/photo", headers=sara.headers)
    assert response.status_code == 200
    assert response.json()["photo_url"] is None
    assert blob_files(harness) == {}
    for path in second:
        assert not path.exists()
    [update] = await updates_of(harness, bita, seen)
    assert (update["kind"], update["photo"]) == ("chat_updated", False)
    response = await chat_photo(harness, bita, group)
    assert response.status_code == 404
    assert code_of(response) == "photo_not_found"
    # Removing it again is harmless.
    assert (
        await harness.http.delete(f"/v1/chats/{group}/photo", headers=sara.headers)
    ).status_code == 200


async def test_a_photo_file_shared_with_a_user_and_another_group_stays_until_unused(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    one = await create_group(harness, sara, bita, title="One")
    two = await create_group(harness, sara, title="Two")
    same = png((7, 77, 177))
    await put_chat_photo(harness, sara, one, same)
    await put_chat_photo(harness, sara, two, same)
    response = await harness.http.put(
        "/v1/me/photo", files={"file": ("me.png", same, "image/png")}, headers=bita.headers
    )
    assert response.status_code == 200
    files = blob_files(harness)
    assert len(files) == 2
    await harness.http.delete(f"/v1/chats/{one}/photo", headers=sara.headers)
    assert blob_files(harness) == files
    # Deleting the second group keeps the files Bita's profile still shows.
    assert (await leave(harness, sara, two, delete="true")).status_code == 204
    assert blob_files(harness) == files
    assert (
        await harness.http.get(f"/v1/users/{bita.user_id}/photo", headers=bita.headers)
    ).status_code == 200
    await harness.http.delete("/v1/me/photo", headers=bita.headers)
    assert blob_files(harness) == {}


async def test_deleting_a_group_erases_its_photo_files(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    group = await create_group(harness, sara, bita)
    await put_chat_photo(harness, sara, group, png((50, 60, 70)))
    files = blob_files(harness)
    assert files
    assert (await leave(harness, sara, group, delete="true")).status_code == 204
    for path in files:
        assert not path.exists()
    # Also when the last member leaves.
    other = await create_group(harness, sara)
    await put_chat_photo(harness, sara, other, png((80, 90, 100)))
    assert blob_files(harness)
    assert (await leave(harness, sara, other)).status_code == 204
    assert blob_files(harness) == {}


async def test_group_photo_uploads_share_the_uploaders_budget(make_harness: Any) -> None:
    harness: Harness = await make_harness(limits={"photo_upload_per_user": "2/3600"})
    sara = await harness.sign_in(SARA, "Sara")
    group = await create_group(harness, sara)
    assert (await put_chat_photo(harness, sara, group, png((1, 1, 1)))).status_code == 200
    response = await harness.http.put(
        "/v1/me/photo",
        files={"file": ("me.png", png((2, 2, 2)), "image/png")},
        headers=sara.headers,
    )
    assert response.status_code == 200
    response = await put_chat_photo(harness, sara, group, png((3, 3, 3)))
    assert response.status_code == 429
    assert code_of(response) == "too_many_uploads"


async def test_group_history_is_kept_for_those_who_stay(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    group = await create_group(harness, sara, bita, cyrus)
    await send(harness, cyrus, group, "from cyrus")
    await remove(harness, sara, group, cyrus)
    assert [m["text"] for m in await history(harness, bita, group)] == ["from cyrus"]
    assert await kinds_since(harness, cyrus, group, 0) == [
        "chat_new",
        "message_new",
        "chat_removed",
    ]
