"""Disappearing messages over the WebSocket (P5.3): the ``ack`` and the live ``message_new``
carry ``expires_at``, the timer's change arrives as a ``chat_updated`` frame, and a resume after
the message expired replays its update without the message."""

from __future__ import annotations

from tests.realtime.conftest import Chatters, open_socket, sqlite_only


@sqlite_only
async def test_frames_carry_expires_at_and_a_resume_after_expiry_shows_no_message(
    chatters: Chatters,
) -> None:
    c = chatters
    async with (
        open_socket(c.server, c.ali.token) as ali,
        open_socket(c.server, c.bita.token) as bita,
    ):
        _, ali_seq = await ali.resume(0)
        _, bita_seq = await bita.resume(0)
        response = await c.harness.http.patch(
            f"/v1/chats/{c.direct_id}", json={"message_ttl": 30}, headers=c.bita.headers
        )
        assert response.status_code == 204
        changed = (await ali.updates_until(ali_seq + 1))[-1]
        assert (changed["kind"], changed["message_ttl"], changed["by"]) == (
            "chat_updated",
            30,
            c.bita.user_id,
        )

        await ali.send(type="send", chat_id=c.direct_id, client_id="ttl-1", text="soon gone")
        ack = await ali.next("ack")
        assert ack["message"]["expires_at"] is not None
        live = [u for u in await bita.updates_until(bita_seq + 2) if u["kind"] == "message_new"]
        assert live[-1]["message"]["expires_at"] == ack["message"]["expires_at"]

    c.harness.clock.advance(30)
    async with open_socket(c.server, c.bita.token) as bita:
        replayed, _ = await bita.resume(bita_seq)
        news = [u for u in replayed if u["kind"] == "message_new"]
        assert len(news) == 1
        assert news[0].get("message") is None
        assert "soon gone" not in str(replayed)
