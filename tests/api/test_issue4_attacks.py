"""Issue #4 routes (channels, posts, views, statistics, media) as an attacker tries them.

Each test is one attempt to reach what the caller must not (P9.1: ids are checked against the
caller; P5.1: subscribers never see each other; P10.1: statistics name nobody) or to make a new
route answer 500 (P9.2), and asserts what the attacker actually gets back.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.api.channel_post_helpers import make_channel, post
from tests.api.message_helpers import delete, direct_chat, group_chat, people, send
from tests.api.test_media import PDF, code_of, fetch, mp4, uploaded
from tests.api.test_photos import jpeg_with_gps
from tests.conftest import Account, Harness, LiveServer
from tests.realtime.conftest import open_socket

INT64_MAX = 2**63 - 1


def error_code(response: httpx.Response) -> str:
    """The stable code of a 4xx answer (and never a 500)."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    code: str = response.json()["error"]["code"]
    return code


async def sent_id(harness: Harness, who: Account, chat_id: int, **extra: Any) -> int:
    response = await send(harness, who, chat_id, **extra)
    assert response.status_code == 201, response.text
    message_id: int = response.json()["id"]
    return message_id


async def posted(harness: Harness, who: Account, chat_id: int, **extra: Any) -> dict[str, Any]:
    response = await post(harness, who, chat_id, **extra)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def file_and_thumb(harness: Harness, who: Account, media_id: int) -> tuple[int, int]:
    return (
        (await fetch(harness, who, media_id)).status_code,
        (await fetch(harness, who, media_id, "/thumbnail")).status_code,
    )


async def history_of(harness: Harness, who: Account, chat_id: int) -> httpx.Response:
    return await harness.http.get(f"/v1/chats/{chat_id}/messages", headers=who.headers)


# --- media carried by messages of chats the caller is not in (any more) ---------------------


async def test_a_groups_photo_is_404_to_strangers_and_to_members_who_hid_cleared_or_left(
    harness: Harness,
) -> None:
    sara, omid, leila, reza, eve = await people(harness, "Sara", "Omid", "Leila", "Reza", "Eve")
    group = await group_chat(harness, sara, [omid, leila, reza])
    photo = await uploaded(harness, sara, jpeg_with_gps())
    message_id = await sent_id(harness, sara, group, text=None, media_ids=[photo["id"]])
    for member in (sara, omid, leila, reza):
        assert await file_and_thumb(harness, member, photo["id"]) == (200, 200)
    # A stranger, with or without a Range header, is told the file does not exist.
    assert await file_and_thumb(harness, eve, photo["id"]) == (404, 404)
    ranged = await fetch(harness, eve, photo["id"], Range="bytes=0-10")
    assert (ranged.status_code, code_of(ranged)) == (404, "media_not_found")
    # Omid hides the message for himself, Leila clears her history, Reza leaves.
    assert (await delete(harness, omid, group, message_id, "me")).status_code == 204
    cleared = await harness.http.post(f"/v1/chats/{group}/clear", headers=leila.headers)
    assert cleared.status_code == 204, cleared.text
    left = await harness.http.delete(f"/v1/chats/{group}", headers=reza.headers)
    assert left.status_code == 204, left.text
    for gone in (omid, leila, reza):
        assert await file_and_thumb(harness, gone, photo["id"]) == (404, 404)
        answer = await fetch(harness, gone, photo["id"])
        assert code_of(answer) == "media_not_found"
    # What the others did for themselves changed nothing for the sender.
    assert await file_and_thumb(harness, sara, photo["id"]) == (200, 200)


async def test_a_direct_chats_file_is_404_to_a_third_user_even_through_a_forward_attempt(
    harness: Harness,
) -> None:
    sara, omid, eve, leila = await people(harness, "Sara", "Omid", "Eve", "Leila")
    private = await direct_chat(harness, sara, omid)
    doc = await uploaded(harness, sara, PDF)
    message_id = await sent_id(harness, sara, private, text=None, media_ids=[doc["id"]])
    assert (await fetch(harness, omid, doc["id"])).status_code == 200
    assert (await fetch(harness, eve, doc["id"])).status_code == 404
    # Eve forwards the message she cannot see into her own chat, and into her own channel.
    eves_chat = await direct_chat(harness, eve, leila)
    eves_channel = await make_channel(harness, eve)
    for target in (eves_chat, eves_channel):
        response = await send(harness, eve, target, None, forward_of=message_id)
        assert (response.status_code, code_of(response)) == (404, "message_not_found")
        assert (await history_of(harness, eve, target)).json()["messages"] == []
    # Nor may she attach Sara's upload to her own message or post.
    for target in (eves_chat, eves_channel):
        response = await send(harness, eve, target, "mine", media_ids=[doc["id"]])
        assert (response.status_code, code_of(response)) == (404, "media_not_found")
    assert (await fetch(harness, eve, doc["id"])).status_code == 404
    assert (await fetch(harness, leila, doc["id"])).status_code == 404


