"""Disappearing messages (P5.3): a chat's timer (``PATCH /v1/chats/{id} {"message_ttl"}``), a
user's default for new chats (``PATCH /v1/me {"default_message_ttl"}``), ``expires_at`` on every
message, no answer of any kind for an expired message, and the sweep that removes it as a
deletion for everyone (text, media, files). Time is the harness's FakeClock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from payam.domain.limits import MESSAGE_TTL_MAX_SECONDS, MESSAGE_TTL_MIN_SECONDS
from payam.storage.tables import media, messages
from tests.api.channel_post_helpers import make_channel, post
from tests.api.message_helpers import direct_chat, group_chat, history, people, send, sent
from tests.api.test_admin import make_admin
from tests.api.test_media import everything_on_disk, fetch, uploaded
from tests.api.test_media_messages import marked
from tests.conftest import Account, Harness


async def set_ttl(harness: Harness, who: Account, chat_id: int, ttl: Any) -> Any:
    return await harness.http.patch(
        f"/v1/chats/{chat_id}", json={"message_ttl": ttl}, headers=who.headers
    )


async def chat_of(harness: Harness, who: Account, chat_id: int) -> dict[str, Any]:
    response = await harness.http.get(f"/v1/chats/{chat_id}", headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def updates_of(harness: Harness, who: Account) -> list[dict[str, Any]]:
    response = await harness.http.get("/v1/updates", headers=who.headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["updates"]
    return found


def seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


# --- the timer ------------------------------------------------------------------------------


async def test_either_side_of_a_direct_chat_sets_the_timer_and_both_are_told(
    harness: Harness,
) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await direct_chat(harness, sara, omid)
    assert (await chat_of(harness, omid, chat))["message_ttl"] is None

    assert (await set_ttl(harness, sara, chat, 3600)).status_code == 204
    assert (await chat_of(harness, omid, chat))["message_ttl"] == 3600
    listed = (await harness.http.get("/v1/chats", headers=omid.headers)).json()
    assert [c["message_ttl"] for c in listed if c["id"] == chat] == [3600]
    for who in (sara, omid):
        changes = [u for u in await updates_of(harness, who) if u["kind"] == "chat_updated"]
        assert changes[-1]["chat_id"] == chat
        assert (changes[-1]["message_ttl"], changes[-1]["by"]) == (3600, sara.user_id)

    assert (await set_ttl(harness, omid, chat, None)).status_code == 204
    assert (await chat_of(harness, sara, chat))["message_ttl"] is None
    changes = [u for u in await updates_of(harness, sara) if u["kind"] == "chat_updated"]
    assert (changes[-1]["message_ttl"], changes[-1]["by"]) == (None, omid.user_id)


async def test_in_a_group_only_admins_set_the_timer(harness: Harness) -> None:
    sara, omid, nima = await people(harness, "Sara", "Omid", "Nima")
    chat = await group_chat(harness, sara, [omid])
    refused = await set_ttl(harness, omid, chat, 60)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "not_admin"
    outsider = await set_ttl(harness, nima, chat, 60)
    assert outsider.status_code == 404  # as for a chat that does not exist
    assert (await chat_of(harness, sara, chat))["message_ttl"] is None
    assert (await set_ttl(harness, sara, chat, 60)).status_code == 204
    assert (await chat_of(harness, omid, chat))["message_ttl"] == 60


@pytest.mark.parametrize(
    "bad",
    [MESSAGE_TTL_MIN_SECONDS - 1, MESSAGE_TTL_MAX_SECONDS + 1, 0, -5, "60", True, 60.5],
)
async def test_a_timer_outside_five_seconds_to_a_year_is_422(harness: Harness, bad: Any) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await direct_chat(harness, sara, omid)
    response = await set_ttl(harness, sara, chat, bad)
    assert response.status_code == 422, response.text
    assert (await chat_of(harness, sara, chat))["message_ttl"] is None
    me = await harness.http.patch("/v1/me", json={"default_message_ttl": bad}, headers=sara.headers)
    assert me.status_code == 422, me.text


async def test_the_limits_themselves_are_accepted(harness: Harness) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await direct_chat(harness, sara, omid)
    for ttl in (MESSAGE_TTL_MIN_SECONDS, MESSAGE_TTL_MAX_SECONDS):
        assert (await set_ttl(harness, sara, chat, ttl)).status_code == 204
        assert (await chat_of(harness, sara, chat))["message_ttl"] == ttl


async def test_a_users_default_is_given_to_the_chats_they_create(harness: Harness) -> None:
    sara, omid, nima = await people(harness, "Sara", "Omid", "Nima")
    response = await harness.http.patch(
        "/v1/me", json={"default_message_ttl": 86400}, headers=sara.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["default_message_ttl"] == 86400
    me = (await harness.http.get("/v1/me", headers=sara.headers)).json()
    assert me["default_message_ttl"] == 86400
    assert me["name"] == "Sara"  # the other fields are left as they were

    created = await harness.http.post(
        "/v1/chats",
        json={"type": "group", "title": "G", "member_ids": [omid.user_id]},
        headers=sara.headers,
    )
    assert created.json()["message_ttl"] == 86400
    group = created.json()["id"]
    assert (await chat_of(harness, omid, group))["message_ttl"] == 86400
    direct = await direct_chat(harness, sara, omid)
    assert (await chat_of(harness, omid, direct))["message_ttl"] == 86400
    # Omid has no default: the chat he creates has no timer.
    other = await direct_chat(harness, omid, nima)
    assert (await chat_of(harness, omid, other))["message_ttl"] is None

    off = await harness.http.patch(
        "/v1/me", json={"default_message_ttl": None}, headers=sara.headers
    )
    assert off.json()["default_message_ttl"] is None
    later = await group_chat(harness, sara, [nima])
    assert (await chat_of(harness, sara, later))["message_ttl"] is None
    assert (await chat_of(harness, sara, group))["message_ttl"] == 86400  # unchanged


# --- expires_at -----------------------------------------------------------------------------


async def test_expires_at_is_fixed_when_the_message_is_stored(harness: Harness) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await direct_chat(harness, sara, omid)
    plain = await sent(harness, sara, chat, "stays")
    assert plain["expires_at"] is None
    await set_ttl(harness, sara, chat, 600)
    timed = await sent(harness, sara, chat, "goes")
    assert seconds(timed["expires_at"]) == pytest.approx(seconds(timed["created_at"]) + 600)
    # Changing the timer changes no stored message.
    await set_ttl(harness, omid, chat, 30)
    harness.clock.advance(10)
    shown = {m["text"]: m for m in await history(harness, omid, chat)}
    assert shown["goes"]["expires_at"] == timed["expires_at"]
    assert shown["stays"]["expires_at"] is None
    quick = await sent(harness, omid, chat, "quick")
    assert seconds(quick["expires_at"]) == pytest.approx(seconds(quick["created_at"]) + 30)
    # And so do the updates and the search.
    replayed = [u["message"] for u in await updates_of(harness, omid) if u.get("message")]
    assert {m["text"]: m["expires_at"] for m in replayed}["goes"] == timed["expires_at"]
    found = await harness.http.get("/v1/search", params={"q": "goes"}, headers=sara.headers)
    assert found.json()["messages"][0]["expires_at"] == timed["expires_at"]


async def test_an_expired_message_is_answered_by_no_route(harness: Harness) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await direct_chat(harness, sara, omid)
    kept = await sent(harness, sara, chat, "kept words")
    await set_ttl(harness, sara, chat, 60)
    gone = await sent(harness, sara, chat, "vanishing words")
    assert (await chat_of(harness, omid, chat))["unread_count"] == 2

    harness.clock.advance(59)
    assert "vanishing words" in [m["text"] for m in await history(harness, omid, chat)]
    harness.clock.advance(1)  # expires_at itself: gone

    for who in (sara, omid):
        assert [m["text"] for m in await history(harness, who, chat)] == ["kept words"]
        found = await harness.http.get("/v1/search", params={"q": "words"}, headers=who.headers)
        assert [m["id"] for m in found.json()["messages"]] == [kept["id"]]
        listed = (await harness.http.get("/v1/chats", headers=who.headers)).json()
        assert [c["last_message"] for c in listed if c["id"] == chat] == [None]
        assert "vanishing" not in str(await updates_of(harness, who))
    assert (await chat_of(harness, omid, chat))["unread_count"] == 1

    # Nothing can be done with it either: it is as missing as a message that never was.
    forward = await send(harness, omid, chat, None, forward_of=gone["id"])
    assert forward.status_code == 404
    assert forward.json()["error"]["code"] == "message_not_found"
    reply = await send(harness, omid, chat, "answer", reply_to=gone["id"])
    assert reply.status_code == 422
    assert reply.json()["error"]["code"] == "invalid_reply_to"
    edit = await harness.http.patch(
        f"/v1/chats/{chat}/messages/{gone['id']}", json={"text": "back"}, headers=sara.headers
    )
    assert edit.status_code == 404
    retry = await send(harness, sara, chat, "vanishing words", client_id=gone["client_id"])
    assert retry.headers["Idempotent-Replayed"] == "true"  # stored once, but not shown
    assert retry.json()["id"] == gone["id"]
    assert retry.json()["text"] is None
    export = await harness.services.export.collect(sara.user_id)
    assert "vanishing" not in str(export)
    assert "kept words" in str(export)


async def test_a_file_carried_by_an_expired_message_is_not_served(harness: Harness) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await direct_chat(harness, sara, omid)
    await set_ttl(harness, sara, chat, 30)
    upload = await uploaded(
        harness, sara, marked("ttl"), filename="doc.pdf", content_type="application/pdf"
    )
    response = await send(harness, sara, chat, None, media_ids=[upload["id"]])
    assert response.status_code == 201, response.text
    assert (await fetch(harness, omid, upload["id"])).status_code == 200
    harness.clock.advance(30)
    for who in (omid, sara):  # the uploader too: the only message carrying it is gone
        assert (await fetch(harness, who, upload["id"])).status_code == 404


async def test_the_sweep_removes_an_expired_message_as_a_deletion_for_everyone(
    harness: Harness,
) -> None:
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await direct_chat(harness, sara, omid)
    await set_ttl(harness, sara, chat, 30)
    upload = await uploaded(
        harness, sara, marked("sweep"), filename="doc.pdf", content_type="application/pdf"
    )
    carrying = await send(harness, sara, chat, "with a file", media_ids=[upload["id"]])
    assert carrying.status_code == 201
    text_only = await sent(harness, omid, chat, "secret canary words")
    harness.clock.advance(20)
    later = await sent(harness, omid, chat, "not yet")  # expires 20 s after the others
    assert b"PAYAM-CANARY-sweep" in everything_on_disk(harness)

    assert await harness.services.ttl.expire() == 0  # nothing is due yet
    harness.clock.advance(10)
    removed = await harness.services.maintenance.prune()
    assert removed["expired_messages"] == 2

    async with harness.services.db.read() as conn:
        rows = {
            r.id: r
            for r in await conn.execute(
                select(messages.c.id, messages.c.text, messages.c.deleted_at)
            )
        }
        media_left = (await conn.execute(select(media.c.id))).all()
    for mid in (carrying.json()["id"], text_only["id"]):
        assert rows[mid].text is None
        assert rows[mid].deleted_at is not None
    assert rows[later["id"]].text == "not yet"
    assert media_left == []
    assert b"PAYAM-CANARY-sweep" not in everything_on_disk(harness)
    # Still answered by nothing once removed (not even as a tombstone).
    assert [m["text"] for m in await history(harness, omid, chat)] == ["not yet"]

    harness.clock.advance(20)
    assert await harness.services.ttl.expire() == 1
    assert await history(harness, omid, chat) == []


async def test_a_reported_message_that_expired_is_not_shown_to_moderators(
    harness: Harness,
) -> None:
    admin = await make_admin(harness)
    sara, omid = await people(harness, "Sara", "Omid")
    chat = await group_chat(harness, sara, [omid])
    await set_ttl(harness, sara, chat, 60)
    rude = await sent(harness, sara, chat, "rude words")
    late = await sent(harness, sara, chat, "more rude words")
    report = await harness.http.post(
        f"/v1/chats/{chat}/messages/{rude['id']}/report",
        json={"reason": "rude"},
        headers=omid.headers,
    )
    assert report.status_code == 201, report.text
    listed = await harness.http.get("/v1/admin/reports", headers=admin.headers)
    assert [r["message_text"] for r in listed.json()] == ["rude words"]

    harness.clock.advance(60)
    listed = await harness.http.get("/v1/admin/reports", headers=admin.headers)
    assert [r["message_text"] for r in listed.json()] == [None]  # the report stays, the text not
    too_late = await harness.http.post(
        f"/v1/chats/{chat}/messages/{late['id']}/report",
        json={"reason": "rude"},
        headers=omid.headers,
    )
    assert too_late.status_code == 404


async def test_in_a_channel_admins_set_the_timer_and_its_posts_disappear_for_every_reader(
    harness: Harness,
) -> None:
    owner, admin, reader, passer = await people(harness, "Owner", "Admin", "Reader", "Passer")
    channel = await make_channel(harness, owner, admins=[admin], subscribers=[reader])
    refused = await set_ttl(harness, reader, channel, 60)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "not_admin"
    assert (await set_ttl(harness, passer, channel, 60)).status_code == 404  # not subscribed
    assert (await set_ttl(harness, admin, channel, 60)).status_code == 204
    assert (await chat_of(harness, passer, channel))["message_ttl"] == 60  # public

    posted = await post(harness, owner, channel, "a post that goes")
    assert posted.status_code == 201, posted.text
    assert posted.json()["expires_at"] is not None
    assert (await chat_of(harness, reader, channel))["unread_count"] == 1
    harness.clock.advance(60)
    for who in (owner, reader, passer):
        shown = await harness.http.get(f"/v1/chats/{channel}/messages", headers=who.headers)
        assert shown.json()["messages"] == []
    assert (await chat_of(harness, reader, channel))["unread_count"] == 0
