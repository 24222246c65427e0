"""Channels over HTTP (P5.1, P9.1): creating with a public handle, finding and searching,
reading without subscribing, joining and leaving, what members see of each other (nothing),
roles, hand-over and deletion (P5.3), and the group routes a channel refuses."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select

from payam.domain.errors import Forbidden
from payam.domain.models import Caller
from payam.services import channels as channel_service
from payam.storage import channels as channel_store
from payam.storage.tables import channel_stats, chat_members, chats, messages, reports
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
    send,
    updates_of,
)
from tests.api.test_groups import blob_files
from tests.conftest import Account, Harness

ERAN = "+989121110004"


# --- helpers (also used by the other channel test modules) ----------------------------------


async def create_channel_response(
    harness: Harness,
    owner: Account,
    handle: str,
    title: str = "Daily News",
    description: str | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"type": "channel", "title": title, "handle": handle}
    if description is not None:
        body["description"] = description
    return await harness.http.post("/v1/chats", json=body, headers=owner.headers)


async def create_channel(
    harness: Harness, owner: Account, handle: str = "daily_news", **kwargs: Any
) -> int:
    response = await create_channel_response(harness, owner, handle, **kwargs)
    assert response.status_code == 201, response.text
    chat_id: int = response.json()["id"]
    return chat_id


async def join(harness: Harness, who: Account, chat_id: int) -> httpx.Response:
    return await harness.http.post(f"/v1/chats/{chat_id}/join", headers=who.headers)


async def subscribe(harness: Harness, chat_id: int, *who: Account) -> None:
    for account in who:
        response = await join(harness, account, chat_id)
        assert response.status_code == 200, response.text


async def leave(harness: Harness, who: Account, chat_id: int, **params: Any) -> httpx.Response:
    return await harness.http.delete(f"/v1/chats/{chat_id}", params=params, headers=who.headers)


async def set_role(
    harness: Harness, by: Account, chat_id: int, user: Account, role: str
) -> httpx.Response:
    return await harness.http.put(
        f"/v1/chats/{chat_id}/members/{user.user_id}/role", json={"role": role}, headers=by.headers
    )


async def search(harness: Harness, who: Account, q: str, **params: Any) -> httpx.Response:
    return await harness.http.get("/v1/channels", params={"q": q, **params}, headers=who.headers)


async def found_handles(harness: Harness, who: Account, q: str, **params: Any) -> list[str]:
    response = await search(harness, who, q, **params)
    assert response.status_code == 200, response.text
    return [c["handle"] for c in response.json()]


async def updates_since(harness: Harness, who: Account, after: int) -> list[dict[str, Any]]:
    return await updates_of(harness, who, after)


async def stats_count(harness: Harness, chat_id: int, metric: str) -> int:
    async with harness.services.db.read() as conn:
        total = await conn.scalar(
            select(func.coalesce(func.sum(channel_stats.c.count), 0)).where(
                channel_stats.c.chat_id == chat_id, channel_stats.c.metric == metric
            )
        )
    return int(total or 0)


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 20, 20)).save(out, "PNG")
    return out.getvalue()


# --- creating -----------------------------------------------------------------------------------


async def test_a_channel_is_created_with_its_handle_and_the_creator_as_owner(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    response = await create_channel_response(
        harness, sara, "Daily_News", description="  What happened today.  "
    )
    assert response.status_code == 201, response.text
    channel = response.json()
    assert channel["type"] == "channel"
    assert channel["handle"] == "Daily_News"  # the spelling is kept
    assert channel["title"] == "Daily News"
    assert channel["description"] == "What happened today."
    assert channel["subscriber_count"] == 1
    assert channel["subscribed"] is True
    assert channel["role"] == "owner"
    assert channel["unread_count"] == 0
    assert "members" not in channel and "member_count" not in channel
    assert [a["user_id"] for a in channel["admins"]] == [sara.user_id]
    kinds = [(u["kind"], u.get("chat_type")) for u in await updates_of(harness, sara)]
    assert ("chat_new", "channel") in kinds
    assert await stats_count(harness, channel["id"], "joined") == 1


async def test_a_taken_handle_is_refused_in_any_case(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    await create_channel(harness, sara, "daily_news")
    for handle in ("daily_news", "Daily_News", "DAILY_NEWS"):
        response = await create_channel_response(harness, bita, handle)
        assert response.status_code == 409, response.text
        assert code_of(response) == "handle_taken"
    async with harness.services.db.read() as conn:
        count = await conn.scalar(select(func.count()).select_from(chats))
    assert count == 1


async def test_two_requests_racing_for_a_handle_get_one_channel_and_one_409(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    responses = await asyncio.gather(
        create_channel_response(harness, sara, "race_me"),
        create_channel_response(harness, bita, "Race_Me"),
    )
    assert sorted(r.status_code for r in responses) == [201, 409]
    assert [code_of(r) for r in responses if r.status_code == 409] == ["handle_taken"]


async def test_the_unique_index_refusing_a_handle_is_a_409_not_a_500(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The moment between the check and the insert: the other request committed in it."""
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    await create_channel(harness, sara, "race_me")
    real = channel_store.by_handle
    calls = 0

    async def blind_once(conn: Any, key: str) -> Any:
        nonlocal calls
        calls += 1
        return None if calls == 1 else await real(conn, key)

    monkeypatch.setattr(channel_store, "by_handle", blind_once)
    response = await create_channel_response(harness, bita, "RACE_ME")
    assert response.status_code == 409, response.text
    assert code_of(response) == "handle_taken"
    assert calls == 2