async def test_a_message_one_no_longer_sees_cannot_be_forwarded_to_get_its_file(
    harness: Harness,
) -> None:
    sara, omid, leila, reza = await people(harness, "Sara", "Omid", "Leila", "Reza")
    group = await group_chat(harness, sara, [omid, leila])
    doc = await uploaded(harness, sara, PDF)
    message_id = await sent_id(harness, sara, group, text="minutes", media_ids=[doc["id"]])
    assert (await delete(harness, omid, group, message_id, "me")).status_code == 204
    left = await harness.http.delete(f"/v1/chats/{group}", headers=leila.headers)
    assert left.status_code == 204
    for who in (omid, leila):
        outside = await direct_chat(harness, who, reza)
        response = await send(harness, who, outside, None, forward_of=message_id)
        assert (response.status_code, code_of(response)) == (404, "message_not_found")
        assert (await fetch(harness, reza, doc["id"])).status_code == 404


async def test_a_message_deleted_for_everyone_takes_its_file_from_everyone(
    harness: Harness,
) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    group = await group_chat(harness, sara, [omid])
    photo = await uploaded(harness, sara, jpeg_with_gps())
    message_id = await sent_id(harness, sara, group, text=None, media_ids=[photo["id"]])
    assert (await delete(harness, sara, group, message_id, "everyone")).status_code == 204
    for who in (sara, omid):
        assert await file_and_thumb(harness, who, photo["id"]) == (404, 404)
    # The freed id cannot be attached again either.
    response = await send(harness, sara, group, "again", media_ids=[photo["id"]])
    assert (response.status_code, code_of(response)) == (404, "media_not_found")


async def test_only_images_have_a_thumbnail(harness: Harness) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await direct_chat(harness, sara, omid)
    doc = await uploaded(harness, sara, PDF)
    video = await uploaded(harness, sara, mp4(), content_type="video/mp4")
    await sent_id(harness, sara, chat, text=None, media_ids=[doc["id"], video["id"]])
    for item in (doc, video):
        assert item["thumbnail_url"] is None
        for who in (sara, omid):
            assert (await fetch(harness, who, item["id"])).status_code == 200
            thumb = await fetch(harness, who, item["id"], "/thumbnail")
            assert (thumb.status_code, code_of(thumb)) == (404, "media_not_found")


# --- channel posts and their media ----------------------------------------------------------


async def test_a_refused_post_does_not_make_an_upload_public(harness: Harness) -> None:
    owner, reader, eve = await people(harness, "Owner", "Reader", "Eve")
    channel = await make_channel(harness, owner, subscribers=[reader])
    mine = await uploaded(harness, reader, PDF)
    theirs = await uploaded(harness, eve, PDF + b"eve")
    # A subscriber posts their own file; the owner posts someone else's.
    refused = await post(harness, reader, channel, None, media_ids=[mine["id"]])
    assert (refused.status_code, code_of(refused)) == (403, "not_admin")
    stolen = await post(harness, owner, channel, None, media_ids=[theirs["id"]])
    assert (stolen.status_code, code_of(stolen)) == (404, "media_not_found")
    assert (await history_of(harness, eve, channel)).json()["messages"] == []
    assert (await fetch(harness, eve, mine["id"])).status_code == 404
    assert (await fetch(harness, owner, mine["id"])).status_code == 404
    assert (await fetch(harness, owner, theirs["id"])).status_code == 404


async def test_a_deleted_posts_file_is_gone_for_readers_but_kept_by_a_private_forward(
    harness: Harness,
) -> None:
    owner, omid, leila, eve = await people(harness, "Owner", "Omid", "Leila", "Eve")
    channel = await make_channel(harness, owner)
    doc = await uploaded(harness, owner, PDF)
    item = await posted(harness, owner, channel, text=None, media_ids=[doc["id"]])
    assert (await fetch(harness, eve, doc["id"])).status_code == 200  # channels are public
    group = await group_chat(harness, omid, [leila])
    copy = await send(harness, omid, group, None, forward_of=item["id"])
    assert copy.status_code == 201, copy.text
    assert (await delete(harness, owner, channel, item["id"], "everyone")).status_code == 204
    gone = await fetch(harness, eve, doc["id"])
    assert (gone.status_code, code_of(gone)) == (404, "media_not_found")
    # The deleted post cannot be forwarded again to bring the file back.
    again = await send(
        harness, eve, await direct_chat(harness, eve, omid), None, forward_of=item["id"]
    )
    assert (again.status_code, code_of(again)) == (404, "message_not_found")
    assert (await fetch(harness, eve, doc["id"])).status_code == 404
    # The group's copy still carries it, for the group's members alone.
    assert (await fetch(harness, leila, doc["id"])).status_code == 200
    assert (await fetch(harness, eve, doc["id"], "/thumbnail")).status_code == 404


