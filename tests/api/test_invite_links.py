"""Invite links to groups (P5.1, P9.1): admins create, list and revoke them; anyone holding a
working link joins; a revoked or unknown link is 404; joining twice is harmless; a full group
refuses, also when many join at once."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.api.test_chats import (
    BITA,
    CYRUS,
    DARA,
    SARA,
    chat_list,
    code_of,
    create_group,
    get_chat,
    last_update_seq,
    member_ids,
    send,
    updates_of,
)
from tests.api.test_groups import set_role, widen_races
from tests.conftest import Account, Harness

ERAN = "+989121110004"


async def create_invite(harness: Harness, by: Account, chat_id: int) -> httpx.Response:
    return await harness.http.post(f"/v1/chats/{chat_id}/invites", headers=by.headers)


async def invite_token(harness: Harness, by: Account, chat_id: int) -> str:
    response = await create_invite(harness, by, chat_id)
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


async def join(harness: Harness, who: Account, token: str) -> httpx.Response:
    return await harness.http.post(f"/v1/invites/{token}/join", headers=who.headers)


async def invites(harness: Harness, by: Account, chat_id: int) -> list[dict[str, Any]]:
    response = await harness.http.get(f"/v1/chats/{chat_id}/invites", headers=by.headers)
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


async def test_admins_create_and_list_links_members_cannot(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    group = await create_group(harness, sara, bita)
    response = await create_invite(harness, sara, group)
    assert response.status_code == 201
    link = response.json()
    assert link["chat_id"] == group
    assert link["revoked"] is False
    assert len(link["token"]) >= 20  # unguessable
    for response in (
        await create_invite(harness, bita, group),
        await harness.http.get(f"/v1/chats/{group}/invites", headers=bita.headers),
        await harness.http.delete(
            f"/v1/chats/{group}/invites/{link['token']}", headers=bita.headers
        ),
    ):
        assert response.status_code == 403
        assert code_of(response) == "not_admin"
        assert link["token"] not in response.text
    await set_role(harness, sara, group, bita, "admin")
    second = await invite_token(harness, bita, group)
    assert second != link["token"]
    assert [i["token"] for i in await invites(harness, sara, group)] == [link["token"], second]


async def test_joining_by_link_makes_a_member_and_tells_the_group(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    group = await create_group(harness, sara, bita, title="Book club")
    await send(harness, sara, group, "welcome, whoever comes")
    token = await invite_token(harness, sara, group)
    seen = await last_update_seq(harness, bita)
    response = await join(harness, cyrus, token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["title"], body["role"]) == (group, "Book club", "member")
    assert member_ids(await get_chat(harness, cyrus, group)) == {
        sara.user_id,
        bita.user_id,
        cyrus.user_id,
    }
    [added] = await updates_of(harness, bita, seen)
    assert (added["kind"], added["user_id"]) == ("member_added", cyrus.user_id)
    assert [u["kind"] for u in await updates_of(harness, cyrus)] == ["chat_new"]
    [listed] = await chat_list(harness, cyrus)
    assert listed["unread_count"] == 0


async def test_joining_twice_is_harmless(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    group = await create_group(harness, sara)
    token = await invite_token(harness, sara, group)
    first = await join(harness, bita, token)
    seen = await last_update_seq(harness, sara)
    again = await join(harness, bita, token)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["id"] == group
    assert (await get_chat(harness, sara, group))["member_count"] == 2
    assert await updates_of(harness, sara, seen) == []
    # The owner following their own link stays the owner.
    assert (await join(harness, sara, token)).json()["role"] == "owner"


async def test_revoked_and_unknown_links_are_404(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    group = await create_group(harness, sara)
    token = await invite_token(harness, sara, group)
    response = await harness.http.delete(f"/v1/chats/{group}/invites/{token}", headers=sara.headers)
    assert response.status_code == 204
    revoked = await join(harness, bita, token)
    assert revoked.status_code == 404
    assert code_of(revoked) == "invite_not_found"
    unknown = await join(harness, bita, "no-such-token")
    too_long = await join(harness, bita, "x" * 300)
    for response in (unknown, too_long):
        assert response.status_code == 404
        assert response.json() == revoked.json()
    assert await chat_list(harness, bita) == []
    assert [(i["token"], i["revoked"]) for i in await invites(harness, sara, group)] == [
        (token, True)
    ]
    again = await harness.http.delete(f"/v1/chats/{group}/invites/{token}", headers=sara.headers)
    assert again.status_code == 404
    assert code_of(again) == "invite_not_found"


async def test_a_link_revoked_in_another_group_is_not_found(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    one = await create_group(harness, sara, title="One")
    two = await create_group(harness, sara, title="Two")
    token = await invite_token(harness, sara, one)
    response = await harness.http.delete(f"/v1/chats/{two}/invites/{token}", headers=sara.headers)
    assert response.status_code == 404
    assert [i["revoked"] for i in await invites(harness, sara, one)] == [False]


async def test_a_full_group_refuses_to_join(make_harness: Any) -> None:
    harness: Harness = await make_harness(group_member_limit=2)
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    group = await create_group(harness, sara)
    token = await invite_token(harness, sara, group)
    assert (await join(harness, bita, token)).status_code == 200
    response = await join(harness, cyrus, token)
    assert response.status_code == 409
    assert code_of(response) == "member_limit"
    assert await chat_list(harness, cyrus) == []
    # A member following the link again is not refused: nothing changes.
    assert (await join(harness, bita, token)).status_code == 200


async def test_concurrent_joins_cannot_pass_the_member_limit(
    make_harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness: Harness = await make_harness(group_member_limit=3)
    sara = await harness.sign_in(SARA, "Sara")
    joiners = [await harness.sign_in(phone, "Joiner") for phone in (BITA, CYRUS, DARA, ERAN)]
    group = await create_group(harness, sara)
    token = await invite_token(harness, sara, group)
    widen_races(monkeypatch)
    responses = await asyncio.gather(*(join(harness, who, token) for who in joiners))
    assert sorted(r.status_code for r in responses) == [200, 200, 409, 409], [
        r.text for r in responses
    ]
    chat = await get_chat(harness, sara, group)
    assert chat["member_count"] == len(chat["members"]) == 3


async def test_deleting_the_group_kills_its_links(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    group = await create_group(harness, sara)
    token = await invite_token(harness, sara, group)
    response = await harness.http.delete(
        f"/v1/chats/{group}", params={"delete": "true"}, headers=sara.headers
    )
    assert response.status_code == 204
    response = await join(harness, bita, token)
    assert response.status_code == 404
    assert code_of(response) == "invite_not_found"
