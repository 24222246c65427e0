"""Live delivery of channel posts over real sockets (issue 4; P5.1).

A post writes no update for anyone, so it is not in the seq stream: the gateway sends a
``channel`` frame to every connection of a subscriber it holds, and to nobody else. Absence is
shown the way conftest.py says: a ``ping`` after the post is answered with ``pong``, and the
outbox is sent in order, so a channel frame queued for that socket would have come first.
"""

from __future__ import annotations

from typing import Any

from payam.realtime.gateway import Gateway
from tests.api.channel_post_helpers import make_channel, post, subscribe, unsubscribe
from tests.conftest import Account, Harness, LiveServer
from tests.realtime.conftest import Socket, open_socket, sqlite_only

pytestmark = sqlite_only


async def go_live(socket: Socket, harness: Harness, who: Account) -> None:
    """Resume to the newest update, so the socket is LIVE."""
    response = await harness.http.get("/v1/updates?after=0&limit=1", headers=who.headers)
    await socket.resume(response.json()["last_seq"])


async def nothing_pending(socket: Socket) -> None:
    """No channel frame is queued for this socket: the next frame is the pong."""
    await socket.send(type="ping")
    frame = await socket.recv()
    assert frame == {"type": "pong"}, frame


async def test_a_subscriber_hears_a_post_live_and_a_stranger_does_not(
    live_server: LiveServer,
) -> None:
    harness = live_server.harness
    owner = await harness.sign_in("+989121110001", "Owner")
    reader = await harness.sign_in("+989121110002", "Reader")
    stranger = await harness.sign_in("+989121110003", "Stranger")
    channel = await make_channel(harness, owner, subscribers=[reader])
    async with (
        open_socket(live_server, reader.token) as heard,
        open_socket(live_server, reader.token) as second_device,
        open_socket(live_server, stranger.token) as deaf,
    ):
        for socket, who in ((heard, reader), (second_device, reader), (deaf, stranger)):
            await go_live(socket, harness, who)
        response = await post(harness, owner, channel, "breaking news")
        assert response.status_code == 201, response.text
        expected = {
            "type": "channel",
            "chat_id": channel,
            "kind": "message_new",
            "message": response.json(),
        }
        assert await heard.next("channel") == expected
        assert await second_device.next("channel") == expected
        await nothing_pending(deaf)
        # The stranger reads it from the history instead (channels are public).
        shown = await harness.http.get(
            f"/v1/chats/{channel}/messages?after=0", headers=stranger.headers
        )
        assert [m["text"] for m in shown.json()["messages"]] == ["breaking news"]
        # No update was made for the post: the subscriber's seq stream did not move.
        assert not [f for f in heard.skipped if f["type"] == "update"]


async def test_edits_and_deletions_reach_subscribers_as_channel_frames(
    live_server: LiveServer,
) -> None:
    harness = live_server.harness
    owner = await harness.sign_in("+989121120001", "Owner")
    reader = await harness.sign_in("+989121120002", "Reader")
    channel = await make_channel(harness, owner, subscribers=[reader])
    posted = (await post(harness, owner, channel, "first take")).json()
    async with open_socket(live_server, reader.token) as heard:
        await go_live(heard, harness, reader)
        url = f"/v1/chats/{channel}/messages/{posted['id']}"
        edited = await harness.http.patch(url, json={"text": "second take"}, headers=owner.headers)
        assert edited.status_code == 200, edited.text
        frame = await heard.next("channel")
        assert (frame["kind"], frame["message"]) == ("message_edited", edited.json())
        deleted = await harness.http.delete(f"{url}?for=everyone", headers=owner.headers)
        assert deleted.status_code == 204
        frame = await heard.next("channel")
        assert frame["kind"] == "message_deleted"
        assert frame["message"] == {
            "id": posted["id"],
            "chat_id": channel,
            "seq": posted["seq"],
            "deleted": True,
            "text": None,
        }


async def test_a_socket_that_subscribes_after_connecting_hears_the_next_post(
    live_server: LiveServer,
) -> None:
    harness = live_server.harness
    owner = await harness.sign_in("+989121130001", "Owner")
    late = await harness.sign_in("+989121130002", "Late")
    channel = await make_channel(harness, owner)
    async with open_socket(live_server, late.token) as socket:
        await go_live(socket, harness, late)
        assert (await post(harness, owner, channel, "before joining")).status_code == 201
        await nothing_pending(socket)
        await subscribe(harness, late, channel)
        joined = await socket.next("update")
        assert (joined["kind"], joined["chat_id"]) == ("chat_new", channel)
        response = await post(harness, owner, channel, "after joining")
        frame = await socket.next("channel")
        assert frame["message"] == response.json()