async def test_subscribers_and_strangers_cannot_change_an_admins_posts(harness: Harness) -> None:
    owner, admin, reader, eve = await people(harness, "Owner", "Admin", "Reader", "Eve")
    channel = await make_channel(harness, owner, admins=[admin], subscribers=[reader])
    item = await posted(harness, owner, channel, text="original")
    url = f"/v1/chats/{channel}/messages/{item['id']}"
    edits = [(reader, 403, "not_author"), (admin, 403, "not_author"), (eve, 404, None)]
    for who, status, code in edits:
        response = await harness.http.patch(url, json={"text": "defaced"}, headers=who.headers)
        assert response.status_code == status, response.text
        assert code is None or code_of(response) == code
    refused = await delete(harness, reader, channel, item["id"], "everyone")
    assert (refused.status_code, code_of(refused)) == (403, "not_allowed")
    stranger = await delete(harness, eve, channel, item["id"], "everyone")
    assert (stranger.status_code, code_of(stranger)) == (404, "message_not_found")
    [seen] = (await history_of(harness, eve, channel)).json()["messages"]
    assert (seen["text"], seen["deleted"], seen["edited"]) == ("original", False, False)
    # A post's id sent through another chat's id reaches nothing either.
    group = await group_chat(harness, reader, [eve])
    elsewhere = f"/v1/chats/{group}/messages/{item['id']}"
    response = await harness.http.patch(elsewhere, json={"text": "x"}, headers=reader.headers)
    assert (response.status_code, code_of(response)) == (404, "message_not_found")
    response = await harness.http.delete(
        elsewhere, params={"for": "everyone"}, headers=reader.headers
    )
    assert (response.status_code, code_of(response)) == (404, "message_not_found")
    # An admin (not the author) may delete it for everyone, as the docs say.
    assert (await delete(harness, admin, channel, item["id"], "everyone")).status_code == 204


async def test_a_socket_send_to_a_channel_by_a_subscriber_stores_nothing(
    live_server: LiveServer,
) -> None:
    harness = live_server.harness
    owner, reader, eve = await people(harness, "Owner", "Reader", "Eve")
    channel = await make_channel(harness, owner, subscribers=[reader])
    theirs = await uploaded(harness, owner, PDF)
    mine = await uploaded(harness, reader, PDF + b"r")
    async with open_socket(live_server, reader.token) as sock:
        attempts = [
            ({"text": "hi"}, "not_admin"),
            ({"media_ids": [mine["id"]]}, "not_admin"),
            ({"media_ids": [theirs["id"]]}, "not_admin"),
            ({"media_ids": [{"id": theirs["id"]}]}, "invalid_media_ids"),
            ({"media_ids": list(range(1, 10_001))}, "too_many_media"),
            ({"media_ids": [2**63]}, "invalid_media_ids"),
            ({"media_ids": [True]}, "invalid_media_ids"),
        ]
        for n, (extra, expected) in enumerate(attempts):
            await sock.send(type="send", chat_id=channel, client_id=f"ws-{n}", **extra)
            error = await sock.next("error")
            assert error["error"]["code"] == expected, (extra, error)
    assert (await history_of(harness, eve, channel)).json()["messages"] == []
    assert (await fetch(harness, eve, mine["id"])).status_code == 404


# --- joining, member routes and what subscribers see of each other -------------------------


async def test_join_does_not_open_groups_or_direct_chats(harness: Harness) -> None:
    sara, omid, eve = await people(harness, "Sara", "Omid", "Eve")
    group = await group_chat(harness, sara, [omid])
    private = await direct_chat(harness, sara, omid)
    for chat_id in (group, private, group + private + 1000, INT64_MAX):
        joined = await harness.http.post(f"/v1/chats/{chat_id}/join", headers=eve.headers)
        assert (joined.status_code, code_of(joined)) == (404, "chat_not_found")
    for chat_id in (group, private):
        assert (
            await harness.http.get(f"/v1/chats/{chat_id}", headers=eve.headers)
        ).status_code == 404
        assert (await history_of(harness, eve, chat_id)).status_code == 404
    members = (await harness.http.get(f"/v1/chats/{group}", headers=sara.headers)).json()["members"]
    assert sorted(m["user_id"] for m in members) == sorted([sara.user_id, omid.user_id])