@pytest.mark.parametrize(
    "handle",
    [
        "abcd",  # too short
        "a" * 33,  # too long
        "1abcde",  # starts with a digit
        "_abcde",
        "abcde_",  # ends with an underscore
        "abc__de",
        "abc-de",
        "abc de",
        "abcdé",  # ASCII only
        "\u0430bcde",  # a Cyrillic a
        "abcde\n",
        "",
    ],
)
async def test_a_handle_of_the_wrong_shape_is_refused(harness: Harness, handle: str) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    response = await create_channel_response(harness, sara, handle)
    assert response.status_code == 422, response.text
    assert code_of(response) == "invalid_handle"


@pytest.mark.parametrize(
    "handle", ["admin", "Administrator", "SUPPORT", "settings", "payam", "Payam_News", "payam1"]
)
async def test_a_reserved_handle_is_refused(harness: Harness, handle: str) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    response = await create_channel_response(harness, sara, handle)
    assert response.status_code == 422, response.text
    assert code_of(response) == "handle_reserved"


async def test_handles_at_the_edges_of_the_rules_are_accepted(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    for handle in ("abcde", "a" * 32, "a_b_c_1", "News2026", "adminx"):
        response = await create_channel_response(harness, sara, handle)
        assert response.status_code == 201, (handle, response.text)


async def test_channels_made_by_one_account_are_limited_and_a_refused_one_costs_nothing(
    make_harness: Any,
) -> None:
    harness: Harness = await make_harness(limits={"channel_create_per_user": "2/86400"})
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    await create_channel(harness, bita, "taken_one")
    response = await create_channel_response(harness, sara, "taken_one")
    assert code_of(response) == "handle_taken"
    await create_channel(harness, sara, "first_one")
    await create_channel(harness, sara, "second_one")
    response = await create_channel_response(harness, sara, "third_one")
    assert response.status_code == 429, response.text
    assert code_of(response) == "too_many_channels" and int(response.headers["Retry-After"]) > 0
    response = await harness.http.get("/v1/channels/third_one", headers=sara.headers)
    assert response.status_code == 404


async def test_title_and_description_are_checked(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    response = await create_channel_response(harness, sara, "longer_one", description="x" * 256)
    assert code_of(response) == "description_too_long"
    response = await create_channel_response(harness, sara, "longer_one", title="   ")
    assert code_of(response) == "invalid_name"
    response = await create_channel_response(harness, sara, "longer_one", description="x" * 255)
    assert response.status_code == 201, response.text


# --- finding --------------------------------------------------------------------------------------


async def test_anyone_signed_in_finds_a_channel_by_handle_in_any_case(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    chat_id = await create_channel(harness, sara, "Daily_News", description="today")
    for handle in ("Daily_News", "daily_news", "DAILY_NEWS"):
        response = await harness.http.get(f"/v1/channels/{handle}", headers=bita.headers)
        assert response.status_code == 200, response.text
        found = response.json()
        assert found["id"] == chat_id and found["handle"] == "Daily_News"
        assert found["description"] == "today"
        assert found["subscribed"] is False and "role" not in found and "admins" not in found
    for handle in ("nobody_here", "x" * 300, "daily%25news", "daily_new", "daily_"):
        response = await harness.http.get(f"/v1/channels/{handle}", headers=bita.headers)
        assert response.status_code == 404, response.text
        assert code_of(response) == "channel_not_found"
    response = await harness.http.get("/v1/channels/daily_news")
    assert response.status_code == 401


async def test_a_group_is_never_found_as_a_channel(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    await create_group(harness, sara, title="secret_group")
    assert await found_handles(harness, bita, "secret") == []


async def test_search_by_handle_prefix_or_title_in_a_stable_order(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    await create_channel(harness, sara, "tehran_news", title="Tehran News")
    await create_channel(harness, sara, "Tehran_Food", title="Where to eat")
    await create_channel(harness, sara, "capital_daily", title="All about TEHRAN")
    await create_channel(harness, sara, "weather", title="Sky")
    # Handle matches first (by handle), then title matches.
    assert await found_handles(harness, bita, "tehran") == [
        "Tehran_Food",
        "tehran_news",
        "capital_daily",
    ]
    assert await found_handles(harness, bita, "TEHRAN_N") == ["tehran_news"]
    assert await found_handles(harness, bita, "@tehran") == ["Tehran_Food", "tehran_news"]
    assert await found_handles(harness, bita, "about teh") == ["capital_daily"]
    assert await found_handles(harness, bita, "tehran", limit=2) == ["Tehran_Food", "tehran_news"]
    assert await found_handles(harness, bita, "nothing") == []
    # LIKE's wildcards are plain characters here.
    assert await found_handles(harness, bita, "%") == []
    assert await found_handles(harness, bita, "_") == []
    assert await found_handles(harness, bita, "tehran_") == ["Tehran_Food", "tehran_news"]
    results = (await search(harness, bita, "weather")).json()
    assert results[0]["subscribed"] is False and results[0]["subscriber_count"] == 1
    assert "role" not in results[0]
    mine = (await search(harness, sara, "weather")).json()
    assert mine[0]["subscribed"] is True


async def test_search_refuses_empty_and_oversized_queries(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    for params in ({"q": ""}, {"q": "   "}, {"q": "@"}):
        response = await harness.http.get("/v1/channels", params=params, headers=sara.headers)
        assert code_of(response) == "empty_query", response.text
    response = await search(harness, sara, "x" * 65)
    assert code_of(response) == "query_too_long"
    for limit in (0, 51, -1):
        response = await search(harness, sara, "news", limit=limit)
        assert response.status_code == 422, response.text
    response = await harness.http.get("/v1/channels", headers=sara.headers)
    assert response.status_code == 422


async def test_anyone_signed_in_reads_the_channel_without_subscribing(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    chat_id = await create_channel(harness, sara)
    channel = await get_chat(harness, bita, chat_id)
    assert channel["id"] == chat_id and channel["subscribed"] is False
    assert "members" not in channel and "role" not in channel and "unread_count" not in channel
    assert channel["subscriber_count"] == 1
    # Not in Bita's chat list until she subscribes.
    assert chat_id not in [c["id"] for c in await chat_list(harness, bita)]
    # A group stays closed to outsiders.
    group_id = await create_group(harness, sara)
    response = await harness.http.get(f"/v1/chats/{group_id}", headers=bita.headers)
    assert response.status_code == 404


async def test_a_channel_photo_is_public_and_set_by_admins(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    chat_id = await create_channel(harness, sara)
    await subscribe(harness, chat_id, bita)
    files = {"file": ("p.png", png(), "image/png")}
    response = await harness.http.put(
        f"/v1/chats/{chat_id}/photo", files=files, headers=bita.headers
    )
    assert response.status_code == 403 and code_of(response) == "not_admin"
    response = await harness.http.put(
        f"/v1/chats/{chat_id}/photo", files=files, headers=sara.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["photo_url"] == f"/v1/chats/{chat_id}/photo"
    outsider = await harness.sign_in(CYRUS, "Cyrus")
    response = await harness.http.get(f"/v1/chats/{chat_id}/photo", headers=outsider.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/webp"


async def test_any_reader_reports_a_channel_post_but_not_a_groups_message(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    chat_id = await create_channel(harness, sara)
    post = await send(harness, sara, chat_id, "a post to report")
    url = f"/v1/chats/{chat_id}/messages/{post['id']}/report"
    response = await harness.http.post(url, json={"reason": "spam"}, headers=bita.headers)
    assert response.status_code == 201, response.text
    async with harness.services.db.read() as conn:
        reported = await conn.scalar(
            select(reports.c.reported_user_id).where(reports.c.message_id == post["id"])
        )
    assert reported == sara.user_id
    # A post id reported under another chat is not found.
    group_id = await create_group(harness, sara)
    secret = await send(harness, sara, group_id, "group only")
    for chat, message in ((chat_id, secret["id"]), (group_id, secret["id"])):
        response = await harness.http.post(
            f"/v1/chats/{chat}/messages/{message}/report",
            json={"reason": "spam"},
            headers=bita.headers,
        )
        assert response.status_code == 404, response.text


# --- joining and leaving ------------------------------------------------------------------------


async def test_joining_is_idempotent_starts_with_nothing_unread_and_tells_only_the_joiner(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    chat_id = await create_channel(harness, sara)
    await subscribe(harness, chat_id, bita)
    await send(harness, sara, chat_id, "first post")
    await send(harness, sara, chat_id, "second post")
    sara_seq = await last_update_seq(harness, sara)
    bita_seq = await last_update_seq(harness, bita)
    cyrus_seq = await last_update_seq(harness, cyrus)

    first = await join(harness, cyrus, chat_id)
    again = await join(harness, cyrus, chat_id)
    assert first.status_code == again.status_code == 200, first.text
    channel = again.json()
    assert channel["subscribed"] is True and channel["role"] == "subscriber"
    assert channel["subscriber_count"] == 3
    assert channel["read_seq"] == channel["last_seq"] == 2
    assert channel["unread_count"] == 0
    assert "members" not in channel and "admins" not in channel

    told = await updates_since(harness, cyrus, cyrus_seq)
    assert [(u["kind"], u["chat_id"], u.get("chat_type")) for u in told] == [
        ("chat_new", chat_id, "channel")
    ]
    assert await updates_since(harness, sara, sara_seq) == []
    assert await updates_since(harness, bita, bita_seq) == []
    assert await stats_count(harness, chat_id, "joined") == 3  # the owner, Bita, Cyrus
    async with harness.services.db.read() as conn:
        cleared = await conn.scalar(
            select(chat_members.c.cleared_seq).where(
                chat_members.c.chat_id == chat_id, chat_members.c.user_id == cyrus.user_id
            )
        )
    assert cleared == 0  # the whole history stays readable

    await send(harness, sara, chat_id, "third post")
    listed = {c["id"]: c for c in await chat_list(harness, cyrus)}
    assert listed[chat_id]["unread_count"] == 1
    assert listed[chat_id]["last_message"]["text"] == "third post"
    assert listed[chat_id]["type"] == "channel" and "member_count" not in listed[chat_id]


async def test_joining_twice_at_once_subscribes_once(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    chat_id = await create_channel(harness, sara)
    responses = await asyncio.gather(*(join(harness, bita, chat_id) for _ in range(3)))
    assert [r.status_code for r in responses] == [200, 200, 200], [r.text for r in responses]
    assert (await get_chat(harness, bita, chat_id))["subscriber_count"] == 2
    kinds = [u["kind"] for u in await updates_of(harness, bita) if u["chat_id"] == chat_id]
    assert kinds == ["chat_new"]
    assert await stats_count(harness, chat_id, "joined") == 2  # the owner and Bita, once


async def test_nobody_sees_typing_in_a_channel(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    chat_id = await create_channel(harness, sara)
    await subscribe(harness, chat_id, bita)
    for who in (sara, bita):
        caller = Caller(who.user_id, who.device_id)
        with pytest.raises(Forbidden) as refused:
            await harness.services.chats.check_member(caller, chat_id)
        assert refused.value.code == "not_for_channels"


async def test_only_channels_can_be_joined(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    group_id = await create_group(harness, sara, bita)
    response = await harness.http.post(
        "/v1/chats", json={"type": "direct", "user_id": bita.user_id}, headers=sara.headers
    )
    direct_id = response.json()["id"]
    for chat_id in (group_id, direct_id, 999_999):
        response = await join(harness, cyrus, chat_id)
        assert response.status_code == 404, response.text
        assert code_of(response) == "chat_not_found"
    response = await join(harness, bita, group_id)  # even for a member of the group
    assert response.status_code == 404
    async with harness.services.db.read() as conn:
        rows = await conn.scalar(
            select(func.count()).where(chat_members.c.user_id == cyrus.user_id)
        )
    assert rows == 0


async def test_leaving_is_idempotent_and_tells_only_the_leaver(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    chat_id = await create_channel(harness, sara)
    await subscribe(harness, chat_id, bita, cyrus)
    sara_seq = await last_update_seq(harness, sara)
    cyrus_seq = await last_update_seq(harness, cyrus)
    bita_seq = await last_update_seq(harness, bita)

    assert (await leave(harness, bita, chat_id)).status_code == 204
    assert (await leave(harness, bita, chat_id)).status_code == 204  # once more: no error
    told = await updates_since(harness, bita, bita_seq)
    assert [(u["kind"], u["chat_id"]) for u in told] == [("chat_removed", chat_id)]
    assert await updates_since(harness, sara, sara_seq) == []
    assert await updates_since(harness, cyrus, cyrus_seq) == []
    channel = await get_chat(harness, bita, chat_id)
    assert channel["subscribed"] is False and channel["subscriber_count"] == 2
    assert chat_id not in [c["id"] for c in await chat_list(harness, bita)]
    assert await stats_count(harness, chat_id, "left") == 1
    # Back again.
    await subscribe(harness, chat_id, bita)
    assert (await get_chat(harness, bita, chat_id))["subscriber_count"] == 3
    # A missing chat is still not found.
    response = await leave(harness, bita, 999_999)
    assert response.status_code == 404


# --- what members see of each other ---------------------------------------------------------------


async def test_subscribers_never_see_each_other_and_admins_see_only_the_count(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    dara = await harness.sign_in(DARA, "Dara")
    chat_id = await create_channel(harness, sara)
    await subscribe(harness, chat_id, bita, cyrus, dara)
    assert (await set_role(harness, sara, chat_id, dara, "admin")).status_code == 204

    views = {
        "owner": await get_chat(harness, sara, chat_id),
        "admin": await get_chat(harness, dara, chat_id),
        "subscriber": await get_chat(harness, bita, chat_id),
        "by handle": (
            await harness.http.get("/v1/channels/daily_news", headers=cyrus.headers)
        ).json(),
    }
    for who, view in views.items():
        assert "members" not in view, who
        assert view["subscriber_count"] == 4, who
        text = str(view)
        for other in (bita, cyrus):
            if view.get("role") != "owner":
                assert f"'user_id': {other.user_id}" not in text, who
    assert "admins" not in views["admin"] and "admins" not in views["subscriber"]
    assert {(a["user_id"], a["role"]) for a in views["owner"]["admins"]} == {
        (sara.user_id, "owner"),
        (dara.user_id, "admin"),
    }
    for entry in await chat_list(harness, bita):
        assert "members" not in entry


# --- roles, title, description --------------------------------------------------------------------


async def test_a_subscriber_cannot_change_title_description_or_roles(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    chat_id = await create_channel(harness, sara)
    await subscribe(harness, chat_id, bita, cyrus)
    for body in ({"title": "Mine now"}, {"description": "mine"}):
        response = await harness.http.patch(f"/v1/chats/{chat_id}", json=body, headers=bita.headers)
        assert response.status_code == 403, response.text
        assert code_of(response) == "not_admin"
    for target, role in ((cyrus, "admin"), (bita, "admin"), (sara, "subscriber")):
        response = await set_role(harness, bita, chat_id, target, role)
        assert response.status_code == 403 and code_of(response) == "not_admin"
    channel = await get_chat(harness, bita, chat_id)
    assert channel["title"] == "Daily News" and channel["role"] == "subscriber"
    # Someone who is not subscribed at all cannot either.
    dara = await harness.sign_in(DARA, "Dara")
    response = await harness.http.patch(
        f"/v1/chats/{chat_id}", json={"title": "x"}, headers=dara.headers
    )
    assert response.status_code in {403, 404}
    assert (await get_chat(harness, dara, chat_id))["title"] == "Daily News"


async def test_admins_change_title_and_description_without_telling_every_subscriber(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    chat_id = await create_channel(harness, sara, description="old")
    await subscribe(harness, chat_id, bita, cyrus)
    bita_seq = await last_update_seq(harness, bita)
    response = await set_role(harness, sara, chat_id, bita, "admin")
    assert response.status_code == 204
    cyrus_seq = await last_update_seq(harness, cyrus)
    response = await harness.http.patch(
        f"/v1/chats/{chat_id}",
        json={"title": "Evening News", "description": "new"},
        headers=bita.headers,
    )
    assert response.status_code == 204, response.text
    channel = await get_chat(harness, cyrus, chat_id)
    assert (channel["title"], channel["description"]) == ("Evening News", "new")
    assert await updates_since(harness, cyrus, cyrus_seq) == []
    # Bita was told of her new role (and of her own change, on her other devices).
    kinds = [u["kind"] for u in await updates_since(harness, bita, bita_seq)]
    assert kinds[0] == "member_role" and "chat_updated" in kinds
    # null clears the description; leaving it out keeps it.
    await harness.http.patch(f"/v1/chats/{chat_id}", json={"muted": True}, headers=bita.headers)
    assert (await get_chat(harness, cyrus, chat_id))["description"] == "new"
    await harness.http.patch(
        f"/v1/chats/{chat_id}", json={"description": None}, headers=bita.headers
    )
    assert (await get_chat(harness, cyrus, chat_id))["description"] is None
    response = await harness.http.patch(
        f"/v1/chats/{chat_id}", json={"description": "x" * 256}, headers=bita.headers
    )
    assert code_of(response) == "description_too_long"
    # A group has no description.
    group_id = await create_group(harness, sara, bita)
    response = await harness.http.patch(
        f"/v1/chats/{group_id}", json={"description": "x"}, headers=sara.headers
    )
    assert response.status_code == 422 and code_of(response) == "not_a_channel"


async def test_roles_in_a_channel_are_owner_admin_or_subscriber(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    dara = await harness.sign_in(DARA, "Dara")
    chat_id = await create_channel(harness, sara)
    await subscribe(harness, chat_id, bita, cyrus)
    response = await set_role(harness, sara, chat_id, bita, "member")
    assert response.status_code == 422 and code_of(response) == "invalid_role"
    response = await set_role(harness, sara, chat_id, dara, "admin")  # not subscribed
    assert response.status_code == 404 and code_of(response) == "member_not_found"
    cyrus_seq = await last_update_seq(harness, cyrus)
    assert (await set_role(harness, sara, chat_id, bita, "admin")).status_code == 204
    assert (await get_chat(harness, bita, chat_id))["role"] == "admin"
    # An admin does not change roles; the owner demotes.
    response = await set_role(harness, bita, chat_id, cyrus, "admin")
    assert response.status_code == 403 and code_of(response) == "not_owner"
    assert (await set_role(harness, sara, chat_id, bita, "subscriber")).status_code == 204
    assert (await get_chat(harness, bita, chat_id))["role"] == "subscriber"
    assert await updates_since(harness, cyrus, cyrus_seq) == []
    # In a group, "subscriber" is no role.
    group_id = await create_group(harness, sara, bita)
    response = await set_role(harness, sara, group_id, bita, "subscriber")
    assert response.status_code == 422 and code_of(response) == "invalid_role"


async def test_the_owner_hands_over_with_the_owner_role(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    chat_id = await create_channel(harness, sara)
    await subscribe(harness, chat_id, bita)
    assert (await set_role(harness, sara, chat_id, bita, "owner")).status_code == 204
    assert (await get_chat(harness, bita, chat_id))["role"] == "owner"
    assert (await get_chat(harness, sara, chat_id))["role"] == "admin"
    # The new owner now decides: the old one can be made a subscriber, and can leave.
    assert (await set_role(harness, bita, chat_id, sara, "subscriber")).status_code == 204
    assert (await leave(harness, sara, chat_id)).status_code == 204


async def test_an_owner_leaving_hands_the_channel_to_the_oldest_admin(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    dara = await harness.sign_in(DARA, "Dara")
    chat_id = await create_channel(harness, sara)
    await subscribe(harness, chat_id, bita)  # the oldest subscriber, never an admin
    harness.clock.advance(10)
    await subscribe(harness, chat_id, cyrus)
    harness.clock.advance(10)
    await subscribe(harness, chat_id, dara)
    for admin in (dara, cyrus):  # promoted newest first: age counts from joining
        assert (await set_role(harness, sara, chat_id, admin, "admin")).status_code == 204
    dara_seq = await last_update_seq(harness, dara)
    bita_seq = await last_update_seq(harness, bita)
    assert (await leave(harness, sara, chat_id)).status_code == 204
    assert (await get_chat(harness, cyrus, chat_id))["role"] == "owner"
    assert (await get_chat(harness, dara, chat_id))["role"] == "admin"
    assert (await get_chat(harness, sara, chat_id))["subscribed"] is False
    assert await updates_since(harness, dara, dara_seq) == []
    assert await updates_since(harness, bita, bita_seq) == []
    assert (await get_chat(harness, cyrus, chat_id))["subscriber_count"] == 3


async def test_an_owner_without_admins_must_hand_over_or_delete(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    chat_id = await create_channel(harness, sara)
    await subscribe(harness, chat_id, bita)
    response = await leave(harness, sara, chat_id)
    assert response.status_code == 409 and code_of(response) == "owner_must_hand_over"
    channel = await get_chat(harness, sara, chat_id)
    assert channel["role"] == "owner" and channel["subscriber_count"] == 2


# --- deleting ---------------------------------------------------------------------------------


async def test_the_owner_deletes_the_channel_and_its_posts_for_good(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    cyrus = await harness.sign_in(CYRUS, "Cyrus")
    chat_id = await create_channel(harness, sara, "Gone_Soon")
    await subscribe(harness, chat_id, bita, cyrus)
    assert (await set_role(harness, sara, chat_id, cyrus, "admin")).status_code == 204
    await send(harness, sara, chat_id, "a post that must vanish")
    for who in (bita, cyrus):  # only the owner deletes
        response = await leave(harness, who, chat_id, delete="true")
        assert response.status_code == 403 and code_of(response) == "not_owner"
    outsider = await harness.sign_in(DARA, "Dara")
    response = await leave(harness, outsider, chat_id, delete="true")
    assert response.status_code == 403
    bita_seq = await last_update_seq(harness, bita)

    assert (await leave(harness, sara, chat_id, delete="true")).status_code == 204
    told = await updates_since(harness, bita, bita_seq)
    assert [(u["kind"], u["chat_id"], u.get("deleted")) for u in told] == [
        ("chat_removed", chat_id, True)
    ]
    for who in (sara, bita, outsider):
        response = await harness.http.get(f"/v1/chats/{chat_id}", headers=who.headers)
        assert response.status_code == 404
    response = await harness.http.get("/v1/channels/gone_soon", headers=bita.headers)
    assert response.status_code == 404
    async with harness.services.db.read() as conn:
        left = await conn.scalar(select(func.count()).where(messages.c.chat_id == chat_id))
        members = await conn.scalar(select(func.count()).where(chat_members.c.chat_id == chat_id))
        stats = await conn.scalar(select(func.count()).where(channel_stats.c.chat_id == chat_id))
    assert (left, members, stats) == (0, 0, 0)
    # The handle is free again.
    await create_channel(harness, bita, "gone_soon")


async def test_deleting_a_channel_erases_its_photo_files(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    chat_id = await create_channel(harness, sara)
    response = await harness.http.put(
        f"/v1/chats/{chat_id}/photo",
        files={"file": ("p.png", png(), "image/png")},
        headers=sara.headers,
    )
    assert response.status_code == 200, response.text
    files = blob_files(harness)
    assert files
    assert (await leave(harness, sara, chat_id, delete="true")).status_code == 204
    for path in files:
        assert not path.exists()


async def test_every_subscriber_of_a_deleted_channel_is_told_once_in_several_transactions(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(channel_service, "TELL_CHUNK", 2)
    sara = await harness.sign_in(SARA, "Sara")
    readers = [await harness.sign_in(f"+98912555000{i}", f"Reader {i}") for i in range(5)]
    chat_id = await create_channel(harness, sara)
    await subscribe(harness, chat_id, *readers)
    seqs = [await last_update_seq(harness, r) for r in readers]
    assert (await leave(harness, sara, chat_id, delete="true")).status_code == 204
    for reader, seq in zip(readers, seqs, strict=True):
        told = await updates_since(harness, reader, seq)
        # The notice names nobody: readers never see the channel's staff.
        assert [(u["kind"], u["chat_id"], u.get("by")) for u in told] == [
            ("chat_removed", chat_id, None)
        ]


async def test_telling_a_deleted_channels_subscribers_skips_erased_accounts(
    harness: Harness,
) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    bita_seq = await last_update_seq(harness, bita)
    services = harness.services
    gone_user = bita.user_id + 1000  # an account erased after the deletion committed
    await channel_service.tell_deleted(
        services.db, services.updates, 77, [gone_user, bita.user_id], by=sara.user_id
    )
    told = await updates_since(harness, bita, bita_seq)
    assert [(u["kind"], u["chat_id"]) for u in told] == [("chat_removed", 77)]


# --- the group routes a channel refuses -------------------------------------------------------


async def test_member_routes_and_invite_links_are_refused_for_channels(harness: Harness) -> None:
    sara = await harness.sign_in(SARA, "Sara")
    bita = await harness.sign_in(BITA, "Bita")
    eran = await harness.sign_in(ERAN, "Eran")
    chat_id = await create_channel(harness, sara)
    await subscribe(harness, chat_id, bita)
    attempts = [
        harness.http.post(
            f"/v1/chats/{chat_id}/members",
            json={"user_ids": [eran.user_id]},
            headers=sara.headers,
        ),
        harness.http.delete(f"/v1/chats/{chat_id}/members/{bita.user_id}", headers=sara.headers),
        harness.http.post(f"/v1/chats/{chat_id}/invites", headers=sara.headers),
        harness.http.get(f"/v1/chats/{chat_id}/invites", headers=sara.headers),
        harness.http.delete(f"/v1/chats/{chat_id}/invites/abc", headers=sara.headers),
        harness.http.post(f"/v1/chats/{chat_id}/clear?for=everyone", headers=sara.headers),
    ]
    for attempt in attempts:
        response = await attempt
        assert response.status_code == 403, response.text
        assert code_of(response) == "not_for_channels"
    channel = await get_chat(harness, sara, chat_id)
    assert channel["subscriber_count"] == 2
    assert (await get_chat(harness, eran, chat_id))["subscribed"] is False
    # Removing yourself is leaving, as in a group.
    response = await harness.http.delete(
        f"/v1/chats/{chat_id}/members/{bita.user_id}", headers=bita.headers
    )
    assert response.status_code == 204
    assert (await get_chat(harness, bita, chat_id))["subscribed"] is False
