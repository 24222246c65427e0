"""Posting to channels through the message routes (issue 4; P5.1, P5.3, P9.1, P10.1).

Owners and admins post; anyone signed in reads the posts without subscribing. A post costs the
same with 5 or 500 subscribers: it writes no update row for anyone (fan-out on read), and the
statements of its batch do not depend on how many subscribe. Edits by the author, deletions by
the author or an admin, both without per-subscriber rows; deletion removes the text for good.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from payam.domain.errors import Forbidden
from payam.domain.models import Caller
from payam.storage import chats as chat_store
from payam.storage.tables import messages
from tests.api.channel_post_helpers import (
    history,
    make_channel,
    post,
    recording,
    update_rows,
)
from tests.api.message_helpers import direct_chat, group_chat, people, send
from tests.conftest import Account, Harness


def code(response: Any) -> str:
    found: str = response.json()["error"]["code"]
    return found


async def stored(harness: Harness, chat_id: int) -> list[Any]:
    async with harness.services.db.read() as conn:
        rows = await conn.execute(
            select(messages.c.id, messages.c.text, messages.c.views, messages.c.forwards)
            .where(messages.c.chat_id == chat_id)
            .order_by(messages.c.seq)
        )
        return list(rows)


async def updates_of(harness: Harness, who: Account) -> list[dict[str, Any]]:
    response = await harness.http.get("/v1/updates?after=0&limit=1000", headers=who.headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["updates"]
    return found


async def test_an_admin_posts_and_anyone_signed_in_reads_the_posts(harness: Harness) -> None:
    owner, admin, reader, stranger = await people(harness, "Owner", "Admin", "Reader", "Stranger")
    channel = await make_channel(harness, owner, admins=[admin], subscribers=[reader])
    first = await post(harness, owner, channel, "first post")
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["seq"], body["text"], body["views"], body["forwards"]) == (1, "first post", 0, 0)
    # A post speaks for the channel: readers do not learn which admin wrote it.
    assert body["sender_id"] is None
    second = await post(harness, admin, channel, "second post")
    assert second.status_code == 201, second.text
    for who in (reader, stranger, owner):  # the stranger never subscribed: channels are public
        response = await history(harness, who, channel)
        assert response.status_code == 200, response.text
        shown = response.json()["messages"]
        assert [(m["seq"], m["text"], m["views"], m["forwards"]) for m in shown] == [
            (1, "first post", 0, 0),
            (2, "second post", 0, 0),
        ]
    # A gap in the channel's seq is read with ``after``.
    after = await history(harness, stranger, channel, after=1)
    assert [m["text"] for m in after.json()["messages"]] == ["second post"]
    # Messages elsewhere carry no channel counters.
    direct = await direct_chat(harness, owner, reader)
    plain = (await send(harness, owner, direct, "hi")).json()
    assert "views" not in plain and "forwards" not in plain


async def test_a_subscriber_or_a_stranger_cannot_post_and_nothing_is_stored(
    harness: Harness,
) -> None:
    owner, reader, stranger = await people(harness, "Owner", "Reader", "Stranger")
    channel = await make_channel(harness, owner, subscribers=[reader])
    assert (await post(harness, owner, channel, "from the owner")).status_code == 201
    for who in (reader, stranger):
        response = await post(harness, who, channel, "not allowed")
        assert response.status_code == 403, response.text
        assert code(response) == "not_admin"
    # Over the WebSocket's door too: the same service refuses it.
    caller = Caller(user_id=reader.user_id, device_id=reader.device_id)
    with pytest.raises(Forbidden) as refused:
        await harness.services.messages.send(caller, channel, client_id="ws-1", text="nope")
    assert refused.value.code == "not_admin"
    assert [row.text for row in await stored(harness, channel)] == ["from the owner"]
    shown = (await history(harness, stranger, channel)).json()["messages"]
    assert [m["seq"] for m in shown] == [1]


async def test_a_chat_that_does_not_exist_is_still_404(harness: Harness) -> None:
    (someone,) = await people(harness, "Someone")
    response = await post(harness, someone, 987654, "anyone there?")
    assert response.status_code == 404
    assert code(response) == "chat_not_found"
    assert (await history(harness, someone, 987654)).status_code == 404


async def test_a_post_writes_no_update_rows_for_its_subscribers(harness: Harness) -> None:
    """Decided: not even for the poster. The poster's other devices hear of the post as every
    subscriber does (a live channel frame, or the channel's history)."""
    owner, reader = await people(harness, "Owner", "Reader")
    channel = await make_channel(harness, owner, subscribers=[reader], extra_subscribers=49)
    before = await update_rows(harness)
    reader_before = await updates_of(harness, reader)
    for n in range(3):
        assert (await post(harness, owner, channel, f"post {n}")).status_code == 201
    assert await update_rows(harness) == before
    assert await updates_of(harness, reader) == reader_before
    # A group of 50 does write a row per member per message: the count above can tell.
    group = await group_chat(harness, owner, [reader])
    assert (await send(harness, owner, group, "to the group")).status_code == 201
    assert await update_rows(harness) == before + 2 + 2  # chat_new and message_new, each


async def test_the_statements_of_a_post_do_not_depend_on_the_number_of_subscribers(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    (owner,) = await people(harness, "Owner")
    small = await make_channel(harness, owner, extra_subscribers=5)
    large = await make_channel(harness, owner, extra_subscribers=500)
    caller = Caller(user_id=owner.user_id, device_id=owner.device_id)
    # Whose members are read in full (a result size the statement log cannot show).
    read_in_full: list[int] = []
    member_ids_of = chat_store.member_ids_of

    async def spy(conn: Any, chat_ids: Any) -> dict[int, list[int]]:
        chat_ids = list(chat_ids)
        read_in_full.extend(chat_ids)
        return await member_ids_of(conn, chat_ids)

    monkeypatch.setattr(chat_store, "member_ids_of", spy)
    sent: dict[int, list[tuple[str, int, int]]] = {}
    for channel in (small, large):
        # One warm-up post each, so both measured posts take the same path (not the first).
        await harness.services.messages.send(caller, channel, client_id=f"w{channel}", text="w")
        with recording(harness) as seen:
            done = await harness.services.messages.send(
                caller, channel, client_id=f"m{channel}", text="measured"
            )
        assert done.created
        sent[channel] = seen.without("access_log")
    assert sent[small], "nothing was recorded: the listener sees no statement"
    # The same statements, each with as many rows and values: nothing per subscriber.
    assert sent[small] == sent[large]
    assert small not in read_in_full
    assert large not in read_in_full


async def test_the_author_edits_a_post_and_nobody_else_does(harness: Harness) -> None:
    owner, admin, reader, stranger = await people(harness, "Owner", "Admin", "Reader", "Stranger")
    channel = await make_channel(harness, owner, admins=[admin], subscribers=[reader])
    posted = (await post(harness, owner, channel, "with a typo")).json()
    before = await update_rows(harness)
    url = f"/v1/chats/{channel}/messages/{posted['id']}"
    for who, expected in ((admin, 403), (reader, 403), (stranger, 404)):
        response = await harness.http.patch(url, json={"text": "hijacked"}, headers=who.headers)
        assert response.status_code == expected, (who.name, response.text)
    response = await harness.http.patch(url, json={"text": "without one"}, headers=owner.headers)
    assert response.status_code == 200, response.text
    assert response.json()["edited"] is True
    assert response.json()["views"] == 0
    shown = (await history(harness, stranger, channel)).json()["messages"]
    assert [(m["text"], m["edited"]) for m in shown] == [("without one", True)]
    assert await update_rows(harness) == before


async def test_the_author_or_an_admin_deletes_a_post_for_everyone_for_good(
    harness: Harness,
) -> None:
    owner, admin, reader, stranger = await people(harness, "Owner", "Admin", "Reader", "Stranger")
    channel = await make_channel(harness, owner, admins=[admin], subscribers=[reader])
    secret = "a post that will be deleted: 7f3a9c2e51"
    posted = (await post(harness, owner, channel, secret)).json()
    kept = (await post(harness, owner, channel, "a post that stays")).json()
    before = await update_rows(harness)
    url = f"/v1/chats/{channel}/messages/{posted['id']}?for=everyone"
    refused = await harness.http.delete(url, headers=reader.headers)
    assert refused.status_code == 403
    assert code(refused) == "not_allowed"
    assert (await harness.http.delete(url, headers=stranger.headers)).status_code == 404
    assert (await history(harness, stranger, channel)).json()["messages"][0]["text"] == secret
    # An admin who did not write it may delete it.
    assert (await harness.http.delete(url, headers=admin.headers)).status_code == 204
    assert (await harness.http.delete(url, headers=admin.headers)).status_code == 204  # again
    shown = (await history(harness, stranger, channel)).json()["messages"]
    assert [(m["id"], m["deleted"], m["text"]) for m in shown] == [
        (posted["id"], True, None),
        (kept["id"], False, "a post that stays"),
    ]
    assert [row.text for row in await stored(harness, channel)] == [None, "a post that stays"]
    assert await update_rows(harness) == before
    search = await harness.http.get("/v1/search", params={"q": "7f3a9c2e51"}, headers=owner.headers)
    assert search.json()["messages"] == []
    # P5.3: not in the database files either, once purged (SQLite; PostgreSQL: docs/privacy.md).
    if harness.services.db.is_sqlite:
        assert await harness.services.purge.run()
        database = Path(str(make_url(harness.settings.database_url).database))
        files = [p for p in database.parent.glob(database.name + "*") if p.is_file()]
        assert files
        assert not any(b"7f3a9c2e51" in p.read_bytes() for p in files)
        assert any(b"a post that stays" in p.read_bytes() for p in files)
    # Editing a deleted post cannot bring it back.
    edit = await harness.http.patch(
        f"/v1/chats/{channel}/messages/{posted['id']}", json={"text": "back"}, headers=owner.headers
    )
    assert edit.status_code == 404


async def test_anyone_may_forward_a_post_and_its_forward_count_goes_up(harness: Harness) -> None:
    owner, reader, stranger, friend = await people(harness, "Owner", "Reader", "Stranger", "Friend")
    channel = await make_channel(harness, owner, subscribers=[reader])
    original = (await post(harness, owner, channel, "worth sharing")).json()
    elsewhere = await direct_chat(harness, stranger, friend)
    other = await direct_chat(harness, reader, friend)
    forwarded = await send(harness, stranger, elsewhere, None, forward_of=original["id"])
    assert forwarded.status_code == 201, forwarded.text
    copy = forwarded.json()
    assert (copy["text"], copy["forward_of"]) == ("worth sharing", original["id"])
    assert copy["forward_from_user_id"] is None  # the post leads to its channel, not its admin
    assert "forwards" not in copy  # the copy in a direct chat is not a channel post
    # Several at once (likely one batch: one UPDATE whatever their number), all counted.
    sends = [send(harness, reader, other, None, forward_of=original["id"]) for _ in range(5)]
    assert all(r.status_code == 201 for r in await asyncio.gather(*sends))
    shown = (await history(harness, stranger, channel)).json()["messages"]
    assert shown[0]["forwards"] == 6
    assert [row.forwards for row in await stored(harness, channel)] == [6]
    # Forwarding a channel post into the channel itself is a post: admins only.
    assert (await send(harness, owner, channel, None, forward_of=original["id"])).status_code == 201
    assert (
        await send(harness, reader, channel, None, forward_of=original["id"])
    ).status_code == 403


async def test_a_deleted_post_cannot_be_forwarded(harness: Harness) -> None:
    owner, stranger, friend = await people(harness, "Owner", "Stranger", "Friend")
    channel = await make_channel(harness, owner)
    original = (await post(harness, owner, channel, "soon gone")).json()
    url = f"/v1/chats/{channel}/messages/{original['id']}?for=everyone"
    assert (await harness.http.delete(url, headers=owner.headers)).status_code == 204
    elsewhere = await direct_chat(harness, stranger, friend)
    response = await send(harness, stranger, elsewhere, None, forward_of=original["id"])
    assert response.status_code == 404
    assert code(response) == "message_not_found"


async def test_forwarding_stays_closed_for_groups_a_stranger_is_not_in(harness: Harness) -> None:
    owner, member, stranger = await people(harness, "Owner", "Member", "Stranger")
    group = await group_chat(harness, owner, [member])
    private = (await send(harness, owner, group, "members only")).json()
    elsewhere = await direct_chat(harness, stranger, owner)
    response = await send(harness, stranger, elsewhere, None, forward_of=private["id"])
    assert response.status_code == 404


async def test_unread_counts_come_from_the_read_marker_and_receipts_go_nowhere(
    harness: Harness,
) -> None:
    owner, reader, stranger = await people(harness, "Owner", "Reader", "Stranger")
    channel = await make_channel(harness, owner, subscribers=[reader])
    for n in range(3):
        assert (await post(harness, owner, channel, f"post {n}")).status_code == 201

    async def unread(who: Account) -> int:
        response = await harness.http.get("/v1/chats", headers=who.headers)
        (mine,) = [c for c in response.json() if c["id"] == channel]
        count: int = mine["unread_count"]
        return count

    assert await unread(reader) == 3
    assert await unread(owner) == 0  # one's own posts are read
    owner_updates = await updates_of(harness, owner)
    response = await harness.http.post(
        f"/v1/chats/{channel}/read", json={"seq": 2}, headers=reader.headers
    )
    assert response.json() == {"read_seq": 2}
    assert await unread(reader) == 1
    # The reader's own devices learn the marker moved; nobody else hears of it.
    reads = [u for u in await updates_of(harness, reader) if u["kind"] == "read"]
    assert [(u["chat_id"], u["read_seq"]) for u in reads] == [(channel, 2)]
    assert await updates_of(harness, owner) == owner_updates
    # A stranger has no marker to move.
    refused = await harness.http.post(
        f"/v1/chats/{channel}/read", json={"seq": 2}, headers=stranger.headers
    )
    assert refused.status_code == 403
    assert code(refused) == "not_subscribed"


async def test_a_subscriber_hides_a_post_for_themself_alone(harness: Harness) -> None:
    owner, reader, other = await people(harness, "Owner", "Reader", "Other")
    channel = await make_channel(harness, owner, subscribers=[reader, other])
    posted = (await post(harness, owner, channel, "not for me")).json()
    url = f"/v1/chats/{channel}/messages/{posted['id']}?for=me"
    assert (await harness.http.delete(url, headers=reader.headers)).status_code == 204
    assert (await history(harness, reader, channel)).json()["messages"] == []
    for who in (owner, other):
        shown = (await history(harness, who, channel)).json()["messages"]
        assert [m["text"] for m in shown] == ["not for me"]
    hidden = [u for u in await updates_of(harness, reader) if u["kind"] == "message_hidden"]
    assert [u["message"]["id"] for u in hidden] == [posted["id"]]
    assert not [u for u in await updates_of(harness, other) if u["kind"] == "message_hidden"]


async def test_a_reply_in_a_channel_must_be_to_a_post_of_that_channel(harness: Harness) -> None:
    owner, friend = await people(harness, "Owner", "Friend")
    channel = await make_channel(harness, owner)
    first = (await post(harness, owner, channel, "part one")).json()
    reply = await post(harness, owner, channel, "part two", reply_to=first["id"])
    assert reply.status_code == 201, reply.text
    assert reply.json()["reply_to"] == first["id"]
    elsewhere = await direct_chat(harness, owner, friend)
    private = (await send(harness, owner, elsewhere, "private")).json()
    refused = await post(harness, owner, channel, "leak", reply_to=private["id"])
    assert refused.status_code == 422
    assert code(refused) == "invalid_reply_to"


async def test_a_post_shows_nothing_that_tells_its_admins_apart(harness: Harness) -> None:
    """P5.1: readers do not see a channel's staff. Neither the client_id an admin's device
    chose nor the admin as the author of a message of their own forwarded into the channel
    says who posted; a forward of someone else's message still names its author."""
    owner, admin, friend, reader = await people(harness, "Owner", "Admin", "Friend", "Reader")
    channel = await make_channel(harness, owner, admins=[admin])
    chat = await direct_chat(harness, admin, friend)
    own = (await send(harness, admin, chat, "my own words", client_id="admin-phone-7")).json()
    theirs = (await send(harness, friend, chat, "a friend's words")).json()
    assert (await post(harness, admin, channel, "plain post")).status_code == 201
    assert (await post(harness, admin, channel, None, forward_of=own["id"])).status_code == 201
    assert (await post(harness, admin, channel, None, forward_of=theirs["id"])).status_code == 201
    shown = (await history(harness, reader, channel)).json()["messages"]
    assert [m["text"] for m in shown] == ["plain post", "my own words", "a friend's words"]
    assert [m["client_id"] for m in shown] == [None, None, None]
    assert [m["sender_id"] for m in shown] == [None, None, None]
    assert [m["forward_from_user_id"] for m in shown] == [None, None, friend.user_id]