async def test_no_answer_shows_a_subscriber_to_another(harness: Harness) -> None:
    owner, admin, ann, bob, eve = await people(harness, "Owner", "Admin", "Ann", "Bob", "Eve")
    channel = await make_channel(harness, owner, admins=[admin])
    joined = await harness.http.post(f"/v1/chats/{channel}/join", headers=ann.headers)
    assert joined.status_code == 200, joined.text
    await posted(harness, owner, channel, text="first")
    before = await harness.http.get("/v1/updates", headers=ann.headers)
    after = before.json()["last_seq"]
    # Bob joins, reads, tries typing-free routes, and leaves: Ann hears none of it.
    assert (
        await harness.http.post(f"/v1/chats/{channel}/join", headers=bob.headers)
    ).status_code == 200
    read = await harness.http.post(
        f"/v1/chats/{channel}/read", json={"seq": 1}, headers=bob.headers
    )
    assert read.status_code == 200, read.text
    quiet = await harness.http.get("/v1/updates", params={"after": after}, headers=ann.headers)
    assert quiet.json()["updates"] == []
    # No view of the channel, for anyone, lists members; only the owner sees the staff.
    views = {
        "ann": await harness.http.get(f"/v1/chats/{channel}", headers=ann.headers),
        "admin": await harness.http.get(f"/v1/chats/{channel}", headers=admin.headers),
        "eve": await harness.http.get(f"/v1/chats/{channel}", headers=eve.headers),
        "owner": await harness.http.get(f"/v1/chats/{channel}", headers=owner.headers),
    }
    for name, response in views.items():
        body = response.json()
        assert response.status_code == 200 and "members" not in body, name
        assert ("admins" in body) == (name == "owner"), name
    staff = {a["user_id"] for a in views["owner"].json()["admins"]}
    assert staff == {owner.user_id, admin.user_id}
    listed = await harness.http.get("/v1/chats", headers=ann.headers)
    [entry] = [c for c in listed.json() if c["id"] == channel]
    assert "members" not in entry and "admins" not in entry
    # Ann's read marker is hers: history shows no one else's.
    for message in (await history_of(harness, ann, channel)).json()["messages"]:
        assert message["sender_id"] is None
    # Ann's export names no other subscriber or admin.
    export = await harness.http.get("/v1/me/export", headers=ann.headers)
    assert export.status_code == 200
    data = json.loads(zipfile.ZipFile(io.BytesIO(export.content)).read("export.json"))
    [mine] = [c for c in data["chats"] if c["chat"]["id"] == channel]
    dumped = json.dumps(mine)
    for other in (bob, owner, admin):
        assert other.phone not in dumped
    assert f'"user_id": {bob.user_id},' not in dumped


async def test_member_routes_refuse_channels_and_change_nothing(harness: Harness) -> None:
    owner, reader, eve = await people(harness, "Owner", "Reader", "Eve")
    channel = await make_channel(harness, owner, subscribers=[reader])
    base = f"/v1/chats/{channel}"
    attempts = [
        ("POST", f"{base}/members", {"user_ids": [eve.user_id]}, owner),
        ("DELETE", f"{base}/members/{reader.user_id}", None, owner),
        ("DELETE", f"{base}/members/{owner.user_id}", None, reader),
        ("POST", f"{base}/invites", None, owner),
        ("GET", f"{base}/invites", None, owner),
        ("POST", f"{base}/clear?for=everyone", None, owner),
    ]
    for method, url, body, who in attempts:
        response = await harness.http.request(method, url, json=body, headers=who.headers)
        assert (response.status_code, error_code(response)) == (403, "not_for_channels"), url
    # A stranger is not a member, and cannot make themself one through these doors.
    added = await harness.http.post(
        f"{base}/members", json={"user_ids": [eve.user_id]}, headers=eve.headers
    )
    assert added.status_code in {403, 404}, added.text
    role = await harness.http.put(
        f"{base}/members/{eve.user_id}/role", json={"role": "admin"}, headers=reader.headers
    )
    assert (role.status_code, code_of(role)) == (403, "not_admin")
    described = await harness.http.get(base, headers=eve.headers)
    assert described.json()["subscribed"] is False
    assert described.json()["subscriber_count"] == 2
    refused = await post(harness, eve, channel, "let me in")
    assert (refused.status_code, code_of(refused)) == (403, "not_admin")