async def test_a_socket_whose_user_left_hears_no_more_posts(live_server: LiveServer) -> None:
    harness = live_server.harness
    owner = await harness.sign_in("+989121140001", "Owner")
    leaver = await harness.sign_in("+989121140002", "Leaver")
    channel = await make_channel(harness, owner, subscribers=[leaver])
    gateway: Gateway = harness.app.state.gateway
    async with open_socket(live_server, leaver.token) as socket:
        await go_live(socket, harness, leaver)
        assert (await post(harness, owner, channel, "still here")).status_code == 201
        assert (await socket.next("channel"))["message"]["text"] == "still here"
        await unsubscribe(harness, leaver, channel)
        removed = await socket.next("update")
        assert (removed["kind"], removed["chat_id"]) == ("chat_removed", channel)
        assert (await post(harness, owner, channel, "gone")).status_code == 201
        await nothing_pending(socket)
    # Closed sockets leave the index.
    assert gateway.channel_index.listeners(channel) == set()


async def test_admins_post_over_the_websocket_and_subscribers_are_refused(
    live_server: LiveServer,
) -> None:
    harness = live_server.harness
    owner = await harness.sign_in("+989121150001", "Owner")
    reader = await harness.sign_in("+989121150002", "Reader")
    channel = await make_channel(harness, owner, subscribers=[reader])
    async with (
        open_socket(live_server, owner.token) as admin_socket,
        open_socket(live_server, reader.token) as reader_socket,
    ):
        await go_live(admin_socket, harness, owner)
        await go_live(reader_socket, harness, reader)
        await admin_socket.send(type="send", chat_id=channel, client_id="ws-post", text="live")
        # The poster's socket gets the ack, and the frame as every subscriber's does.
        frames: dict[str, dict[str, Any]] = {}
        while len(frames) < 2:
            frame = await admin_socket.recv()
            frames[frame["type"]] = frame
        ack = frames["ack"]
        assert ack["created"] is True
        assert ack["message"]["views"] == 0
        assert frames["channel"]["message"] == ack["message"]
        assert (await reader_socket.next("channel"))["message"] == ack["message"]
        await reader_socket.send(type="send", chat_id=channel, client_id="ws-no", text="me too")
        error = await reader_socket.next("error")
        assert (error["client_id"], error["error"]["code"]) == ("ws-no", "not_admin")
        # Subscribers never see each other: typing is not passed on in a channel.
        await reader_socket.send(type="typing", chat_id=channel)
        refused = await reader_socket.next("error")
        assert refused["error"]["code"] == "not_for_channels"
        await nothing_pending(admin_socket)
    shown = await harness.http.get(f"/v1/chats/{channel}/messages", headers=reader.headers)
    assert [m["text"] for m in shown.json()["messages"]] == ["live"]


async def test_joining_and_leaving_through_the_routes_start_and_stop_the_frames(
    live_server: LiveServer,
) -> None:
    """The same with the channel routes (create, join, leave) instead of the storage layer."""
    harness = live_server.harness
    owner = await harness.sign_in("+989121160001", "Owner")
    reader = await harness.sign_in("+989121160002", "Reader")
    created = await harness.http.post(
        "/v1/chats",
        json={"type": "channel", "title": "Routes", "handle": "routes_news"},
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    channel = created.json()["id"]
    async with (
        open_socket(live_server, owner.token) as owner_socket,
        open_socket(live_server, reader.token) as socket,
    ):
        await go_live(owner_socket, harness, owner)
        await go_live(socket, harness, reader)
        joined = await harness.http.post(f"/v1/chats/{channel}/join", headers=reader.headers)
        assert joined.status_code in {200, 201}, joined.text
        assert (await socket.next("update"))["kind"] == "chat_new"
        response = await post(harness, owner, channel, "for subscribers")
        assert (await socket.next("channel"))["message"] == response.json()
        # The owner's socket found the channel among theirs when it opened.
        assert (await owner_socket.next("channel"))["message"] == response.json()
        left = await harness.http.delete(f"/v1/chats/{channel}", headers=reader.headers)
        assert left.status_code == 204, left.text
        assert (await socket.next("update"))["kind"] == "chat_removed"
        assert (await post(harness, owner, channel, "after leaving")).status_code == 201
        await nothing_pending(socket)
