"""Channel frames between server processes: two apps share one PostgreSQL and a Redis channel,
a post made through one reaches a subscriber connected to the other, and only a subscriber.

Needs PostgreSQL and Redis (each skips without its server; ``PAYAM_REQUIRE_POSTGRES=1`` and
``PAYAM_REQUIRE_REDIS=1`` make their absence a failure)."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.api.channel_post_helpers import make_channel, post
from tests.conftest import skip_without_redis
from tests.realtime.conftest import open_socket

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)


async def test_a_post_through_one_process_reaches_a_subscriber_on_the_other(
    make_harness: Any, serve_live: Any
) -> None:
    await skip_without_redis()
    bus = {"event_bus": "redis", "redis_channel": f"payam-test:{secrets.token_hex(6)}"}
    here = await make_harness(**bus)
    there = await make_harness(**bus)
    server = await serve_live(there)
    owner = await here.sign_in("+989121170001", "Owner")
    reader = await here.sign_in("+989121170002", "Reader")
    stranger = await here.sign_in("+989121170003", "Stranger")
    channel = await make_channel(here, owner, subscribers=[reader])
    async with (
        open_socket(server, reader.token) as heard,
        open_socket(server, stranger.token) as deaf,
    ):
        for socket in (heard, deaf):
            await socket.resume(0)
        response = await post(here, owner, channel, "from the other process")
        assert response.status_code == 201, response.text
        frame = await heard.next("channel")
        assert frame == {
            "type": "channel",
            "chat_id": channel,
            "kind": "message_new",
            "message": response.json(),
        }
        # The stranger's process got the same Redis message and sent it to nobody: a frame
        # published after it (an edit) reaches the subscriber, and the stranger only a pong.
        url = f"/v1/chats/{channel}/messages/{response.json()['id']}"
        edited = await here.http.patch(url, json={"text": "edited"}, headers=owner.headers)
        assert edited.status_code == 200, edited.text
        assert (await heard.next("channel"))["kind"] == "message_edited"
        await deaf.send(type="ping")
        assert await deaf.recv() == {"type": "pong"}