# --- views and statistics --------------------------------------------------------------------


async def views_of(harness: Harness, who: Account, chat_id: int) -> dict[int, int]:
    response = await history_of(harness, who, chat_id)
    return {m["id"]: m.get("views") for m in response.json()["messages"]}


async def test_views_count_only_this_channels_posts(harness: Harness) -> None:
    owner, other, sara, omid, eve = await people(harness, "Owner", "Other", "Sara", "Omid", "Eve")
    mine = await make_channel(harness, owner)
    theirs = await make_channel(harness, other)
    own_post = (await posted(harness, owner, mine, text="a"))["id"]
    their_post = (await posted(harness, other, theirs, text="b"))["id"]
    group = await group_chat(harness, sara, [omid])
    group_message = await sent_id(harness, sara, group, text="private")
    url = f"/v1/chats/{mine}/views"
    response = await harness.http.post(
        url, json={"message_ids": [their_post, group_message]}, headers=eve.headers
    )
    assert response.json() == {"views": {}}
    # Through the group's own id, a stranger and a member both get 404.
    for who in (eve, omid):
        response = await harness.http.post(
            f"/v1/chats/{group}/views", json={"message_ids": [group_message]}, headers=who.headers
        )
        assert (response.status_code, code_of(response)) == (404, "chat_not_found")
    response = await harness.http.post(
        url, json={"message_ids": [own_post, their_post, group_message]}, headers=eve.headers
    )
    assert response.json() == {"views": {str(own_post): 1}}
    assert await views_of(harness, eve, theirs) == {their_post: 0}
    assert "views" not in (await history_of(harness, sara, group)).json()["messages"][0]


async def test_statistics_are_for_a_channels_admins_only(harness: Harness) -> None:
    owner, admin, reader, eve = await people(harness, "Owner", "Admin", "Reader", "Eve")
    channel = await make_channel(harness, owner, admins=[admin], subscribers=[reader])
    group = await group_chat(harness, reader, [eve])
    private = await direct_chat(harness, reader, eve)
    for who in (owner, admin):
        response = await harness.http.get(f"/v1/chats/{channel}/stats", headers=who.headers)
        assert response.status_code == 200, response.text
    for who in (reader, eve):
        response = await harness.http.get(f"/v1/chats/{channel}/stats", headers=who.headers)
        assert (response.status_code, code_of(response)) == (403, "not_admin")
    for chat_id in (group, private, channel + 10_000):
        response = await harness.http.get(f"/v1/chats/{chat_id}/stats", headers=reader.headers)
        assert (response.status_code, code_of(response)) == (404, "chat_not_found")
    for days in ("0", "91", "-1", "abc", str(INT64_MAX + 1), "1.5", "", "\u0663"):
        response = await harness.http.get(
            f"/v1/chats/{channel}/stats", params={"days": days}, headers=owner.headers
        )
        assert response.status_code == 422, (days, response.text)
        error_code(response)


async def test_a_few_viewers_are_named_by_no_cell(harness: Harness) -> None:
    """Three viewers from one country on one OS: the closed day shows nothing about them."""
    owner, *readers = await people(harness, "Owner", "A", "B", "C")
    channel = await make_channel(harness, owner, subscribers=readers)
    item = await posted(harness, owner, channel, text="post")
    for reader in readers:
        response = await harness.http.post(
            f"/v1/chats/{channel}/views", json={"message_ids": [item["id"]]}, headers=reader.headers
        )
        assert response.status_code == 200, response.text
    harness.clock.advance(86400)
    report = await harness.http.get(f"/v1/chats/{channel}/stats?days=1", headers=owner.headers)
    assert report.status_code == 200, report.text
    [day] = report.json()["daily"]
    assert day["reach"] is None and day["views"] is None
    for breakdown in day["viewers"].values():
        assert breakdown == {"total": None, "cells": None, "other": None}
    viewers = report.json()["viewers"]
    assert viewers["viewer_days"] == 0
    assert all(b["cells"] in ({}, None) for k, b in viewers.items() if k.startswith("by_"))
    # The public counter is public: it is the post's, not a person's.
    assert report.json()["posts"][0]["views"] == 3


# --- malformed input to the new routes ---------------------------------------------------------

# (Pydantic's lax mode, used by every body of the API, reads "1", 1.0 and true as the id 1.)
BAD_ID_LISTS: list[Any] = [
    ["abc"],
    [-1],
    [0],
    [2**63],
    [INT64_MAX + 10**30],
    [1.5],
    ["1e3"],
    [None],
    [[1]],
    [{"id": 1}],
    list(range(1, 10_001)),
    [],
    "1,2",
    {"1": 1},
    None,
    10**400,
]


@pytest.fixture
async def unlimited(make_harness: Any) -> Harness:
    started: Harness = await make_harness(rate_limits="off")
    return started


async def test_bad_id_lists_are_4xx_on_views_and_sends(unlimited: Harness) -> None:
    harness = unlimited
    owner, eve = await people(harness, "Owner", "Eve")
    channel = await make_channel(harness, owner)
    chat = await direct_chat(harness, owner, eve)
    for n, ids in enumerate(BAD_ID_LISTS):
        views = await harness.http.post(
            f"/v1/chats/{channel}/views", json={"message_ids": ids}, headers=eve.headers
        )
        assert views.status_code == 422, (ids, views.text)
        error_code(views)
        if ids in ([], None):
            continue  # no media is a valid send
        sent = await harness.http.post(
            f"/v1/chats/{chat}/messages",
            json={"client_id": f"bad-{n}", "text": "x", "media_ids": ids},
            headers=eve.headers,
        )
        assert sent.status_code == 422, (ids, sent.text)
        error_code(sent)
    # Nested objects, extra keys and raw junk as the whole body.
    for raw in (b"[]", b'{"message_ids": [1], "x": 1}', b"\xff\xfe", b"{" * 10_000, b"1e999"):
        response = await harness.http.post(
            f"/v1/chats/{channel}/views",
            content=raw,
            headers={**eve.headers, "content-type": "application/json"},
        )
        assert response.status_code in {400, 413, 422}, (raw[:20], response.text)
        error_code(response)
    assert await views_of(harness, eve, channel) == {}


async def test_bad_path_ids_on_the_new_routes_are_4xx(unlimited: Harness) -> None:
    harness = unlimited
    [eve] = await people(harness, "Eve")
    paths = ["/v1/chats/{}/join", "/v1/chats/{}/views", "/v1/chats/{}/stats", "/v1/media/{}"]
    for raw in ("-1", "0", str(INT64_MAX), str(2**63), "9" * 400, "1e3", "%F0%9F%98%80", "\u0661"):
        for template in paths:
            url = template.format(raw)
            if template.endswith("views"):
                response = await harness.http.post(
                    url, json={"message_ids": [1]}, headers=eve.headers
                )
            elif template.endswith("join"):
                response = await harness.http.post(url, headers=eve.headers)
            else:
                response = await harness.http.get(url, headers=eve.headers)
            assert 400 <= response.status_code < 500, (url, response.text)
            error_code(response)
        thumb = await harness.http.get(f"/v1/media/{raw}/thumbnail", headers=eve.headers)
        error_code(thumb)


async def test_handles_find_only_their_ascii_spelling(unlimited: Harness) -> None:
    harness = unlimited
    owner, eve = await people(harness, "Owner", "Eve")
    created = await harness.http.post(
        "/v1/chats",
        json={"type": "channel", "title": "News", "handle": "newsk"},
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    assert (await harness.http.get("/v1/channels/NewsK", headers=eve.headers)).status_code == 200
    lookalikes = [
        "news\u212a",  # KELVIN SIGN, which lower-cases to an ASCII k
        "n\u0435wsk",  # Cyrillic e
        "\uff4e\uff45\uff57\uff53\uff4b",  # full-width
        " newsk",
        "newsk ",
        "newsk\n",
        "news\u200bk",  # zero-width space
        "newsk" + "\u0301",
        "x" * 5000,
    ]
    for handle in lookalikes:
        found = await harness.http.get(f"/v1/channels/{quote(handle)}", headers=eve.headers)
        assert (found.status_code, error_code(found)) == (404, "channel_not_found"), handle
        made = await harness.http.post(
            "/v1/chats",
            json={"type": "channel", "title": "Fake", "handle": handle + "x"},
            headers=eve.headers,
        )
        assert made.status_code == 422, (handle, made.text)
        assert len(handle) > 64 or error_code(made) == "invalid_handle"
    for q in ("\u212a", "%40%00", "%25", "_", "%40" * 65, "%ED%A0%80", "%FF"):
        searched = await harness.http.get(f"/v1/channels?q={q}", headers=eve.headers)
        assert searched.status_code < 500, (q, searched.text)


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("bytes=abc", 400),
        ("bytes=5-1", 400),
        ("bytes=", 400),
        ("items=0-1", 400),
        ("bytes=-0", 416),
        ("bytes=99999999999999999999999999-", 416),
        ("bytes=0-99999999999999999999999999", 206),
        ("bytes=-99999999999999999999999999", 206),
        ("bytes=" + ",".join(f"{i}-{i}" for i in range(0, 4000, 2)), None),
        # Past Starlette's limit on ranges, the header is ignored: the whole file, once.
        ("bytes=" + ",".join(["0-"] * 500), 200),
        ("bytes=" + "9" * 5000 + "-", 400),
        ("bytes=\u0661-\u0662", None),
        ("bytes=0-1\x00", None),
    ],
)
async def test_odd_range_headers_are_answered_without_a_500(
    harness: Harness, header: str, status: int | None
) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await direct_chat(harness, sara, omid)
    data = mp4(b"RANGE-TEST" * 300)
    video = await uploaded(harness, sara, data, content_type="video/mp4")
    await sent_id(harness, sara, chat, text=None, media_ids=[video["id"]])
    # Sent as its UTF-8 bytes: an HTTP client may send any octets in a header.
    ranged = {"Range": header.encode()}
    try:
        response = await harness.http.get(
            f"/v1/media/{video['id']}", headers={**omid.headers, **ranged}
        )
    except httpx.LocalProtocolError:
        return  # the client itself refuses to send such a header: nothing reached the server
    assert response.status_code < 500, (header, response.text)
    if status is not None:
        assert response.status_code == status, (header, response.status_code)
    if response.status_code >= 400:
        assert response.json()["error"]["code"] in {"invalid_range", "range_not_satisfiable"}
    if response.status_code == 200:
        assert response.content == data
    if response.status_code == 206 and "multipart" not in response.headers["content-type"]:
        start, _, end = (
            response.headers["content-range"].split()[1].partition("/")[0].partition("-")
        )
        assert response.content == data[int(start) : int(end) + 1]
    # Whatever the header, a stranger learns nothing more than that there is no such file.
    [eve] = await people(harness, "Eve")
    stranger = await harness.http.get(f"/v1/media/{video['id']}", headers={**eve.headers, **ranged})
    assert (stranger.status_code, code_of(stranger)) == (404, "media_not_found")


async def test_the_owner_cannot_test_quietly_whether_someone_subscribes(harness: Harness) -> None:
    """The owner sees the staff, never the subscribers (P5.1): a role request that changes
    nothing (a subscriber made a subscriber) answers as it does for someone not subscribed, so
    walking user ids through it lists nobody."""
    owner, admin, reader, eve = await people(harness, "Owner", "Admin", "Reader", "Eve")
    channel = await make_channel(harness, owner, admins=[admin], subscribers=[reader])
    answers = []
    for who in (reader, eve):
        response = await harness.http.put(
            f"/v1/chats/{channel}/members/{who.user_id}/role",
            json={"role": "subscriber"},
            headers=owner.headers,
        )
        answers.append((response.status_code, error_code(response)))
    assert answers == [(404, "member_not_found")] * 2
    # Demoting an admin, whom the owner does see, still works.
    demoted = await harness.http.put(
        f"/v1/chats/{channel}/members/{admin.user_id}/role",
        json={"role": "subscriber"},
        headers=owner.headers,
    )
    assert demoted.status_code == 204, demoted.text
    described = await harness.http.get(f"/v1/chats/{channel}", headers=admin.headers)
    assert described.json()["role"] == "subscriber"


async def test_a_subscribers_export_does_not_name_who_made_the_channel(harness: Harness) -> None:
    """The channel speaks for itself: readers never see its staff (P5.1), and a subscriber's
    export (P11.1) is their data, not a way round that."""
    owner, reader = await people(harness, "Owner", "Reader")
    created = await harness.http.post(
        "/v1/chats",
        json={"type": "channel", "title": "News", "handle": "quiet_news"},
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    channel = created.json()["id"]
    assert (await harness.http.post(f"/v1/chats/{channel}/join", headers=reader.headers)).is_success
    export = await harness.http.get("/v1/me/export", headers=reader.headers)
    assert export.status_code == 200
    data = json.loads(zipfile.ZipFile(io.BytesIO(export.content)).read("export.json"))
    [entry] = [c for c in data["chats"] if c["chat"]["id"] == channel]
    assert entry["chat"]["created_by"] is None, entry["chat"]
    assert entry["chat"]["handle"] == "quiet_news"
    # The owner's own export still says they made it.
    mine = await harness.http.get("/v1/me/export", headers=owner.headers)
    owned = json.loads(zipfile.ZipFile(io.BytesIO(mine.content)).read("export.json"))
    [entry] = [c for c in owned["chats"] if c["chat"]["id"] == channel]
    assert entry["chat"]["created_by"] == owner.user_id


async def test_subscribing_to_a_channel_shows_nobody_elses_profile(harness: Harness) -> None:
    """Sharing a channel is not sharing a chat (P3.2, P5.1): otherwise anyone could subscribe
    and walk user ids through GET /v1/users/{id}, and whoever answered with a name would be a
    subscriber (or the owner)."""
    owner, reader, eve = await people(harness, "Owner", "Reader", "Eve")
    channel = await make_channel(harness, owner, subscribers=[reader])
    photo = await harness.http.put(
        "/v1/me/photo",
        files={"file": ("me.jpg", jpeg_with_gps(), "image/jpeg")},
        headers=reader.headers,
    )
    assert photo.status_code == 200, photo.text

    async def seen_by_eve(who: Account) -> tuple[dict[str, Any], int]:
        profile = await harness.http.get(f"/v1/users/{who.user_id}", headers=eve.headers)
        picture = await harness.http.get(f"/v1/users/{who.user_id}/photo", headers=eve.headers)
        return profile.json(), picture.status_code

    assert await seen_by_eve(reader) == ({"id": reader.user_id}, 404)
    assert (await harness.http.post(f"/v1/chats/{channel}/join", headers=eve.headers)).is_success
    for who in (reader, owner):
        assert await seen_by_eve(who) == ({"id": who.user_id}, 404)
    # A group still counts once the reader speaks in it (being put there by Eve does not:
    # issue 9, P3.2): then Eve and the reader in one group see each other's names.
    group = await group_chat(harness, eve, [reader])
    assert await seen_by_eve(reader) == ({"id": reader.user_id}, 404)
    said = await harness.http.post(
        f"/v1/chats/{group}/messages",
        json={"client_id": "r1", "text": "hi"},
        headers=reader.headers,
    )
    assert said.status_code == 201, said.text
    profile, picture = await seen_by_eve(reader)
    assert (profile.get("name"), picture) == ("Reader", 200)


async def test_a_deleted_channels_notice_does_not_name_its_owner(harness: Harness) -> None:
    owner, admin, reader = await people(harness, "Owner", "Admin", "Reader")
    channel = await make_channel(harness, owner, admins=[admin], subscribers=[reader])
    after = {
        who.user_id: (await harness.http.get("/v1/updates", headers=who.headers)).json()["last_seq"]
        for who in (admin, reader)
    }
    deleted = await harness.http.delete(
        f"/v1/chats/{channel}", params={"delete": "true"}, headers=owner.headers
    )
    assert deleted.status_code == 204, deleted.text
    for who in (admin, reader):
        response = await harness.http.get(
            "/v1/updates", params={"after": after[who.user_id]}, headers=who.headers
        )
        [told] = response.json()["updates"]
        assert (told["kind"], told["chat_id"], told["deleted"]) == ("chat_removed", channel, True)
        assert told.get("by") is None, told


@pytest.mark.parametrize(
    "hostile", ["\x00", "\ud800", "\u202e", "a\u0000b", "\ufeff", "\U0010ffff", "%00", "'; --"]
)
async def test_hostile_strings_in_channel_fields_are_refused_or_stored_as_sent(
    unlimited: Harness, hostile: str
) -> None:
    harness = unlimited
    [owner] = await people(harness, "Owner")
    body = {
        "type": "channel",
        "title": f"T{hostile}",
        "handle": "hostile_ok",
        "description": hostile,
    }
    raw = json.dumps(body)  # \ud800 travels as its JSON escape, as a client could send it
    made = await harness.http.post(
        "/v1/chats", content=raw, headers={**owner.headers, "content-type": "application/json"}
    )
    assert made.status_code < 500, made.text
    if made.status_code >= 400:
        error_code(made)
        return
    channel = made.json()["id"]
    patched = await harness.http.request(
        "PATCH",
        f"/v1/chats/{channel}",
        content=json.dumps({"description": hostile, "title": hostile + "x"}),
        headers={**owner.headers, "content-type": "application/json"},
    )
    assert patched.status_code < 500, patched.text
    found = await harness.http.get("/v1/channels/hostile_ok", headers=owner.headers)
    assert found.status_code == 200
    searched = await harness.http.get("/v1/channels", params={"q": "T"}, headers=owner.headers)
    assert searched.status_code == 200
